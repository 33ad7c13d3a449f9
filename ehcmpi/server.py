"""``ehcmpi serve``: FHIR over HTTP and MLLP in one process, on one asyncio loop — or in
``[server] http_workers`` processes sharing the listening sockets.

Defaults: HTTP 127.0.0.1:8080 (base ``/fhir``), MLLP 127.0.0.1:2575.  On SIGINT/SIGTERM the
HTTP server drains its requests, then MLLP stops accepting and finishes in-flight messages.
With several workers the parent binds both ports, checks the keys and the database (and
migrates where configured) once, forks the workers, restarts one that dies, and on a signal
stops them all.  Every worker holds its own database pool; nothing else is shared, since
everything a node knows lives in its database (DESIGN.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from ehcmpi.bootstrap import build, load_crypto, open_database
from ehcmpi.fhir.app import create_app
from ehcmpi.hl7v2.mllp import MllpServer, unsupported_handler
from ehcmpi.settings import ConfigError, Settings

log = logging.getLogger("ehcmpi")


class _HttpServer(uvicorn.Server):
    """uvicorn, minus its own signal capture: ``_serve`` owns SIGINT/SIGTERM.

    uvicorn re-raises a captured signal once it has shut down, so SIGTERM would kill the
    process with the default action (exit -15) before MLLP was stopped.  A second signal (a
    terminal's SIGINT to the whole group, then the parent's SIGTERM) does not cut the drain.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            super().handle_exit(sig, frame)


def _listen(host: str, port: int, what: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections accepted from a socket
    # whose proto says TCP; without it every answer waited ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"{what} 端口无法监听 (cannot listen) {host}:{port}: {exc.strerror}"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def _serve(settings: Settings, http_sock: socket.socket, mllp_sock: socket.socket) -> None:
    container = build(settings)
    server = settings.server
    mllp = MllpServer(unsupported_handler, host=server.mllp_host, port=server.mllp_port)
    await mllp.start(mllp_sock)
    config = uvicorn.Config(
        create_app(container), log_level="info", access_log=False, lifespan="on"
    )
    log.info(
        "ehcmpi %s (pid %d): FHIR http://%s:%d/fhir, MLLP %s:%d, database %s",
        settings.node.code, os.getpid(), server.http_host, http_sock.getsockname()[1],
        server.mllp_host, mllp.port, container.engine.url.render_as_string(),
    )  # fmt: skip
    http = _HttpServer(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, http.handle_exit, sig, None)
    try:
        await http.serve(sockets=[http_sock])
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await mllp.stop()
        log.info("ehcmpi worker %d stopped", os.getpid())


def _worker(settings: Settings, http_sock: socket.socket, mllp_sock: socket.socket) -> None:
    asyncio.run(_serve(settings, http_sock, mllp_sock))


class _Supervisor:
    """Keeps ``count`` forked workers running until a signal asks them all to stop."""

    def __init__(self, settings: Settings, sockets: tuple[socket.socket, socket.socket]) -> None:
        self._settings, self._sockets = settings, sockets
        self._context = multiprocessing.get_context("fork")
        self._workers: list[BaseProcess] = []
        self._stopping = False

    def _spawn(self) -> BaseProcess:
        worker = self._context.Process(
            target=_worker, args=(self._settings, *self._sockets), name="ehcmpi-worker"
        )
        worker.start()
        return worker

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        for worker in self._workers:
            if worker.pid and worker.is_alive():
                os.kill(worker.pid, signal.SIGTERM)

    def run(self, count: int) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._stop)
        self._workers = [self._spawn() for _ in range(count)]
        while not self._stopping:
            time.sleep(0.5)
            for i, worker in enumerate(self._workers):
                if not worker.is_alive() and not self._stopping:
                    log.error("worker %s exited with %s; restarting", worker.pid, worker.exitcode)
                    self._workers[i] = self._spawn()
        for worker in self._workers:
            worker.join()


def serve(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    load_crypto(settings)  # a missing or open key file stops here, before any port is taken
    open_database(settings).dispose()  # reachable, and migrated once, before the workers
    server = settings.server
    http_sock = _listen(server.http_host, server.http_port, "HTTP")
    mllp_sock = _listen(server.mllp_host, server.mllp_port, "MLLP")
    try:
        if server.http_workers == 1:
            _worker(settings, http_sock, mllp_sock)
        else:
            _Supervisor(settings, (http_sock, mllp_sock)).run(server.http_workers)
    finally:
        http_sock.close()
        mllp_sock.close()
