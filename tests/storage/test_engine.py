"""Database engines on PostgreSQL: a server that does not answer fails a connection in
seconds, and pools recover from connections the server dropped.

Reads run on the server's event loop (``ehcmpi.fhir.hot``), so a connection attempt that hung
for the operating system's TCP retries would stop the whole worker answering."""

from __future__ import annotations

import pathlib
import queue
import socket
import threading
import time

import psycopg
import pytest
import sqlalchemy as sa

from ehcmpi.bootstrap import connect_database
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.settings import ConfigError, load_settings
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
    own_pg_database_url: str, crypto: CryptoProvider
) -> None:
    """What a PostgreSQL restart does to the pools: the broken connection's error reaches one
    caller (as SQLAlchemy's own disconnect handling would); the pool is replaced, so the next
    read — a Hot statement on the driver's cursor — connects afresh."""
    engine = create_database_engine(own_pg_database_url)
    migrate.upgrade(engine)
    uow = SqlUnitOfWorkFactory(engine, crypto)
    try:
        for _ in range(3):  # several pooled connections of both pools, each used by Hot
            with uow() as u, uow() as v, uow(write=True) as w:
                assert u.patients.get("M1") is None and v.patients.find_by_ehc_id("E") is None
                assert w.patients.get("M1") is None
        with psycopg.connect(own_pg_database_url, autocommit=True) as admin:
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


def _flush_after(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SHOW backend_flush_after").scalar_one())


def test_every_session_writes_back_what_it_evicts_as_configured(
    own_pg_database_url: str, tmp_path: pathlib.Path
) -> None:
    """``[database] backend_flush_after`` reaches every session of both pools and survives the
    rollback a pool does when a connection comes back; "" leaves the server's own value."""
    with psycopg.connect(own_pg_database_url) as plain:
        servers_own = plain.execute("SHOW backend_flush_after").fetchone()
    assert servers_own is not None and servers_own[0] != "512kB"  # the test must see a change
    config = tmp_path / "ehcmpi.toml"
    config.write_text(f'[database]\nurl = "{own_pg_database_url}"\nbackend_flush_after = "512kB"\n')
    engine = connect_database(load_settings(str(config), environ={}))
    reads = read_engine_for(engine)
    try:
        for each in (engine, reads):
            with each.connect() as conn:  # a transaction rolled back as the pool returns it
                conn.exec_driver_sql("SELECT 1")
            assert _flush_after(each) == "512kB"
    finally:
        reads.dispose()
        engine.dispose()
    unset = create_database_engine(own_pg_database_url, flush_after="")
    unset_reads = read_engine_for(unset)
    try:
        assert _flush_after(unset) == _flush_after(unset_reads) == servers_own[0]
    finally:
        unset_reads.dispose()
        unset.dispose()


@pytest.mark.parametrize("size", ["3MB", "4096kB", "256", "256 kB", "-1kB"])
def test_a_flush_size_postgresql_would_refuse_stops_the_start_with_one_line(
    size: str, tmp_path: pathlib.Path
) -> None:
    config = tmp_path / "ehcmpi.toml"
    config.write_text(f'[database]\nbackend_flush_after = "{size}"\n')
    with pytest.raises(ConfigError) as refused:
        load_settings(str(config), environ={})
    message = str(refused.value)
    assert "backend_flush_after" in message and "2MB" in message and "\n" not in message
