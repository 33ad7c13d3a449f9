"""MLLP over TLS and mutual TLS (IHE ITI TF-2 Appendix C; guideline §6 安全保障), real sockets."""

from __future__ import annotations

import asyncio
import pathlib
import ssl

import pytest

from ehcmpi.handoff import Handoff, Intake
from ehcmpi.hl7v2.framing import frame
from ehcmpi.hl7v2.mllp import MllpServer, send, server_tls, unsupported_handler
from ehcmpi.server import _listen, mllp_tls
from ehcmpi.settings import ConfigError, ServerSettings, Settings
from tests.hl7v2.certs import Pki, make_pki
from tests.hl7v2.test_mllp_server import HOST, adt, segments


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def client(pki: Pki, *, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if with_cert:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return context


async def _exchange(tls: ssl.SSLContext, client_tls: ssl.SSLContext | None) -> bytes:
    server = MllpServer(unsupported_handler, host=HOST, port=0, tls=tls)
    await server.start()
    try:
        return await send(HOST, server.port, adt("TLS1").encode(), tls=client_tls, timeout=10)
    finally:
        await server.stop(grace=2)


def test_an_ack_comes_back_over_tls(pki: Pki) -> None:
    tls = server_tls(str(pki.server_cert), str(pki.server_key))
    reply = asyncio.run(_exchange(tls, client(pki, with_cert=False)))
    assert segments(reply)["MSA"][1:3] == ["AR", "TLS1"]


def test_mutual_tls_answers_a_client_with_a_certificate(pki: Pki) -> None:
    tls = server_tls(str(pki.server_cert), str(pki.server_key), str(pki.ca))
    reply = asyncio.run(_exchange(tls, client(pki, with_cert=True)))
    assert segments(reply)["MSA"][1] == "AR"


def test_mutual_tls_refuses_a_client_without_a_certificate(pki: Pki) -> None:
    tls = server_tls(str(pki.server_cert), str(pki.server_key), str(pki.ca))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        asyncio.run(_exchange(tls, client(pki, with_cert=False)))


def test_a_plain_client_gets_no_hl7_answer_from_a_tls_port(pki: Pki) -> None:
    tls = server_tls(str(pki.server_cert), str(pki.server_key))
    with pytest.raises((ConnectionError, TimeoutError, asyncio.IncompleteReadError)):
        asyncio.run(_exchange(tls, None))


def test_a_connection_the_parent_hands_over_is_served_over_mutual_tls(pki: Pki) -> None:
    """With several workers the parent accepts and passes the socket on (``ehcmpi.handoff``);
    the worker does the TLS handshake, answers, and tells the parent once it has closed."""

    async def exchange() -> tuple[bytes, list[int], list[int]]:
        listener = _listen(HOST, 0, "MLLP")
        handoff = Handoff(listener, "MLLP")
        intake = Intake(handoff.channel())
        handoff.start()
        tls = server_tls(str(pki.server_cert), str(pki.server_key), str(pki.ca))
        server = MllpServer(unsupported_handler, host=HOST, port=0, tls=tls)
        intake.start(lambda conn: server.adopt(conn, intake.closed), lambda: None)
        try:
            port = listener.getsockname()[1]
            opening = asyncio.open_connection(
                HOST, port, ssl=client(pki, with_cert=True), server_hostname=HOST
            )
            reader, writer = await asyncio.wait_for(opening, 10)
            writer.write(frame(adt("TLS2").encode()))
            reply = await asyncio.wait_for(reader.readuntil(b"\x1c\r"), 10)
            open_counts = handoff.counts()
            writer.close()
            for _ in range(100):  # the worker's word that the connection closed
                if handoff.counts() == [0]:
                    break
                await asyncio.sleep(0.05)
            return reply, open_counts, handoff.counts()
        finally:
            intake.stop()
            await server.stop(grace=2)
            handoff.stop()
            listener.close()

    reply, while_open, after = asyncio.run(exchange())
    assert segments(reply[1:-2])["MSA"][1:3] == ["AR", "TLS2"]
    assert (while_open, after) == ([1], [0])


def _settings(**server: str) -> Settings:
    return Settings(server=ServerSettings(**server))  # type: ignore[arg-type]


def test_tls_configuration_mistakes_are_one_line(pki: Pki, tmp_path: pathlib.Path) -> None:
    assert mllp_tls(_settings()) is None
    with pytest.raises(ConfigError, match="set both certificate and key"):
        mllp_tls(_settings(mllp_tls_cert=str(pki.server_cert)))
    with pytest.raises(ConfigError, match="mutual TLS needs"):
        mllp_tls(_settings(mllp_tls_client_ca=str(pki.ca)))
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match="cannot load TLS files") as error:
        mllp_tls(_settings(mllp_tls_cert=missing, mllp_tls_key=str(pki.server_key)))
    assert "nope.pem" in str(error.value) and "\n" not in str(error.value)
    assert mllp_tls(_settings(mllp_tls_cert=str(pki.server_cert),
                              mllp_tls_key=str(pki.server_key))) is not None  # fmt: skip
