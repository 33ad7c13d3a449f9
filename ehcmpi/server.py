"""``ehcmpi serve``: FHIR over HTTP and MLLP in one process, on one asyncio loop.

Defaults: HTTP 127.0.0.1:8080 (base ``/fhir``), MLLP 127.0.0.1:2575.  On SIGINT/SIGTERM the
HTTP server drains its requests, then MLLP stops accepting and finishes in-flight messages.
"""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from ehcmpi.bootstrap import build
from ehcmpi.fhir.app import create_app
from ehcmpi.hl7v2.mllp import MllpServer, unsupported_handler
from ehcmpi.settings import ConfigError, Settings

log = logging.getLogger("ehcmpi")


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
    try:
        await uvicorn.Server(config).serve()
    finally:
        await mllp.stop()


def serve(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_serve(settings))
