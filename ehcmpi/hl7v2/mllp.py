"""MLLP server and client on public asyncio APIs (IHE ITI TF-2 Appendix C; DESIGN.md
python-hl7 style: framing, parsing and ACK building are separate layers).

Many concurrent connections, a maximum message size, an idle timeout, optional TLS (and
mutual TLS: a client certificate signed by the configured CA is then required; IHE ITI TF-2
Appendix C and the guideline's §6 安全保障 ask for protected channels), and a graceful stop
that lets in-flight messages finish.  What a message means is the ``Handler``'s business;
``dispatch.Dispatcher`` maps messages to the IHE transactions;
``unsupported_handler`` answers every message with AR and ERR-3 code 200 (a server with no
transactions, and the tests of this module).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import socket
import ssl
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from typing import Any

from ehcmpi.hl7v2.ack import (
    SEGMENT_SEQUENCE_ERROR,
    UNSUPPORTED_MESSAGE_TYPE,
    build_ack,
    read_header,
)
from ehcmpi.hl7v2.framing import FrameDecoder, Oversize, frame

log = logging.getLogger(__name__)
Handler = Callable[[bytes], Awaitable[bytes]]
#: the connection the message being answered came on (its peer address), for a handler that
#: groups messages by how their senders behave (``ihe.turn_batch``)
peer: ContextVar[Hashable] = ContextVar("mllp_peer", default=None)


async def unsupported_handler(message: bytes) -> bytes:
    header = read_header(message)
    if header is None:
        return build_ack(
            None, "AR", error=SEGMENT_SEQUENCE_ERROR, text="缺少 MSH 段 (no MSH segment)"
        )
    kind = header.get(9) or "?"
    return build_ack(
        header, "AR", error=UNSUPPORTED_MESSAGE_TYPE,
        text=f"不支持的消息类型 {kind} (unsupported message type)",
    )  # fmt: skip


class MllpServer:
    def __init__(
        self,
        handler: Handler,
        *,
        host: str,
        port: int,
        max_message_bytes: int = 1 << 20,
        idle_timeout: float = 300.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._handler = handler
        self._tls = tls
        self._host, self._port = host, port
        self._max = max_message_bytes
        self._idle = idle_timeout
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Future[bytes]] = set()
        self._adopting: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @property
    def port(self) -> int:
        if self._server is None:  # serving only what a parent process hands over
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on host:port, or accept on ``sock``, a socket bound by a parent process."""
        self._stopping = False
        if sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=sock, ssl=self._tls)
        else:
            self._server = await asyncio.start_server(
                self._serve, self._host, self._port, ssl=self._tls
            )

    def adopt(self, sock: socket.socket, closed: Callable[[], None]) -> None:
        """Serve a connection another process accepted (``ehcmpi.handoff``: the parent spreads
        connections over the workers); ``closed`` is called once it has ended."""
        if self._stopping:
            sock.close()
            closed()
            return
        task = asyncio.ensure_future(self._adopted(sock, closed))
        self._adopting.add(task)
        task.add_done_callback(self._adopting.discard)

    async def _adopted(self, sock: socket.socket, closed: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)

        def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> Awaitable[None]:
            return self._serve(r, w, closed)

        try:
            await loop.connect_accepted_socket(
                lambda: asyncio.StreamReaderProtocol(reader, serve), sock, ssl=self._tls
            )
        except (OSError, ssl.SSLError, asyncio.CancelledError):  # a failed TLS handshake
            sock.close()
            closed()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let in-flight messages finish (up to ``grace`` s), then close."""
        if self._stopping:
            return
        self._stopping = True
        if self._server is not None:
            self._server.close()
        if self._busy:
            await asyncio.wait(set(self._busy), timeout=grace)
        for task in [*self._connections, *self._adopting]:
            task.cancel()
        await asyncio.gather(*self._connections, *self._adopting, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        closed: Callable[[], None] | None = None,
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer.set(writer.get_extra_info("peername"))
        decoder = FrameDecoder(self._max)
        try:
            while True:
                data = await asyncio.wait_for(reader.read(65536), self._idle)
                if not data:
                    break
                for item in decoder.feed(data):
                    await self._answer(item, writer)
        except (TimeoutError, ConnectionError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if closed is not None:
                closed()

    async def _answer(self, item: bytes | Oversize, writer: asyncio.StreamWriter) -> None:
        if isinstance(item, Oversize):
            reply = build_ack(
                read_header(item.prefix), "AR", error=("203", "Message too long"),
                text=f"消息超过 {self._max} 字节 (message exceeds maximum size)",
            )  # fmt: skip
        else:
            busy = asyncio.ensure_future(self._reply(item))
            self._busy.add(busy)
            try:
                reply = await asyncio.shield(busy)
            finally:
                self._busy.discard(busy)
        writer.write(frame(reply))
        await writer.drain()

    async def _reply(self, message: bytes) -> bytes:
        try:
            return await self._handler(message)
        except Exception:
            log.exception("MLLP handler failed")
            return build_ack(
                read_header(message), "AE", error=("207", "Application internal error"),
                text="服务器内部错误 (internal error)",
            )  # fmt: skip


def server_tls(cert: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """TLS for the MLLP port; with ``client_ca`` every client must present a certificate it
    signed (mutual TLS).  A missing or unreadable file is a ``ValueError`` naming it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
        if client_ca:
            context.load_verify_locations(client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(str(pathlib.Path(f)) for f in (cert, key, client_ca) if f)
        raise ValueError(f"无法加载 MLLP TLS 证书 (cannot load TLS files) {files}: {exc}") from None
    return context


async def send(
    host: str,
    port: int,
    message: bytes,
    *,
    timeout: float = 30.0,
    tls: ssl.SSLContext | None = None,
) -> bytes:
    """MLLP client: send one message, return the framed reply's content."""
    opening = asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None)
    reader, writer = await asyncio.wait_for(opening, timeout)
    try:
        writer.write(frame(message))
        await writer.drain()
        decoder = FrameDecoder(1 << 24)
        while True:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                raise ConnectionError("MLLP peer closed the connection before replying")
            for item in decoder.feed(data):
                if isinstance(item, bytes):
                    return item
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
