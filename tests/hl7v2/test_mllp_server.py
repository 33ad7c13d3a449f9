"""A real ``MllpServer`` on 127.0.0.1 port 0, reached over real sockets.

Until the HL7 transactions land, ``unsupported_handler`` answers every message with an
original-mode ACK: AR, MSA-2 = the message's MSH-10, ERR-3 = 200 (HL7 table 0357).
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ehcmpi.hl7v2 import mllp
from ehcmpi.hl7v2.framing import FrameDecoder, frame
from ehcmpi.hl7v2.mllp import MllpServer, send, unsupported_handler

REPO = pathlib.Path(__file__).resolve().parents[2]
CONFORMANCE = REPO.parent / "shared" / "conformance"
HOST = "127.0.0.1"


def adt(control_id: str, *, sender: str = "HIS", charset: str = "") -> str:
    msh = f"MSH|^~\\&|{sender}|HOSP|EHCMPI|HOSP|20240101120000||ADT^A01^ADT_A01|{control_id}|P|2.5"
    if charset:
        msh += f"||||||{charset}"
    return f"{msh}\rEVN|A01|20240101120000\rPID|1||H1^^^HIS||Zhang^Wei\r"


def segments(ack: bytes, encoding: str = "utf-8") -> dict[str, list[str]]:
    """The ACK's segments by name, each split into fields (``[0]`` is the segment name)."""
    found: dict[str, list[str]] = {}
    for segment in ack.decode(encoding).split("\r"):
        if segment:
            fields = segment.split("|")
            found[fields[0]] = fields
    return found


@contextlib.asynccontextmanager
async def running(
    handler: Callable[[bytes], Awaitable[bytes]] = unsupported_handler,
    *,
    max_message_bytes: int = 1 << 20,
    idle_timeout: float = 300.0,
) -> AsyncIterator[MllpServer]:
    server = MllpServer(
        handler, host=HOST, port=0, max_message_bytes=max_message_bytes, idle_timeout=idle_timeout
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=5)


class Connection:
    """One MLLP client connection that stays open across messages."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._decoder = FrameDecoder(1 << 20)
        self._ready: list[bytes] = []

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection(HOST, port))

    async def exchange(self, message: bytes) -> bytes:
        self._writer.write(frame(message))
        await self._writer.drain()
        while not self._ready:
            data = await asyncio.wait_for(self._reader.read(65536), 10)
            if not data:
                raise ConnectionError("server closed the connection")
            self._ready += [i for i in self._decoder.feed(data) if isinstance(i, bytes)]
        return self._ready.pop(0)

    @property
    def address(self) -> tuple[str, int]:
        """This end's address: the server's peer."""
        return tuple(self._writer.get_extra_info("sockname"))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


def test_an_adt_a01_from_the_ihe_corpus_gets_ar_with_error_200() -> None:
    message = (CONFORMANCE / "iti8" / "iti8_a01_ipf_template_happy.hl7").read_bytes()
    msh = message.split(b"\r", 1)[0].decode().split("|")

    async def scenario() -> bytes:
        async with running() as server:
            return await send(HOST, server.port, message, timeout=10)

    ack = segments(asyncio.run(scenario()))

    assert ack["MSA"][1:3] == ["AR", msh[9]]  # MSA-2 echoes MSH-10
    assert ack["ERR"][3].split("^")[:1] == ["200"]
    assert ack["MSH"][8] == "ACK^A01^ACK"
    # Applications swapped: the ACK goes back to the sender, in the sender's version.
    assert ack["MSH"][4:6] == msh[2:4]
    assert ack["MSH"][2:4] == msh[4:6]
    assert ack["MSH"][11] == msh[11]


def test_bytes_without_msh_get_ar() -> None:
    async def scenario() -> bytes:
        async with running() as server:
            return await send(HOST, server.port, b"this is not HL7", timeout=10)

    ack = segments(asyncio.run(scenario()))

    assert ack["MSA"][1] == "AR"
    assert ack["ERR"][3].startswith("100^")


def test_an_oversize_message_gets_ar_203_and_the_connection_keeps_working() -> None:
    big = (adt("BIG-1") + "NTE|1||" + "x" * 5000 + "\r").encode()

    async def scenario() -> tuple[bytes, bytes]:
        async with running(max_message_bytes=2048) as server:
            connection = await Connection.open(server.port)
            try:
                too_big = await connection.exchange(big)
                after = await connection.exchange(adt("AFTER-1").encode())
            finally:
                await connection.close()
            return too_big, after

    too_big, after = asyncio.run(scenario())

    assert segments(too_big)["MSA"][1:3] == ["AR", "BIG-1"]
    assert segments(too_big)["ERR"][3].startswith("203^")
    assert segments(after)["MSA"][1:3] == ["AR", "AFTER-1"]
    assert segments(after)["ERR"][3].startswith("200^")


def test_twenty_concurrent_connections_each_get_their_own_ack() -> None:
    async def one(port: int, n: int) -> tuple[str, str]:
        connection = await Connection.open(port)
        try:
            ack = await connection.exchange(adt(f"C{n:02d}", sender=f"APP{n:02d}").encode())
        finally:
            await connection.close()
        fields = segments(ack)
        return fields["MSA"][2], fields["MSH"][4]  # MSH-5 = the sender's MSH-3

    async def scenario() -> list[tuple[str, str]]:
        async with running() as server:
            return await asyncio.gather(*(one(server.port, n) for n in range(20)))

    results = asyncio.run(scenario())

    assert results == [(f"C{n:02d}", f"APP{n:02d}") for n in range(20)]


def test_several_messages_on_one_connection_are_answered_in_order() -> None:
    async def scenario() -> list[bytes]:
        async with running() as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(b"".join(frame(adt(f"SEQ{n}").encode()) for n in range(5)))
            await writer.drain()
            decoder, acks = FrameDecoder(1 << 20), list[bytes]()
            while len(acks) < 5:
                data = await asyncio.wait_for(reader.read(65536), 10)
                acks += [i for i in decoder.feed(data) if isinstance(i, bytes)]
            writer.close()
            return acks

    acks = asyncio.run(scenario())

    assert [segments(a)["MSA"][2] for a in acks] == [f"SEQ{n}" for n in range(5)]


def test_a_handler_knows_which_connection_each_message_came_on() -> None:
    """``mllp.peer``: the sender's address, one per connection, for the handlers that group
    messages by how each sender behaves (``ihe.turn_batch``)."""
    seen: list[object] = []

    async def handler(message: bytes) -> bytes:
        seen.append(mllp.peer.get())
        return await unsupported_handler(message)

    async def scenario() -> list[tuple[str, int]]:
        async with running(handler) as server:
            connections = [await Connection.open(server.port) for _ in range(2)]
            for n in range(4):
                await connections[n % 2].exchange(adt(f"P{n}").encode())
            ends = [c.address for c in connections]
            for connection in connections:
                await connection.close()
            return ends

    first, second = asyncio.run(scenario())

    assert seen == [first, second, first, second] and first != second


def test_a_gb18030_message_gets_its_ack_in_gb18030() -> None:
    message = (
        "MSH|^~\\&|HIS|北京协和医院|EHCMPI|平台|20240101120000||ADT^A01^ADT_A01|GB-1|P|2.5"
        "||||||GB 18030-2000\rEVN|A01|20240101120000\rPID|1||H1^^^HIS||张^伟\r"
    ).encode("gb18030")

    async def scenario() -> bytes:
        async with running() as server:
            return await send(HOST, server.port, message, timeout=10)

    raw = asyncio.run(scenario())

    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really GB 18030 on the wire, not UTF-8
    ack = segments(raw, "gb18030")
    assert ack["MSH"][17] == "GB 18030-2000"
    assert ack["MSH"][4:6] == ["HIS", "北京协和医院"]  # the sender, readable
    assert ack["MSH"][2:4] == ["EHCMPI", "平台"]
    assert ack["MSA"][1:3] == ["AR", "GB-1"]
    assert "不支持的消息类型" in ack["ERR"][7]


def test_gb18030_bytes_that_look_like_separators_do_not_split_fields() -> None:
    # In GB 18030 the second byte of 東 is 0x7C "|" and of 區 is 0x5E "^".
    facility = "東區醫院"
    assert b"|" in facility.encode("gb18030") and b"^" in facility.encode("gb18030")
    message = (
        f"MSH|^~\\&|HIS|{facility}|EHCMPI|HOSP|20240101120000||ADT^A01^ADT_A01|GB-2|P|2.5"
        "||||||GB 18030-2000\rPID|1||H1^^^HIS\r"
    ).encode("gb18030")

    async def scenario() -> bytes:
        async with running() as server:
            return await send(HOST, server.port, message, timeout=10)

    ack = segments(asyncio.run(scenario()), "gb18030")

    assert ack["MSH"][5] == facility
    assert ack["MSH"][8] == "ACK^A01^ACK"
    assert ack["MSA"][1:3] == ["AR", "GB-2"]
    assert ack["MSH"][17] == "GB 18030-2000"


def test_a_utf8_message_with_chinese_names_gets_them_back_intact() -> None:
    message = adt("U8-1", sender="挂号系统").encode("utf-8")

    async def scenario() -> bytes:
        async with running() as server:
            return await send(HOST, server.port, message, timeout=10)

    ack = segments(asyncio.run(scenario()))

    assert ack["MSH"][4] == "挂号系统"


def test_a_failing_handler_answers_ae_207_and_the_server_stays_up() -> None:
    async def broken(message: bytes) -> bytes:
        raise RuntimeError("bug")

    async def scenario() -> bytes:
        async with running(broken) as server:
            await send(HOST, server.port, adt("BOOM-1").encode(), timeout=10)
            return await send(HOST, server.port, adt("BOOM-2").encode(), timeout=10)

    ack = segments(asyncio.run(scenario()))

    assert ack["MSA"][1:3] == ["AE", "BOOM-2"]
    assert ack["ERR"][3].startswith("207^")


def test_an_idle_connection_is_closed() -> None:
    async def scenario() -> bytes:
        async with running(idle_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            data = await asyncio.wait_for(reader.read(100), 5)
            writer.close()
            return data

    assert asyncio.run(scenario()) == b""


def test_stop_waits_for_an_in_flight_message_then_refuses_connections() -> None:
    async def scenario() -> tuple[bytes, float, bool]:
        started = asyncio.Event()

        async def slow(message: bytes) -> bytes:
            started.set()
            await asyncio.sleep(0.5)
            return await unsupported_handler(message)

        server = MllpServer(slow, host=HOST, port=0)
        await server.start()
        port = server.port
        reply = asyncio.create_task(send(HOST, port, adt("SLOW-1").encode(), timeout=10))
        await started.wait()
        began = time.monotonic()
        await server.stop(grace=5)
        took = time.monotonic() - began
        try:
            await asyncio.open_connection(HOST, port)
            refused = False
        except OSError:
            refused = True
        return await reply, took, refused

    ack, took, refused = asyncio.run(scenario())

    assert segments(ack)["MSA"][1:3] == ["AR", "SLOW-1"]
    assert took >= 0.3
    assert refused
