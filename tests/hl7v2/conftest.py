"""A real MLLP server with the real dispatcher on port 0, in a thread of its own, over the
test database; clients are python-hl7's MLLP client (independent of ours)."""

from __future__ import annotations

import asyncio
import pathlib
import threading
from collections.abc import Iterator

import pytest
from hl7.client import MLLPClient
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.hl7v2.app import dispatcher
from ehcmpi.hl7v2.mllp import MllpServer
from ehcmpi.settings import DomainSettings, Settings

REPO = pathlib.Path(__file__).resolve().parents[2]
CONFORMANCE = REPO.parent / "shared" / "conformance"
#: The IHE MESA / Connectathon assigning authorities the published messages use.
MESA_DOMAINS = (
    DomainSettings(namespace="HIMSS2005", oid="1.3.6.1.4.1.21367.2005.1.1", source="MESA_ADT"),
    DomainSettings(namespace="XREF2005", oid="1.3.6.1.4.1.21367.2005.1.2"),
    DomainSettings(namespace="HIS", oid="1.2.156.112604.1.2.1", source="HIS"),
)


class RunningServer:
    def __init__(self, container: Container) -> None:
        self.container = container
        self._loop = asyncio.new_event_loop()
        self._server = MllpServer(dispatcher(container), host="127.0.0.1", port=0)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> RunningServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._server.start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(grace=5), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def port(self) -> int:
        return self._server.port

    def send(self, message: str | bytes, encoding: str = "utf-8") -> str:
        """One message through python-hl7's MLLP client; the reply as text."""
        text = message.decode(encoding) if isinstance(message, bytes) else message
        with MLLPClient("127.0.0.1", self.port, encoding=encoding) as client:
            reply = client.send_message(text.replace("\n", "\r"))
        return reply.decode(encoding) if isinstance(reply, bytes) else str(reply)


@pytest.fixture
def mllp(settings: Settings, engine: Engine) -> Iterator[RunningServer]:
    configured = settings.model_copy(update={"identifier_domains": MESA_DOMAINS})
    container = build(configured, engine=engine)
    try:
        with RunningServer(container) as server:
            yield server
    finally:
        container.audit.flush()


def conformance(name: str) -> str:
    return (CONFORMANCE / name).read_text(encoding="utf-8")


def fields(reply: str, segment: str) -> list[list[str]]:
    """Every ``segment`` of a reply, split into fields ([0] is the name)."""
    text = reply.strip("\x0b\x1c\r\n").replace("\n", "\r")
    return [s.split("|") for s in text.split("\r") if s.startswith(segment)]
