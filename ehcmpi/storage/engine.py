"""Database engines: SQLite (WAL, the embedded default) and PostgreSQL (psycopg 3).

SQLite serialises writers; a write transaction starts with ``BEGIN IMMEDIATE`` so that two
writers queue on the busy timeout instead of failing when a read lock would need upgrading.

PostgreSQL sessions write the pages they evict from shared buffers to the operating system
(``backend_flush_after``, ``[database] backend_flush_after``), steadily as they go, not left
for the kernel's writeback to flush in one burst every 30 seconds: with PostgreSQL's default
128 MB of shared buffers a registration load leaves ~250 MB dirty, and while the kernel wrote
it (200 ms at 1.2 GB/s here) every commit's WAL flush waited behind it, so every answer in
flight stalled (guideline §4.1.2 索引注册 and the rest).  Registrations offered at 1,000/s,
2 workers, three 20 s rounds each after 20 s at full load, three alternating pairs: p99 23.2,
15.0, 16.9 / 26.5, 18.1, 24.1 / 21.1, 14.9, 14.6 → 11.7, 14.9, 13.8 / 16.9, 15.7, 23.4 / 14.3,
15.3, 18.2 ms; answers slower than 35 ms 546 → 279.  The price is more disk writes: a page
evicted again is written again, where the page cache had absorbed it (``bench/README.md``).
"""

from __future__ import annotations

import pathlib
import sqlite3
import time
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from ehcmpi.storage.driver import queue_on

CONNECT_TIMEOUT = 5  # seconds for a new PostgreSQL connection
#: Each engine's ``backend_flush_after`` ("": the server's own setting), for its read engine.
_flush_after: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


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


def create_database_engine(url: str, *, pool_size: int = 20, flush_after: str = "") -> Engine:
    """``flush_after``: PostgreSQL's ``backend_flush_after`` for its sessions (see above;
    ``[database] backend_flush_after``, "": the server's own)."""
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
    _flush_steadily(engine, flush_after)
    return engine


def _flush_steadily(engine: Engine, flush_after: str) -> None:
    """Each new session of ``engine`` writes back what it evicts every ``flush_after``."""
    _flush_after[engine] = flush_after
    if not flush_after:
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SELECT set_config('backend_flush_after', %s, false)", (flush_after,))
        if not dbapi_conn.autocommit:
            dbapi_conn.commit()  # a pool's reset would roll the setting back with the rest


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
    reads = sa.create_engine(
        engine.url,
        connect_args={"connect_timeout": CONNECT_TIMEOUT},
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=3600,
    )
    _flush_steadily(reads, _flush_after.get(engine, ""))
    return reads


def write_options(engine: Engine) -> dict[str, str]:
    return {"sqlite_begin": "IMMEDIATE"} if engine.dialect.name == "sqlite" else {}
