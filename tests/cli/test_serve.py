"""``ehcmpi serve`` end to end: a real process with FHIR and MLLP, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from ehcmpi.hl7v2.framing import frame
from ehcmpi.hl7v2.mllp import send
from ehcmpi.server import _listen
from ehcmpi.settings import AUTO_WORKERS_MAX
from tests import support
from tests.cli.support import (
    EHCMPI,
    ID_CARD_SYSTEM,
    citizen_id,
    ehcmpi,
    environment,
    write_config,
)
from tests.support import copy_key_file

A01 = (
    b"MSH|^~\\&|HIS|HOSP|EHCMPI|HOSP|20240101120000||ADT^A01^ADT_A01|MSG-E2E-1|P|2.5\r"
    b"EVN|A01|20240101120000\r"
    b"PID|1||H1^^^HIS&1.2.156.112604.1.2.1&ISO||Zhang^Wei\r"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: pathlib.Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(encoding="utf-8", errors="replace")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"server did not answer {url}")


@contextlib.contextmanager
def _serving(
    config: pathlib.Path, log: pathlib.Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    """A real ``ehcmpi serve`` on free ports: the process, its FHIR base and MLLP port."""
    http_port, mllp_port = _free_port(), _free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(EHCMPI), "serve", "--config", str(config),
             "--http-port", str(http_port), "--mllp-port", str(mllp_port)],
            stdout=sink, stderr=subprocess.STDOUT, env=environment(),
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{http_port}/fhir"
        _wait_until_up(f"{base}/metadata", process, log)
        yield process, base, mllp_port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_answers_fhir_and_mllp_and_stops_cleanly_on_sigterm(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    config = write_config(tmp_path, key_file)
    log = tmp_path / "serve.log"
    with _serving(config, log) as (process, base, mllp_port):
        number = citizen_id(dt.date(1985, 3, 12), 13)
        created = httpx.post(
            f"{base}/Patient",
            json={"resourceType": "Patient", "name": [{"text": "张伟"}],
                  "identifier": [{"system": ID_CARD_SYSTEM, "value": number}]},
            timeout=10,
        )  # fmt: skip
        ack = asyncio.run(send("127.0.0.1", mllp_port, A01, timeout=10))
        workers = _workers(process.pid)  # SQLite: http_workers "auto" is one process

        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = process.wait(timeout=15)
        stopped_in = time.monotonic() - started

    output = log.read_text(encoding="utf-8", errors="replace")
    assert created.status_code == 201, created.text
    assert b"\rMSA|AA|MSG-E2E-1" in ack  # an ITI-8 feed, registered
    assert workers == []
    assert code == 0, output
    assert stopped_in < 5
    assert "Traceback" not in output


def test_two_http_workers_share_the_ports_and_all_stop_on_sigterm(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    """``[server] http_workers = 2``: two processes answer; one registration stays one."""
    config = write_config(tmp_path, key_file, extra="[server]\nhttp_workers = 2\n")
    log = tmp_path / "serve.log"
    with _serving(config, log) as (process, base, mllp_port):
        number = citizen_id(dt.date(1985, 3, 12), 13)
        body = {"resourceType": "Patient", "name": [{"text": "张伟"}],
                "identifier": [{"system": ID_CARD_SYSTEM, "value": number}]}  # fmt: skip
        # Fresh connections, so that the kernel spreads them over both workers.
        statuses = [httpx.post(f"{base}/Patient", json=body, timeout=10) for _ in range(8)]
        acks = [asyncio.run(send("127.0.0.1", mllp_port, A01, timeout=10)) for _ in range(4)]

        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=15)

    output = log.read_text(encoding="utf-8", errors="replace")
    assert [r.status_code for r in statuses] == [201] + [200] * 7
    assert len({r.json()["id"] for r in statuses}) == 1
    assert all(b"\rMSA|AA|MSG-E2E-1" in ack for ack in acks)  # one source record, fed 4 times
    assert code == 0, output
    assert output.count("stopped") == 2  # both workers drained and stopped
    assert "Traceback" not in output


@pytest.mark.postgres
def test_on_postgresql_serve_runs_one_worker_per_core_by_default(
    tmp_path: pathlib.Path, key_file: pathlib.Path, own_pg_database_url: str
) -> None:
    """``http_workers = "auto"``, the default: on PostgreSQL one worker per core this
    process may run on (at most ``AUTO_WORKERS_MAX``), so a new install uses the machine."""
    config = support.write_config(tmp_path / "pg.toml", own_pg_database_url, key_file)
    assert ehcmpi("db", "upgrade", "--config", config).returncode == 0
    cores = min(len(os.sched_getaffinity(0)), AUTO_WORKERS_MAX)
    with _serving(config, tmp_path / "serve.log") as (process, base, _):
        workers = _workers(process.pid)
        read = httpx.get(f"{base}/metadata", timeout=10)

    assert len(workers) == (cores if cores > 1 else 0)
    assert read.status_code == 200


def test_accepted_connections_get_tcp_nodelay() -> None:
    """Answers go out at once, not after the client's delayed ACK (~40 ms per request)."""

    async def accept_one() -> int:
        listener = _listen("127.0.0.1", 0, "HTTP")
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        try:
            return await asyncio.wait_for(seen, 5)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    assert asyncio.run(accept_one()) != 0


def _feed(conn: socket.socket) -> bytes:
    """Send the A01 on an open MLLP connection: the framed reply."""
    conn.sendall(frame(A01))
    reply = b""
    while not reply.endswith(b"\x1c\r"):
        reply += conn.recv(65536)
    return reply


def _fed(mllp_port: int) -> socket.socket:
    """A persistent MLLP connection that has had one feed acknowledged."""
    conn = socket.create_connection(("127.0.0.1", mllp_port), timeout=10)
    assert b"\rMSA|AA|MSG-E2E-1" in _feed(conn)
    return conn


def _ask(conn: socket.socket) -> bytes:
    """One keep-alive ``GET /fhir/metadata`` on an open HTTP connection, read to its end: the
    answer's status line and headers."""
    conn.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: ehcmpi\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += conn.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )  # fmt: skip
    while len(body) < length:
        body += conn.recv(65536)
    return head


def _asked(http_port: int) -> socket.socket:
    """A persistent HTTP connection that has had one answer."""
    conn = socket.create_connection(("127.0.0.1", http_port), timeout=10)
    assert _ask(conn).startswith(b"HTTP/1.1 200")
    return conn


def _workers(pid: int) -> list[int]:
    children = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


def _owners(server_pid: int, mllp_port: int) -> dict[int, int]:
    """Client port → the worker process holding the server's end of that MLLP connection
    (from /proc: each worker's socket inodes, and the kernel's TCP table)."""
    inode_of: dict[int, int] = {}  # client port → inode of the server's end
    for line in pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
        if state == "01" and int(local.split(":")[1], 16) == mllp_port:
            inode_of[int(remote.split(":")[1], 16)] = inode
    holder: dict[int, int] = {}  # inode → worker
    for worker in _workers(server_pid):
        for fd in pathlib.Path(f"/proc/{worker}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    holder[int(target[8:-1])] = worker
    return {port: holder[inode] for port, inode in inode_of.items() if inode in holder}


def _port(conn: socket.socket) -> int:
    return int(conn.getsockname()[1])


@pytest.mark.parametrize("kind", ["mllp", "http"])
def test_connections_go_to_the_worker_with_the_fewest(
    tmp_path: pathlib.Path, key_file: pathlib.Path, kind: str
) -> None:
    """Two workers: the parent hands each MLLP or keep-alive HTTP connection to the worker
    holding the fewest of its kind — four are two and two (the kernel's hash could give one
    worker all four); once one worker's two close, the next two both go to it."""
    config = write_config(tmp_path, key_file, extra="[server]\nhttp_workers = 2\n")
    log = tmp_path / "serve.log"
    with _serving(config, log) as (process, base, mllp_port):
        port = mllp_port if kind == "mllp" else urllib.parse.urlsplit(base).port
        connect = functools.partial(_fed if kind == "mllp" else _asked, port)
        clients = [connect() for _ in range(4)]
        owners = _owners(process.pid, port)
        spread = Counter(owners[_port(c)] for c in clients)
        emptied = next(iter(spread))
        for conn in clients:
            if owners[_port(conn)] == emptied:
                conn.close()
        deadline = time.monotonic() + 10
        while len(_owners(process.pid, port)) > 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the worker's word to the parent follows the close
        later = [connect() for _ in range(2)]
        owners = _owners(process.pid, port)
        went_to = [owners[_port(c)] for c in later]
        ask = _ask if kind == "http" else _feed
        answers = [ask(c) for c in clients + later if c.fileno() != -1]  # all still served
        for conn in clients + later:
            conn.close()

    assert sorted(spread.values()) == [2, 2], spread
    assert went_to == [emptied, emptied]
    assert sorted(Counter(owners.values()).values()) == [2, 2]
    ok = b"HTTP/1.1 200" if kind == "http" else b"\rMSA|AA|MSG-E2E-1"
    assert len(answers) == 4 and all(ok in a for a in answers)


def test_a_worker_that_dies_is_replaced_and_connections_reach_its_replacement(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    """A worker killed outright is restarted by the parent; connections open on the other
    worker carry on, and the next MLLP and HTTP connections go to the replacement (it holds
    none)."""
    config = write_config(tmp_path, key_file, extra="[server]\nhttp_workers = 2\n")
    log = tmp_path / "serve.log"
    with _serving(config, log) as (process, base, mllp_port):
        http_port = urllib.parse.urlsplit(base).port
        clients = [_fed(mllp_port) for _ in range(2)]
        owners = _owners(process.pid, mllp_port)
        victim, survivor = (owners[_port(c)] for c in clients)
        browsers: list[socket.socket] = []  # keep-alive HTTP, until one is on the survivor
        while len(browsers) < 4 and survivor not in _owners(process.pid, http_port).values():
            browsers.append(_asked(http_port))
        kept = next(b for b in browsers if _owners(process.pid, http_port)[_port(b)] == survivor)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            workers = _workers(process.pid)
            if len(workers) == 2 and victim not in workers:
                break
            time.sleep(0.1)
        replacement = next(w for w in _workers(process.pid) if w != survivor)
        later = _fed(mllp_port)  # waits, if need be, until the replacement serves
        went_to = _owners(process.pid, mllp_port)[_port(later)]
        reply = _feed(clients[1])  # the survivor's
        browser = _asked(http_port)
        browsed_at = _owners(process.pid, http_port)[_port(browser)]
        still = _ask(kept)
        for conn in [*clients, later, *browsers, browser]:
            conn.close()

    assert replacement != victim
    assert went_to == replacement
    assert b"\rMSA|AA|MSG-E2E-1" in reply  # the survivor's connection still answers
    assert browsed_at == replacement
    assert still.startswith(b"HTTP/1.1 200")  # so does the survivor's HTTP connection
    assert "restarting" in log.read_text(encoding="utf-8", errors="replace")


def _alive(pid: int) -> bool:
    """The process exists and has not exited (a zombie waiting for its reaper has)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_stop_when_the_parent_is_killed(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    """A parent killed outright (``kill -9``, the OOM killer) can no longer hand anything
    over: its workers drain and exit rather than linger with their database connections."""
    config = write_config(tmp_path, key_file, extra="[server]\nhttp_workers = 2\n")
    log = tmp_path / "serve.log"
    with _serving(config, log) as (process, _base, mllp_port):
        deadline = time.monotonic() + 20
        while len(_workers(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = _workers(process.pid)
        _fed(mllp_port).close()  # the workers serve
        process.kill()
        process.wait()
        deadline = time.monotonic() + 20
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)

    assert len(workers) == 2
    assert not [w for w in workers if _alive(w)], "workers outlived their parent"
    said = log.read_text(encoding="utf-8", errors="replace")
    assert said.count("closed the hand-off channel") == 2  # each worker, once


def test_keys_rotated_while_serving_open_what_a_newer_process_sealed(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    """``keys rotate`` while the server runs, then an import (a new process: it seals with
    the new data key): the running server reads that patient, where it answered 500."""
    config = write_config(tmp_path, copy_key_file(key_file, tmp_path / "ehcmpi.key"))
    number = citizen_id(dt.date(1949, 12, 31), 2)
    patients = tmp_path / "patients.csv"
    patients.write_text(
        "name,gender,birth_date,ethnicity,phone,doc_type,doc_number,source_system,source_value\n"
        f"王秀英,2,1949-12-31,01,13800138000,01,{number},,\n",
        encoding="utf-8",
    )
    with _serving(config, tmp_path / "serve.log") as (_, base, _):
        rotated = ehcmpi("keys", "rotate", "--data", "--protect", "--config", config)
        imported = ehcmpi("import", patients, "--config", config)
        found = httpx.get(
            f"{base}/Patient", params={"identifier": f"{ID_CARD_SYSTEM}|{number}"}, timeout=10
        )

    assert rotated.returncode == 0 and imported.returncode == 0, imported.stderr
    assert found.status_code == 200, found.text
    [entry] = found.json()["entry"]
    assert entry["resource"]["telecom"][0]["value"] == "13800138000"  # decrypted here
    assert {"system": ID_CARD_SYSTEM, "value": number}.items() <= next(
        i for i in entry["resource"]["identifier"] if i["system"] == ID_CARD_SYSTEM
    ).items()
