"""Database engines: SQLite (WAL, the embedded default) and PostgreSQL (psycopg 3).

SQLite serialises writers; a write transaction starts with ``BEGIN IMMEDIATE`` so that two
writers queue on the busy timeout instead of failing when a read lock would need upgrading.
"""

from __future__ import annotations

import pathlib
import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from ehcmpi.storage.driver import queue_on

CONNECT_TIMEOUT = 5  # seconds for a new PostgreSQL connection


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalise_url(url)).get_backend_name() == "sqlite"


def _use_wal(cursor: Any, timeout: float = 30.0) -> None:
    """Put the database in WAL mode (persistent, so only a new database really switches).

    The switch needs an exclusive lock and SQLite answers "database is locked" at once instead
    of waiting on the busy timeout, so processes opening a new database together (several HTTP
    workers on first start) retry here until the first one has switched it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_engine(url: str, pool_size: int) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        pathlib.Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=pool_size
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun explicitly below
        cursor = dbapi_conn.cursor()
        for pragma in ("busy_timeout=30000", "synchronous=NORMAL", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        _use_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def create_database_engine(url: str, *, pool_size: int = 20) -> Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        return _sqlite_engine(url, pool_size)
    # No pre-ping (a round trip per checkout): a dropped connection invalidates the pool on
    # its first error and the next checkout reconnects.  Reads run on the event loop, so an
    # unreachable server must fail a connection attempt in seconds, not in the minutes of
    # the operating system's TCP retries.
    # psycopg prepares nothing on write connections: it answers every rollback with
    # DEALLOCATE ALL once it has prepared a statement, which would drop the statements that
    # ``storage.wire`` prepared for the hot paths.
    engine = sa.create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600,
        connect_args={"connect_timeout": CONNECT_TIMEOUT, "prepare_threshold": None},
    )  # fmt: skip
    queue_on(engine)  # writes whose outcome nobody reads travel with the next statement
    return engine


def read_engine_for(engine: Engine) -> Engine:
    """The engine for read-only units of work.

    On PostgreSQL a second pool whose connections stay in autocommit: at READ COMMITTED every
    statement takes its own snapshot inside a transaction too, so BEGIN and ROLLBACK would only
    add round trips (and toggling autocommit per checkout adds more).  SQLite reads keep their
    deferred transaction on the same engine, which gives them one consistent snapshot.
    """
    if engine.dialect.name != "postgresql":
        return engine
    pool_size = engine.pool.size()  # type: ignore[attr-defined]
    return sa.create_engine(
        engine.url,
        connect_args={"connect_timeout": CONNECT_TIMEOUT},
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=3600,
    )


def write_options(engine: Engine) -> dict[str, str]:
    return {"sqlite_begin": "IMMEDIATE"} if engine.dialect.name == "sqlite" else {}
