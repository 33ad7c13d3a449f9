"""Hot statements executed on the database driver's own cursor (PostgreSQL).

Executing a compiled SQLAlchemy statement costs about 0.15 ms of Python per statement
(execution context, parameter processing, result proxy) — more than psycopg needs to send a
prepared statement and read its rows.  On the paths every request takes (a patient by ID, an
identifier lookup, a PIX cross-reference) that overhead was a quarter of the server's CPU
(``bench/search_bench.py``, read phase).  A :class:`Hot` statement is still written once, as
a SQLAlchemy construct; it is compiled to the dialect's SQL once and, on PostgreSQL, run on
the connection's psycopg cursor (prepared by psycopg after a few uses), rows coming back as
named tuples with the same attribute access as SQLAlchemy rows.  Other dialects (SQLite) run
it through SQLAlchemy as usual.

Only statements whose parameters are plain values qualify: an expanding ``IN`` list would need
rendering per call, which is what SQLAlchemy is for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler


class Hot:
    """One SQL statement, run with the least overhead the dialect allows."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, dict[str, Any]]] = {}

    def _sql(self, conn: Connection) -> tuple[str, dict[str, Any]]:
        name = conn.dialect.name
        found = self._compiled.get(name)
        if found is None:
            compiled = cast(
                SQLCompiler, cast(ClauseElement, self.statement).compile(dialect=conn.dialect)
            )
            if any(p.expanding for p in compiled.binds.values()):
                raise TypeError("a Hot statement cannot take an expanding parameter")
            found = self._compiled[name] = (compiled.string, dict(compiled.params))
        return found

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Any]:
        """Every row, as named tuples (PostgreSQL) or SQLAlchemy rows."""
        if conn.dialect.name != "postgresql":
            return list(conn.execute(self.statement, dict(params)).all())
        sql, defaults = self._sql(conn)
        cursor = conn.connection.driver_connection.cursor(row_factory=namedtuple_row)  # type: ignore[union-attr]
        try:
            cursor.execute(sql, {**defaults, **params})
            return cursor.fetchall() if cursor.description is not None else []
        finally:
            cursor.close()

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        rows = self.rows(conn, params)
        return rows[0][0] if rows else None
