"""Database engines: a PostgreSQL server that does not answer fails a connection in seconds.

Reads run on the server's event loop (``ehcmpi.fhir.hot``), so a connection attempt that hung
for the operating system's TCP retries would stop the whole worker answering."""

from __future__ import annotations

import queue
import socket
import threading
import time

import sqlalchemy as sa

from ehcmpi.storage.engine import CONNECT_TIMEOUT, create_database_engine, read_engine_for


def test_a_server_that_never_answers_fails_the_connection_within_the_timeout() -> None:
    outcomes: queue.Queue[tuple[str, float]] = queue.Queue()

    def connect(name: str, engine: sa.Engine) -> None:
        began = time.monotonic()
        try:
            engine.connect().close()
            outcomes.put((f"{name}: connected", 0.0))
        except sa.exc.OperationalError:
            outcomes.put((f"{name}: refused", time.monotonic() - began))

    with socket.socket() as silent:  # accepts connections (the backlog) and never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        engine = create_database_engine(f"postgresql://postgres@127.0.0.1:{port}/ehcmpi")
        for name, each in (("write", engine), ("read", read_engine_for(engine))):
            threading.Thread(target=connect, args=(name, each), daemon=True).start()
        got = [outcomes.get(timeout=CONNECT_TIMEOUT + 5) for _ in range(2)]  # else: Empty
    assert sorted(g[0] for g in got) == ["read: refused", "write: refused"]
    assert all(seconds < CONNECT_TIMEOUT + 3 for _, seconds in got), got
