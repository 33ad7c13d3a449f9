"""uvicorn's HTTP/1.1 protocol, with each response leaving in one system call.

An ASGI response is two messages, ``http.response.start`` and ``http.response.body``, and
uvicorn writes each to the transport as it comes: on uvloop, two ``write`` system calls and
two TCP segments per answer (``strace -c`` on a worker answering identifier lookups: 2.0
writes per request).  The client then wakes for the status line and headers, finds the body
missing and sleeps again.  :class:`CoalescingProtocol` gives uvicorn a transport that holds a
write (the status line and headers) until the next one (the body), and sends the two with one
system call: one segment, one wake-up of the client.  The body is never held; what has no
successor in the same turn of the event loop (a response without a body) goes at the turn's
end, and closing the transport sends what it holds first.

``ehcmpi serve`` runs every HTTP connection on it (listening itself or handed over by the
parent process, ``ehcmpi.server``).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescedTransport:
    """A transport that sends a write together with the next one (or at the end of the
    loop's turn, or at close); every other attribute is the wrapped transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = data
            self._loop.call_soon(self._send)
        else:
            self._held = None
            self._transport.write(held + data)

    def _send(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._transport.write(held)

    def close(self) -> None:
        self._send()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a :class:`CoalescedTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # as uvicorn's own (typed for asyncio.Transport); the wrapper answers for one
        super().connection_made(cast("asyncio.Transport", CoalescedTransport(transport, self.loop)))
