"""``ehcmpi serve``: FHIR over HTTP and MLLP in one process, on one asyncio loop.

Defaults: HTTP 127.0.0.1:8080 (base ``/fhir``), MLLP 127.0.0.1:2575.  On SIGINT/SIGTERM the
HTTP server drains its requests, then MLLP stops accepting and finishes in-flight messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn

from ehcmpi.bootstrap import build
from ehcmpi.fhir.app import create_app
from ehcmpi.hl7v2.mllp import MllpServer, unsupported_handler
from ehcmpi.settings import ConfigError, Settings

log = logging.getLogger("ehcmpi")


class _HttpServer(uvicorn.Server):
    """uvicorn, minus its own signal capture: ``_serve`` owns SIGINT/SIGTERM.

    uvicorn re-raises a captured signal once it has shut down, so SIGTERM would kill the
    process with the default action (exit -15) before MLLP was stopped.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(settings: Settings) -> None:
    container = build(settings)
    server = settings.server
    mllp = MllpServer(unsupported_handler, host=server.mllp_host, port=server.mllp_port)
    try:
        await mllp.start()
    except OSError as exc:
        container.close()
        raise ConfigError(
            f"MLLP 端口无法监听 (cannot listen on MLLP) {server.mllp_host}:{server.mllp_port}: "
            f"{exc.strerror}"
        ) from None
    app = create_app(container)
    config = uvicorn.Config(
        app,
        host=server.http_host,
        port=server.http_port,
        log_level="info",
        access_log=False,
        lifespan="on",
    )
    log.info(
        "ehcmpi %s: FHIR http://%s:%d/fhir, MLLP %s:%d, database %s",
        settings.node.code, server.http_host, server.http_port, server.mllp_host, mllp.port,
        container.engine.url.render_as_string(),
    )  # fmt: skip
    http = _HttpServer(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, http.handle_exit, sig, None)
    try:
        await http.serve()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await mllp.stop()
        log.info("ehcmpi stopped")


def serve(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_serve(settings))
