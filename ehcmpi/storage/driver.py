"""Hot statements executed below SQLAlchemy, on the database driver (PostgreSQL).

Executing a compiled SQLAlchemy statement costs about 0.15 ms of Python per statement
(execution context, parameter processing, result proxy) — more than the driver needs to send a
prepared statement and read its rows.  On the paths every request takes (a patient by ID, an
identifier lookup, a PIX cross-reference, a registration's inserts) that overhead was a
quarter of the server's CPU (``bench/search_bench.py``, read phase).  A :class:`Hot`
statement is still written once, as a SQLAlchemy construct; it is compiled to the dialect's
SQL once (per set of inserted or updated columns) and, on PostgreSQL, sent on the connection's
libpq pipeline (``storage.wire``: prepared once per connection), rows coming back as named
tuples with the same attribute access as SQLAlchemy rows.  Other dialects (SQLite) run it
through SQLAlchemy as usual, so both paths run under the test suite.

Round trips.  Each statement sent on its own costs a round trip to the server, and on a
loaded machine a round trip costs more CPU (two context switches, socket calls on both sides)
than the statement.  So within a write transaction on PostgreSQL:

- :meth:`Hot.later` queues a write whose outcome nobody reads (a version row, a link event,
  blocking keys, an audit entry); nothing is sent yet;
- the next ``Hot`` statement sends the queue before itself in one batch (``storage.wire``),
  the commit sends it with ``COMMIT``, and any SQLAlchemy statement sends it first, so the
  transaction's order is kept and every read sees the transaction's own writes;
- the first statement of a transaction travels with its ``BEGIN``, and several rows of one
  ``run`` travel together.

A read can travel ahead too: :meth:`Hot.ahead` announces one that will be asked for soon (the
matcher's candidates while registration looks up the owner of the documents); it goes with
the transaction's next ``rows_together`` and the ``rows`` that asks for it later is answered
from what came back, without a round trip.  Any write, commit or rollback forgets such reads.

A queued statement that fails (it should not: such statements are plain inserts or
``ON CONFLICT DO NOTHING``) fails the statement or commit that sent it, and the unit of work
rolls back as for any error: nothing of the transaction is written.  A rollback discards the
queue.  SQLite and autocommit connections run ``later`` at once.

Only statements whose parameters are plain values qualify: an expanding ``IN`` list would need
rendering per call, which is what SQLAlchemy is for.  Columns get no Python-side defaults
here: the tables have none (server defaults apply as usual).  A connection the server dropped
fails here with psycopg's own error; the unit of work's rollback then meets the dead
connection in SQLAlchemy, which invalidates the pool as it would for its own statements, so
one caller sees the error and the next checkout connects afresh (``tests/storage``).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, cast

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import Table, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, ValuesBase

from ehcmpi.storage.coalesce import coalesce, footprint
from ehcmpi.storage.wire import Batch, Command, Statement, begin, column_names, statement

#: Key in the DBAPI connection's ``info``: commands queued by ``Hot.later``, not yet sent.
QUEUED = "ehcmpi.queued"
#: Keys in ``info``: reads announced by ``Hot.ahead`` not yet sent, and their rows once read.
AHEAD = "ehcmpi.ahead"
FETCHED = "ehcmpi.fetched"


class Hot:
    """One SQL statement, run with the least overhead the dialect allows."""

    def __init__(
        self, statement: Executable, *, generic: bool = False, writes: Table | None = None
    ) -> None:
        """``generic``: PostgreSQL runs it on its generic plan, never one made for the
        parameters (``storage.wire``); for a statement it would otherwise plan every time.
        ``writes``: for a text statement, the one table it reads and writes (so that queued
        inserts may travel past it, ``storage.coalesce``)."""
        self._generic = generic
        self._footprint = footprint(statement, writes)
        self._returning = bool(getattr(statement, "_returning", ()))
        if isinstance(statement, Insert) and not self._returning:
            # no implicit ``RETURNING id`` of an autoincrement key: nobody reads it (these
            # inserts go by ``later``), yet the server would build and send a row for each
            statement = statement.inline()
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[Statement, dict[str, Any]]] = {}

    def _sql(self, conn: Connection, columns: tuple[str, ...]) -> tuple[Statement, dict[str, Any]]:
        key = (conn.dialect.name, columns)
        found = self._compiled.get(key)
        if found is None:
            stmt = cast(ClauseElement, self.statement)
            keys = list(columns) if isinstance(self.statement, ValuesBase) else None
            compiled = cast(SQLCompiler, stmt.compile(dialect=conn.dialect, column_keys=keys))
            if any(p.expanding for p in compiled.binds.values()):
                raise TypeError("a Hot statement cannot take an expanding parameter")
            sql = statement(compiled.string, generic=self._generic, footprint=self._footprint)
            found = self._compiled[key] = (sql, dict(compiled.params))
        return found

    def _commands(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Command]:
        columns = tuple(rows[0]) if isinstance(self.statement, ValuesBase) else ()
        stmt, defaults = self._sql(conn, columns)
        return [(stmt, {**defaults, **r}) for r in rows]

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Any]:
        """Every row, as named tuples (PostgreSQL) or SQLAlchemy rows."""
        return rows_together(conn, [(self, params)])[0]

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        rows = self.rows(conn, params)
        return rows[0][0] if rows else None

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Execute once per parameter set (all with the same keys; an INSERT, UPDATE or
        DELETE): the number of rows returned (with RETURNING) or else affected."""
        return run_together(conn, [(self, rows)])[0]

    def ahead(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Send this read with the transaction's next ``rows_together`` (PostgreSQL; elsewhere
        nothing): a ``rows`` of the same parameters afterwards costs no round trip."""
        if conn.dialect.name == "postgresql":
            conn.info.setdefault(AHEAD, []).append((self, params))

    def later(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write ``rows`` with the transaction's next statement or its commit (see above).

        For writes whose outcome nobody reads; on SQLite and outside a transaction, now.
        """
        if not rows:
            return
        if conn.dialect.name != "postgresql" or _driver(conn).autocommit:
            self.run(conn, rows)
            return
        _forget_reads(conn)
        conn.info.setdefault(QUEUED, []).extend(self._commands(conn, rows))

    def amend_queued(
        self, conn: Connection, where: Mapping[str, Any], values: Mapping[str, Any]
    ) -> bool:
        """Add ``values`` to the row of this INSERT that ``where`` names while it is still
        queued (``later``): one INSERT reaches the database instead of an INSERT and then an
        UPDATE of the same row.  False if no such row waits (SQLite: never)."""
        queued = conn.info.get(QUEUED) or []
        mine = {compiled for compiled, _ in self._compiled.values()}
        for i, (stmt, params) in enumerate(queued):
            if stmt in mine and all(params.get(k) == v for k, v in where.items()):
                row = {name: params[name] for name in stmt.names} | dict(values)
                queued[i] = self._commands(conn, [row])[0]
                return True
        return False


def rows_together(
    conn: Connection, queries: Sequence[tuple[Hot, Mapping[str, Any]]]
) -> list[Sequence[Any]]:
    """The rows of each query; on PostgreSQL all sent in one round trip (reads that do not
    depend on each other, such as the owners of a request's identifiers)."""
    if not queries:
        return []
    if conn.dialect.name != "postgresql":
        return [list(conn.execute(hot.statement, dict(p)).all()) for hot, p in queries]
    fetched: dict[Any, Sequence[Any]] | None = conn.info.get(FETCHED)
    if fetched:
        keys = [_read_key(hot, p) for hot, p in queries]
        if all(k in fetched for k in keys):
            return [fetched.pop(k) for k in keys]
    ahead: list[tuple[Hot, Mapping[str, Any]]] = conn.info.pop(AHEAD, None) or []
    commands = [c for hot, p in [*ahead, *queries] for c in hot._commands(conn, [p])]
    batch, results = _send(conn, commands)
    rows: list[Sequence[Any]] = [
        batch.rows(r, _row_maker(stmt, r)) if r.nfields else []
        for (stmt, _), r in zip(commands, results, strict=True)
    ]
    if ahead:
        conn.info[FETCHED] = {_read_key(h, p): r for (h, p), r in zip(ahead, rows, strict=False)}
    return rows[len(ahead) :]


def _read_key(hot: Hot, params: Mapping[str, Any]) -> tuple[Hot, tuple[Any, ...]]:
    return hot, tuple(sorted(params.items()))


def _forget_reads(conn: Connection) -> None:
    """Reads sent ahead are answered only until the transaction writes (or ends)."""
    conn.info.pop(AHEAD, None)
    conn.info.pop(FETCHED, None)


def run_together(
    conn: Connection, writes: Sequence[tuple[Hot, Sequence[Mapping[str, Any]]]]
) -> list[int]:
    """``Hot.run`` of each (statement, rows); on PostgreSQL all in one round trip."""
    if conn.dialect.name != "postgresql":
        counts = []
        for hot, rows in writes:
            if not rows:
                counts.append(0)
                continue
            if hot._returning:  # one row at a time: not every INSERT … RETURNING can batch
                counts.append(sum(len(conn.execute(hot.statement, dict(r)).all()) for r in rows))
                continue
            counts.append(int(conn.execute(hot.statement, [dict(r) for r in rows]).rowcount))
        return counts
    _forget_reads(conn)
    commands = [hot._commands(conn, rows) if rows else [] for hot, rows in writes]
    if not any(commands):
        return [0] * len(writes)
    _, results = _send(conn, [c for each in commands for c in each])
    counts, at = [], 0
    for (hot, _rows), sent in zip(writes, commands, strict=True):
        mine, at = results[at : at + len(sent)], at + len(sent)
        if hot._returning:
            counts.append(sum(r.ntuples for r in mine))
        else:
            counts.append(sum(r.command_tuples or 0 for r in mine))
    return counts


def _send(conn: Connection, commands: list[Command]) -> tuple[Batch, list[Any]]:
    """BEGIN if due, the queue, then ``commands``, in one round trip: their results."""
    driver = _driver(conn)
    sent = _opening(driver, [*coalesce(conn.info.pop(QUEUED, None) or []), *commands])
    batch = Batch(driver)
    return batch, batch.send(sent)[-len(commands) :]


def _opening(
    driver: psycopg.Connection[Any], commands: Sequence[Command | bytes]
) -> list[Command | bytes]:
    """``commands`` preceded by the ``BEGIN`` that opens the transaction, if it is not open
    yet: queued writes sent first must not commit on their own."""
    if not driver.autocommit and driver.info.transaction_status == TransactionStatus.IDLE:
        return [begin(driver), *commands]
    return list(commands)


#: Named-tuple constructors by SQL text: a statement's columns never change, so its result's
#: column names are read once (reading them costs as much as loading a row).
_row_makers: dict[bytes, Any] = {}


def _row_maker(stmt: Statement, result: Any) -> Any:
    make = _row_makers.get(stmt.query)
    if make is None:
        make = _row_makers[stmt.query] = _row_class(column_names(result))._make
    return make


@lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names, rename=True)


def _driver(conn: Connection) -> psycopg.Connection[Any]:
    return cast("psycopg.Connection[Any]", conn.connection.driver_connection)


def flush(conn: Connection) -> None:
    """Send what ``Hot.later`` queued on ``conn`` (one round trip), if anything."""
    _forget_reads(conn)
    queued: list[Command] | None = conn.info.pop(QUEUED, None)
    if queued:
        driver = _driver(conn)
        Batch(driver).send(_opening(driver, coalesce(queued)))


def commit_with_queue(conn: Connection) -> None:
    """Send the queue and ``COMMIT`` in one round trip (SQLAlchemy's own commit then finds
    the transaction closed and sends nothing)."""
    _forget_reads(conn)
    queued: list[Command] | None = conn.info.pop(QUEUED, None)
    if queued:
        driver = _driver(conn)
        try:
            Batch(driver).send(_opening(driver, [*coalesce(queued), b"COMMIT"]))
        except psycopg.Error:
            # SQLAlchemy counts the transaction as ended and would pool the connection with
            # it still open and failed: end it here.
            if not driver.closed:
                driver.rollback()
            raise


def discard_queue(conn: Connection) -> None:
    _forget_reads(conn)
    conn.info.pop(QUEUED, None)


def queue_on(engine: Engine) -> None:
    """Keep the queue's promises on ``engine`` (PostgreSQL): any SQLAlchemy statement sends it
    first, a commit sends it with ``COMMIT``, a rollback or a new checkout discards it."""
    event.listen(engine, "before_cursor_execute", lambda conn, *_: flush(conn))
    event.listen(engine, "commit", commit_with_queue)
    event.listen(engine, "rollback", discard_queue)
    event.listen(engine, "checkout", lambda _dbapi, record, _proxy: _fresh(record.info))


def _fresh(info: dict[str, Any]) -> None:
    for key in (QUEUED, AHEAD, FETCHED):
        info.pop(key, None)
