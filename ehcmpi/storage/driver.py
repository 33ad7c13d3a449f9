"""Hot statements executed on the database driver's own cursor (PostgreSQL).

Executing a compiled SQLAlchemy statement costs about 0.15 ms of Python per statement
(execution context, parameter processing, result proxy) — more than psycopg needs to send a
prepared statement and read its rows.  On the paths every request takes (a patient by ID, an
identifier lookup, a PIX cross-reference, a registration's inserts) that overhead was a
quarter of the server's CPU (``bench/search_bench.py``, read phase).  A :class:`Hot`
statement is still written once, as a SQLAlchemy construct; it is compiled to the dialect's
SQL once (per set of inserted or updated columns) and, on PostgreSQL, run on the connection's
psycopg cursor (prepared by psycopg after a few uses), rows coming back as named tuples with
the same attribute access as SQLAlchemy rows.  Other dialects (SQLite) run it through
SQLAlchemy as usual, so both paths run under the test suite.

Only statements whose parameters are plain values qualify: an expanding ``IN`` list would need
rendering per call, which is what SQLAlchemy is for.  Columns get no Python-side defaults
here: the tables have none (server defaults apply as usual).  A connection the server dropped
fails here with psycopg's own error; the unit of work's rollback then meets the dead
connection in SQLAlchemy, which invalidates the pool as it would for its own statements, so
one caller sees the error and the next checkout connects afresh (``tests/storage``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from psycopg import Cursor
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import ValuesBase


class Hot:
    """One SQL statement, run with the least overhead the dialect allows."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[str, dict[str, Any]]] = {}

    def _sql(self, conn: Connection, columns: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
        key = (conn.dialect.name, columns)
        found = self._compiled.get(key)
        if found is None:
            statement = cast(ClauseElement, self.statement)
            keys = list(columns) if isinstance(self.statement, ValuesBase) else None
            compiled = cast(SQLCompiler, statement.compile(dialect=conn.dialect, column_keys=keys))
            if any(p.expanding for p in compiled.binds.values()):
                raise TypeError("a Hot statement cannot take an expanding parameter")
            found = self._compiled[key] = (compiled.string, dict(compiled.params))
        return found

    def _cursor(self, conn: Connection) -> Cursor[Any]:
        driver = conn.connection.driver_connection
        return driver.cursor(row_factory=namedtuple_row)  # type: ignore[union-attr,no-any-return]

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Any]:
        """Every row, as named tuples (PostgreSQL) or SQLAlchemy rows."""
        if conn.dialect.name != "postgresql":
            return list(conn.execute(self.statement, dict(params)).all())
        sql, defaults = self._sql(
            conn, tuple(params) if isinstance(self.statement, ValuesBase) else ()
        )
        with self._cursor(conn) as cursor:
            cursor.execute(sql, {**defaults, **params})
            return cursor.fetchall() if cursor.description is not None else []

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        rows = self.rows(conn, params)
        return rows[0][0] if rows else None

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Execute once per parameter set (all with the same keys; an INSERT, UPDATE or
        DELETE): the number of rows returned (with RETURNING) or else affected."""
        if not rows:
            return 0
        if conn.dialect.name != "postgresql":
            result = conn.execute(self.statement, [dict(r) for r in rows])
            return len(result.all()) if result.returns_rows else int(result.rowcount)
        sql, defaults = self._sql(conn, tuple(rows[0]))
        with self._cursor(conn) as cursor:
            if len(rows) == 1:
                cursor.execute(sql, {**defaults, **rows[0]})
                return len(cursor.fetchall()) if cursor.description is not None else cursor.rowcount
            params = [{**defaults, **r} for r in rows] if defaults else rows
            returning = getattr(self.statement, "_returning", ())
            cursor.executemany(sql, params, returning=bool(returning))
            if not returning:
                return cursor.rowcount
            count = 0
            while True:
                count += len(cursor.fetchall())
                if not cursor.nextset():
                    return count
