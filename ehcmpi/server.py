"""``ehcmpi serve``: FHIR over HTTP and MLLP in one process, on one asyncio loop — or in
``[server] http_workers`` processes: HTTP and MLLP connections accepted by the parent and each
handed to the worker with the fewest of its kind (``ehcmpi.handoff``).

Defaults: HTTP 127.0.0.1:8080 (base ``/fhir``), MLLP 127.0.0.1:2575.  On SIGINT/SIGTERM the
HTTP server drains its requests, then MLLP stops accepting and finishes in-flight messages.
With several workers the parent checks the keys, takes both ports and checks the database
(migrating where configured) once, forks the workers, restarts one that dies, and on a signal
stops them all; a worker whose parent is gone (its hand-off channels closed) stops as if
signalled.  Every worker holds its own database pool; nothing else is shared, since
everything a node knows lives in its database (DESIGN.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import multiprocessing
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn
import uvloop

from ehcmpi.bootstrap import build, close_crypto, load_crypto, open_database, verify_keys
from ehcmpi.fhir.app import create_app
from ehcmpi.handoff import Handoff, Intake
from ehcmpi.hl7v2 import app as hl7_app
from ehcmpi.hl7v2.mllp import MllpServer, server_tls
from ehcmpi.http_protocol import CoalescingProtocol
from ehcmpi.settings import ConfigError, Settings

log = logging.getLogger("ehcmpi")
#: The collector's thresholds in a serving worker (``gc.set_threshold``; see ``_serve``)
GC_THRESHOLDS = (7000, 20, 20)


class _HttpServer(uvicorn.Server):
    """uvicorn, minus its own signal capture: ``_serve`` owns SIGINT/SIGTERM.

    uvicorn re-raises a captured signal once it has shut down, so SIGTERM would kill the
    process with the default action (exit -15) before MLLP was stopped.  A second signal (a
    terminal's SIGINT to the whole group, then the parent's SIGTERM) does not cut the drain.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.adopting: set[asyncio.Future[Any]] = set()  # connections handed over, starting
        self.on_started: Callable[[], None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up (its lifespan builds the app's state; a failure exits), then
        ``on_started``."""
        await super().startup(sockets)
        if self.on_started is not None:
            self.on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            super().handle_exit(sig, frame)


def _listen(host: str, port: int, what: str) -> socket.socket:
    """A TCP socket listening on host:port."""
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
    return sock


Port = socket.socket | tuple[Intake, int]


def _opened(at: Port) -> tuple[socket.socket | None, Intake | None, int]:
    """A listening socket, or a worker's channel for the connections the parent hands over:
    (the socket, the channel, the port number)."""
    if isinstance(at, socket.socket):
        return at, None, int(at.getsockname()[1])
    return None, *at


def _adopt_http(http: _HttpServer, sock: socket.socket, closed: Callable[[], None]) -> None:
    """Serve an HTTP connection the parent accepted (``ehcmpi.handoff``) with uvicorn's own
    protocol, as its listening server would; ``closed`` is called once it has ended.  One
    that arrives while the server drains is closed at once (uvicorn waits for the
    connections it knows of, so a new keep-alive one could hold the drain open)."""
    if http.should_exit:
        sock.close()
        closed()
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    loop = asyncio.get_running_loop()
    config = http.config
    protocol_class: Any = config.http_protocol_class  # uvicorn's, as its server makes them
    make = functools.partial(
        protocol_class, config=config, server_state=http.server_state,
        app_state=http.lifespan.state, _loop=loop,
    )  # fmt: skip

    def protocol() -> asyncio.Protocol:
        served: asyncio.Protocol = make()
        lost = served.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            try:
                lost(exc)
            finally:
                closed()

        served.connection_lost = connection_lost  # type: ignore[method-assign]
        return served

    def adopted(task: asyncio.Future[Any]) -> None:
        http.adopting.discard(task)
        if task.cancelled() or task.exception() is not None:  # gone before it was served
            sock.close()
            closed()

    task = asyncio.ensure_future(loop.connect_accepted_socket(protocol, sock))
    http.adopting.add(task)
    task.add_done_callback(adopted)


async def _serve(settings: Settings, http_at: Port, mllp_at: Port) -> None:
    """Serve until a signal; ``http_at`` and ``mllp_at``: each a listening socket, or the
    channel of a worker whose parent hands it that port's connections (and the port they
    came to)."""
    # The request threads of writes and broad searches, FHIR and HL7 alike (asyncio.to_thread);
    # FastAPI's own for ``def`` endpoints have their limiter (fhir/app.py).
    threads = ThreadPoolExecutor(settings.server.request_threads, thread_name_prefix="request")
    asyncio.get_running_loop().set_default_executor(threads)
    # ``serve`` migrated (where configured) before any worker started: only check here.
    container = build(settings, engine=open_database(settings, migrate_now=False))
    # What is alive now (modules, the app, the container: ~330,000 objects) lives as long as
    # the process: out of the collector's sight, a full collection under load scans only what
    # came since — at 1,300 registrations/s with 2 workers, 20 s: pauses of up to 159 ms
    # (4 collections, 581 ms in all) became up to ~20 ms (12, 248 ms); the slowest
    # registration 191 → 77 ms.
    gc.collect()
    gc.freeze()
    # A request allocates thousands of objects and drops nearly all of them before it is
    # answered: at the default thresholds (700, 10, 10) a worker under registrations ran 63
    # young collections a second, 6 middle ones and a full one every 5 s (2.2 ms each, while
    # 16 requests waited).  Collected ten and twice as seldom, over three alternating pairs
    # of 20 s rounds after 25 s of prefill (2 workers, 32 connections): registration p99
    # 33.1, 29.5, 30.0 → 26.8, 26.5, 26.9 ms; 1,590, 1,711, 1,736 → 1,738, 1,772, 1,738/s.
    gc.set_threshold(*GC_THRESHOLDS)
    server = settings.server
    http_sock, handed, http_port = _opened(http_at)
    mllp_sock, intake, mllp_port = _opened(mllp_at)
    hl7 = MllpServer(
        hl7_app.dispatcher(container), host=server.mllp_host, port=mllp_port,
        tls=mllp_tls(settings),
    )  # fmt: skip
    config = uvicorn.Config(
        create_app(container), log_level="info", access_log=False, lifespan="on",
        http=CoalescingProtocol,
    )  # fmt: skip
    http = _HttpServer(config)

    def orphaned() -> None:
        """The parent closed its end of a hand-off channel (it is stopping, or it was killed
        outright): no connection will come any more, so drain and stop as on SIGTERM rather
        than linger, holding database connections, with nobody left to stop this worker."""
        if http.should_exit:  # stopping already (SIGTERM, or the other channel closed)
            return
        log.warning(
            "ehcmpi worker %d: the parent process closed the hand-off channel "
            "(it is stopping or was killed); stopping", os.getpid(),
        )  # fmt: skip
        http.handle_exit(signal.SIGTERM, None)

    if intake is None:
        await hl7.start(mllp_sock)
    else:
        intake.start(lambda conn: hl7.adopt(conn, intake.closed), orphaned)
    notifications = hl7_app.notification_sender(container)  # ITI-10, from the outbox
    notifications.start()
    log.info(
        "ehcmpi %s (pid %d): FHIR http://%s:%d/fhir, MLLP %s:%d, database %s",
        settings.node.code, os.getpid(), server.http_host, http_port,
        server.mllp_host, hl7.port, container.engine.url.render_as_string(),
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, http.handle_exit, sig, None)
    if handed is not None:  # handed-over connections are served once the app is built
        http.on_started = lambda: handed.start(
            lambda c: _adopt_http(http, c, handed.closed), orphaned
        )
    try:
        # Handed over, connections come from the parent instead of a listening socket.
        await http.serve(sockets=[] if http_sock is None else [http_sock])
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if handed is not None:
            handed.stop()
        await notifications.stop()
        if intake is not None:
            intake.stop()
        await hl7.stop()
        log.info("ehcmpi worker %d stopped", os.getpid())


def _worker(
    settings: Settings,
    ports: tuple[int, int],
    handoffs: tuple[Handoff, Handoff],
    channels: tuple[socket.socket, socket.socket],
) -> None:
    """One of several workers: the HTTP and MLLP connections the parent hands over on
    ``channels``."""
    for handoff in handoffs:
        for inherited in handoff.inherited():
            inherited.close()
    try:
        http, mllp = ((Intake(c), port) for c, port in zip(channels, ports, strict=True))
        _run(_serve(settings, http, mllp))
    finally:
        for channel in channels:
            channel.close()


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run the server's coroutine on uvloop (libuv, in C), as uvicorn would on its own:
    ``asyncio.run`` would give the pure-Python selector loop, whose transports and
    thread wake-ups took a tenth of the server's CPU under load."""
    uvloop.run(main)


class _Supervisor:
    """Keeps ``count`` forked workers running until a signal asks them all to stop."""

    def __init__(
        self, settings: Settings, ports: tuple[int, int], handoffs: tuple[Handoff, Handoff]
    ) -> None:
        self._settings, self._ports, self._handoffs = settings, ports, handoffs
        self._context = multiprocessing.get_context("fork")
        self._workers: list[BaseProcess] = []
        self._stopping = False

    def _spawn(self) -> BaseProcess:
        http, mllp = self._handoffs
        channels = (http.channel(), mllp.channel())
        worker = self._context.Process(
            target=_worker, args=(self._settings, self._ports, self._handoffs, channels),
            name="ehcmpi-worker",
        )  # fmt: skip
        worker.start()
        for channel in channels:
            channel.close()  # the worker's end
        return worker

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        for handoff in self._handoffs:
            handoff.stop()
        for worker in self._workers:
            if worker.pid and worker.is_alive():
                os.kill(worker.pid, signal.SIGTERM)

    def run(self, count: int) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._stop)
        for handoff in self._handoffs:
            handoff.start()
        self._workers = [self._spawn() for _ in range(count)]
        while not self._stopping:
            time.sleep(0.5)
            for i, worker in enumerate(self._workers):
                if worker.is_alive() or self._stopping:
                    continue
                log.error("worker %s exited with %s; restarting", worker.pid, worker.exitcode)
                self._workers[i] = self._spawn()
        for worker in self._workers:
            worker.join()


def mllp_tls(settings: Settings) -> ssl.SSLContext | None:
    """The MLLP port's TLS context from ``[server] mllp_tls_*``, or None (plain MLLP)."""
    server = settings.server
    if server.mllp_tls_cert is None and server.mllp_tls_key is None:
        if server.mllp_tls_client_ca is not None:
            raise ConfigError("mllp_tls_client_ca 需要同时配置 mllp_tls_cert 和 mllp_tls_key "
                              "(mutual TLS needs a server certificate and key)")  # fmt: skip
        return None
    if server.mllp_tls_cert is None or server.mllp_tls_key is None:
        raise ConfigError(
            "mllp_tls_cert 和 mllp_tls_key 必须同时配置 (set both certificate and key)"
        )
    try:
        return server_tls(server.mllp_tls_cert, server.mllp_tls_key, server.mllp_tls_client_ca)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def serve(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # A missing or open key file stops here, before any port is taken.
    crypto = load_crypto(settings)
    mllp_tls(settings)  # so do unreadable TLS files
    server = settings.server
    # With workers the parent listens on both ports and hands each connection over to the
    # worker with the fewest (``ehcmpi.handoff``).
    http_sock = _listen(server.http_host, server.http_port, "HTTP")
    try:
        mllp_sock = _listen(server.mllp_host, server.mllp_port, "MLLP")
    except ConfigError:
        http_sock.close()
        raise
    try:
        engine = open_database(settings)  # reachable, and migrated once, before serving
        try:
            verify_keys(engine, crypto)  # and its own keys, checked before any worker starts
        finally:
            engine.dispose()
            close_crypto(crypto)  # each worker opens its own (an HSM session is not forked)
        workers = settings.http_workers  # "auto" resolved once: one count for the whole run
        if workers > 1:
            ports = (http_sock.getsockname()[1], mllp_sock.getsockname()[1])
            handoffs = (Handoff(http_sock, "HTTP"), Handoff(mllp_sock, "MLLP"))
            _Supervisor(settings, ports, handoffs).run(workers)
        else:
            _run(_serve(settings, http_sock, mllp_sock))
    finally:
        http_sock.close()
        mllp_sock.close()
