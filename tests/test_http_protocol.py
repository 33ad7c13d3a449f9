"""Each HTTP response leaves the server in one write (``ehcmpi.http_protocol``): uvicorn's own
protocol on a real socket, the writes that reach the real transport recorded."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from ehcmpi.http_protocol import CoalescingProtocol

BODY = b'{"resourceType":"OperationOutcome"}'


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that answers as Starlette's responses do: start, then the body."""
    assert scope["type"] == "http"
    await receive()
    headers = [(b"content-type", b"application/fhir+json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


class _Recorder:
    """The real transport, its writes recorded."""

    def __init__(self, transport: Any, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


WRITES: list[bytes] = []


class _Recorded(CoalescingProtocol):
    def connection_made(self, transport: Any) -> None:
        super().connection_made(_Recorder(transport, WRITES))


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    WRITES.clear()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=_Recorded, lifespan="off", log_level="warning")
    serving = uvicorn.Server(config)
    thread = threading.Thread(target=serving.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not serving.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield listener.getsockname()
    serving.should_exit = True
    thread.join(timeout=10)
    listener.close()


def _response(conn: socket.socket) -> bytes:
    """One whole response (headers and ``Content-Length`` bytes of body), however it arrives."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < len(BODY):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_each_response_leaves_in_one_write(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=5) as conn:
        answers = []
        for _ in range(3):  # keep-alive: one write per response, every time
            conn.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: test\r\n\r\n")
            answers.append(_response(conn))
    assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") and a.endswith(BODY) for a in answers)
    assert answers == WRITES


def _until_closed(server: tuple[str, int], method: str) -> bytes:
    """Everything the server sends for one ``Connection: close`` request, to its close."""
    request = f"{method} /fhir/metadata HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    with socket.create_connection(server, timeout=5) as conn:
        conn.sendall(request.encode())
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


def test_a_closing_response_is_sent_whole_before_the_close(server: tuple[str, int]) -> None:
    """uvicorn closes the transport right after the body's write: the answer arrives whole."""
    received = _until_closed(server, "GET")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close" in received.lower()
    assert received.endswith(BODY)
    assert [received] == WRITES


def test_headers_without_a_body_are_sent_before_the_close(server: tuple[str, int]) -> None:
    """A HEAD answer is headers only: held for a body that never comes, they leave with the
    close that follows in the same turn."""
    received = _until_closed(server, "HEAD")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(b"\r\n\r\n")
    assert b"content-length: %d" % len(BODY) in received.lower()
    assert [received] == WRITES


def test_headers_without_a_body_are_sent_on_a_kept_connection(server: tuple[str, int]) -> None:
    """Headers held for a body that never comes, with no close to follow, leave at the end of
    the loop's turn: the client gets its HEAD answer without sending anything more — well
    before uvicorn's 5 s keep-alive timeout would close the connection (and so send them)."""
    with socket.create_connection(server, timeout=2) as conn:
        conn.sendall(b"HEAD /fhir/metadata HTTP/1.1\r\nHost: test\r\n\r\n")
        received = b""
        while not received.endswith(b"\r\n\r\n"):
            chunk = conn.recv(65536)
            assert chunk, "the server closed the connection"
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert [received] == WRITES
