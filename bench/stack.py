"""The system under test, all of it the benchmark's own: a scratch directory, a key file, a
fresh database (a new PostgreSQL database ``ehcmpi_bench_<random>`` or a new SQLite file), a
TOML configuration, and the real ``ehcmpi serve`` process on free ports.

Nothing here touches a user's data: the PostgreSQL database is created with a random name and
dropped at the end (also after an error or Ctrl-C), and the SQLite file and key file live in a
temporary directory that is removed.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import psycopg

BENCH_DIR = pathlib.Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


def ehcmpi_command() -> list[str]:
    """The ``ehcmpi`` console script of this interpreter's environment."""
    script = pathlib.Path(sys.executable).with_name("ehcmpi")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ehcmpi.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def scratch_dir() -> Iterator[pathlib.Path]:
    path = pathlib.Path(tempfile.mkdtemp(prefix="ehcmpi-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """A new, empty database on ``server`` (``postgresql://user@host:port``), dropped after."""
    name = f"ehcmpi_bench_{secrets.token_hex(5)}"
    with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Backend:
    name: str  # "postgresql" | "sqlite"
    url: str
    key_file: pathlib.Path
    workdir: pathlib.Path

    def config(
        self, http_port: int, *, http_workers: int = 1, mllp_port: int = 0, extra: str = ""
    ) -> pathlib.Path:
        """A TOML configuration for this database, HTTP on ``http_port``, MLLP on
        ``mllp_port`` (0: any port), ``extra`` TOML (say ``[[identifier_domains]]``) appended."""
        path = self.workdir / f"ehcmpi-{http_port}.toml"
        path.write_text(
            "[server]\n"
            'http_host = "127.0.0.1"\n'
            f"http_port = {http_port}\n"
            'mllp_host = "127.0.0.1"\n'
            f"mllp_port = {mllp_port}\n"
            f"http_workers = {http_workers}\n\n"
            "[database]\n"
            f'url = "{self.url}"\n\n'
            "[node]\n"
            'code = "BENCH"\n\n'
            "[keys]\n"
            f'file = "{self.key_file}"\n' + (f"\n{extra}" if extra else "")
        )
        return path


def run_cli(*args: str) -> str:
    done = subprocess.run(
        [*ehcmpi_command(), *args], capture_output=True, text=True, check=False, cwd=REPO
    )
    if done.returncode != 0:
        raise RuntimeError(f"ehcmpi {' '.join(args)} failed:\n{done.stderr.strip()}")
    return done.stdout.strip()


@contextlib.contextmanager
def backend(name: str, workdir: pathlib.Path, pg_server: str) -> Iterator[Backend]:
    """A migrated, empty database with its own key file."""
    key_file = workdir / f"{name}.key"
    run_cli("keys", "init", "--file", str(key_file))
    with contextlib.ExitStack() as stack:
        if name == "postgresql":
            url = stack.enter_context(postgres_database(pg_server))
        else:
            url = f"sqlite:///{workdir / 'ehcmpi.db'}"
        b = Backend(name, url, key_file, workdir)
        run_cli("db", "upgrade", "--config", str(b.config(0)))
        yield b


class Server:
    """A server process on ``port``: ``ehcmpi serve``, or any command given."""

    def __init__(self, command: Sequence[str], port: int, log: pathlib.Path, env: dict[str, str]):
        self.port = port
        self.log = log
        self._command = list(command)
        self._env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60) -> None:
        with self.log.open("ab") as log:
            # Own session: a Ctrl-C on the benchmark reaches the server only through stop().
            self.process = subprocess.Popen(
                self._command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=self._env,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.tail()}")
            with contextlib.suppress(OSError):
                url = f"http://127.0.0.1:{self.port}/fhir/metadata"
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout:.0f}s:\n{self.tail()}")

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ehcmpi_server(
    b: Backend, *, http_workers: int = 1, mllp_port: int = 0, extra: str = ""
) -> Server:
    port = free_port()
    config = b.config(port, http_workers=http_workers, mllp_port=mllp_port, extra=extra)
    command = [*ehcmpi_command(), "serve", "--config", str(config)]
    return Server(command, port, b.workdir / f"server-{port}.log", dict(os.environ))


def factory_server(b: Backend, workers: int) -> Server:
    """``uvicorn --workers N --factory`` on ``bench/app_factory.py`` (same app, N processes)."""
    port = free_port()
    env = dict(os.environ, EHCMPI_CONFIG=str(b.config(port)))
    command = [
        sys.executable, "-m", "uvicorn", "app_factory:create", "--factory",
        "--app-dir", str(BENCH_DIR), "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    return Server(command, port, b.workdir / f"uvicorn-{port}.log", env)
