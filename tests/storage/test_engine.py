"""Database engines on PostgreSQL: a server that does not answer fails a connection in
seconds, and pools recover from connections the server dropped.

Reads run on the server's event loop (``ehcmpi.fhir.hot``), so a connection attempt that hung
for the operating system's TCP retries would stop the whole worker answering."""

from __future__ import annotations

import queue
import socket
import threading
import time

import psycopg
import sqlalchemy as sa

from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.storage import migrate
from ehcmpi.storage.engine import CONNECT_TIMEOUT, create_database_engine, read_engine_for
from ehcmpi.storage.uow import SqlUnitOfWorkFactory


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


def test_after_the_server_drops_every_connection_one_read_fails_and_the_next_reconnects(
    fresh_pg_url: str, crypto: CryptoProvider
) -> None:
    """What a PostgreSQL restart does to the pools: the broken connection's error reaches one
    caller (as SQLAlchemy's own disconnect handling would); the pool is replaced, so the next
    read — a Hot statement on the driver's cursor — connects afresh."""
    engine = create_database_engine(fresh_pg_url)
    migrate.upgrade(engine)
    uow = SqlUnitOfWorkFactory(engine, crypto)
    try:
        for _ in range(3):  # several pooled connections of both pools, each used by Hot
            with uow() as u, uow() as v, uow(write=True) as w:
                assert u.patients.get("M1") is None and v.patients.find_by_ehc_id("E") is None
                assert w.patients.get("M1") is None
        with psycopg.connect(fresh_pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        failures = {"read": 0, "write": 0}
        for _ in range(4):
            for kind in failures:
                try:
                    with uow(write=kind == "write") as u:
                        assert u.patients.get("M1") is None
                except (psycopg.OperationalError, sa.exc.OperationalError):
                    failures[kind] += 1
        assert failures["read"] <= 1 and failures["write"] <= 1, failures
        with uow() as u, uow(write=True) as w:
            assert u.patients.get("M1") is None and w.patients.get("M1") is None
    finally:
        uow.dispose()
