"""Several statements in one round trip, on libpq's pipeline mode (PostgreSQL).

psycopg's cursor sends each statement with its own socket write and waits for its answer;
even in psycopg's pipeline mode every ``execute`` is a write and a poll of its own.  On a
loaded 2-core machine those system calls and context switches cost more CPU than the
statements (``bench/README.md``: five inserts and a commit took 0.76 ms of client CPU one
statement at a time, 0.14 ms as one batch).  A :class:`Batch` goes one level down, to the
``PGconn`` psycopg wraps: every statement is queued in libpq's buffer, then one Sync, one
write and the answers read back in order.  Parameters are adapted and rows loaded by
psycopg's own ``Transformer``, so values look exactly as psycopg's cursor gives them.

Statements are prepared on first use per connection (named ``ehcmpi_<n>``) and sent as
``Bind``/``Execute`` afterwards, as psycopg does for statements it sees often.  PostgreSQL
plans a prepared statement afresh for its parameters (a custom plan) whenever that looks
cheaper than its one generic plan, which it does every time for a statement whose row count
follows from a parameter (``unnest`` of an array, ``generate_series`` to a length): the
candidate search of ``storage.links`` took 0.12 ms to plan and 0.08 ms to run.  A
:class:`Statement` marked ``generic`` is sent between ``SET LOCAL plan_cache_mode =
force_generic_plan`` and ``SET LOCAL plan_cache_mode = DEFAULT`` (about 5 us of the server's
CPU each), so it runs on its generic plan and no other statement is affected; a rollback
undoes the setting with the rest.  On an autocommit connection it is planned as any other
(there ``SET LOCAL`` would warn in the server's log).  If a statement
fails, the rest of the batch is skipped by the server (pipeline aborted), the batch is read to
its end and the first error raised as psycopg's exception, leaving the transaction failed for
the caller's rollback.
"""

from __future__ import annotations

import itertools
import re
import select
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer

_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")
_names = itertools.count(1)
# Prepared statements of each psycopg connection: (query, parameter types) -> name.
_prepared: weakref.WeakKeyDictionary[psycopg.Connection[Any], dict[Any, bytes]] = (
    weakref.WeakKeyDictionary()
)

ExecStatus = pq.ExecStatus


@dataclass(frozen=True)
class Footprint:
    """The tables a write touches (``storage.coalesce`` moves queued inserts by it)."""

    #: the table written
    written: str
    #: the tables its foreign keys point to
    parents: frozenset[str]
    #: every table it reads or writes, ``written`` and ``parents`` included
    touched: frozenset[str]
    #: a plain ``INSERT … VALUES`` of one row: it reads no table but its own and the parents'
    values: bool


@dataclass(frozen=True, eq=False)
class Statement:
    """A statement in the server's own form: ``$n`` placeholders and their parameter names
    (``source``: as SQLAlchemy rendered it, with ``%(name)s`` placeholders).  One object per
    text (:func:`statement` keeps them), so it compares and hashes by identity: cheap, as
    a key of the queue's groups (``storage.coalesce``)."""

    query: bytes
    names: tuple[str, ...]
    source: str
    #: run on the generic plan, never planned for its parameters (inside a transaction)
    generic: bool = False
    #: what it writes, if it is a write whose tables are known
    footprint: Footprint | None = None


@lru_cache(maxsize=1024)
def statement(
    pyformat_sql: str, *, generic: bool = False, footprint: Footprint | None = None
) -> Statement:
    """Convert psycopg's ``%(name)s`` placeholders (SQLAlchemy's rendering) to ``$n``."""
    order: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in order:
            order[name] = len(order) + 1
        return f"${order[name]}"

    query = _PLACEHOLDER.sub(number, pyformat_sql).encode()
    return Statement(query, tuple(order), pyformat_sql, generic, footprint)


Command = tuple[Statement, Mapping[str, Any]]
_GENERIC = b"SET LOCAL plan_cache_mode = force_generic_plan"
_PLANNED = b"SET LOCAL plan_cache_mode = DEFAULT"


class Batch:
    """Commands sent together; ``send`` returns each command's ``PGresult`` in order."""

    def __init__(self, driver: psycopg.Connection[Any]) -> None:
        self._driver = driver
        self._pg = driver.pgconn
        self._tx = Transformer(driver)
        self._known = _prepared.setdefault(driver, {})
        self._new: list[Any] = []
        self._set_local = not driver.autocommit  # SET LOCAL needs a transaction

    def send(self, commands: Sequence[Command | bytes]) -> list[pq.abc.PGresult]:
        """Run ``commands`` (a ``bytes`` item is a parameterless command such as ``BEGIN``):
        each one's result, in order."""
        pg = self._pg
        hidden: list[bool] = []  # per message sent: ours (a Parse, a SET: True) or a command
        pg.enter_pipeline_mode()
        try:
            for command in commands:
                if isinstance(command, bytes):
                    pg.send_query_params(command, None)
                    hidden.append(False)
                else:
                    hidden.extend(self._queue(*command))
            pg.pipeline_sync()
            answers = self._receive(len(hidden))
        except BaseException:
            self._forget_new()
            raise
        finally:
            if pg.pipeline_status != pq.PipelineStatus.OFF:
                try:
                    pg.exit_pipeline_mode()
                except psycopg.Error:  # answers still pending: the connection is lost anyway
                    self._driver.close()
        failed = next((r for r in answers if r.status == ExecStatus.FATAL_ERROR), None)
        if failed is not None:
            error = errors.error_from_result(failed, encoding=self._driver.info.encoding)
            if isinstance(error, errors.InvalidSqlStatementName):
                self._known.clear()  # deallocated behind our back: prepare afresh next time
            self._forget_new()
            raise error
        return [r for r, ours in zip(answers, hidden, strict=True) if not ours]

    def _forget_new(self) -> None:
        """After a failure the server may have skipped this batch's prepares: redo them."""
        for key in self._new:
            self._known.pop(key, None)

    def _queue(self, stmt: Statement, params: Mapping[str, Any]) -> list[bool]:
        """Send one statement (prepared first if new here, between its plan settings if
        ``generic``): per message sent, True if its result is ours, not the caller's."""
        pg = self._pg
        values = [params[name] for name in stmt.names]
        dumped = self._tx.dump_sequence(values, [PyFormat.AUTO] * len(values))
        types, formats = self._tx.types, self._tx.formats
        key = (stmt.query, types)
        name = self._known.get(key)
        sent = []
        if name is None:
            name = self._known[key] = f"ehcmpi_{next(_names)}".encode()
            self._new.append(key)
            pg.send_prepare(name, stmt.query, param_types=types)
            sent.append(True)
        generic = stmt.generic and self._set_local
        if generic:
            pg.send_query_params(_GENERIC, None)
        pg.send_query_prepared(name, dumped, param_formats=formats)
        if not generic:
            return [*sent, False]
        pg.send_query_params(_PLANNED, None)
        return [*sent, True, False, True]

    def _receive(self, count: int) -> list[pq.abc.PGresult]:
        """One result per message sent, up to the Sync."""
        pg = self._pg
        while pg.flush():
            _wait(pg.socket, select.POLLOUT)
        results: list[pq.abc.PGresult] = []
        while True:
            while pg.is_busy():
                _wait(pg.socket, select.POLLIN)
                pg.consume_input()
            result = pg.get_result()
            if result is None:
                continue  # the end of one message's results
            if result.status == ExecStatus.PIPELINE_SYNC:
                break
            results.append(result)
        if len(results) != count:
            raise psycopg.InterfaceError(f"expected {count} results, got {len(results)}")
        return results

    def rows(self, result: pq.abc.PGresult, make_row: Callable[[Sequence[Any]], Any]) -> list[Any]:
        """The rows of one result, loaded as psycopg loads them."""
        self._tx.set_pgresult(result)
        return self._tx.load_rows(0, result.ntuples, make_row)


def _wait(fileno: int, event: int) -> None:
    poller = select.poll()
    poller.register(fileno, event)
    poller.poll()


def begin(driver: psycopg.Connection[Any]) -> bytes:
    """The ``BEGIN`` psycopg would send for this connection's transaction settings."""
    parts = [b"BEGIN"]
    if driver.isolation_level is not None:
        parts += [b"ISOLATION LEVEL", driver.isolation_level.name.replace("_", " ").encode()]
    if driver.read_only is not None:
        parts.append(b"READ ONLY" if driver.read_only else b"READ WRITE")
    if driver.deferrable is not None:
        parts.append(b"DEFERRABLE" if driver.deferrable else b"NOT DEFERRABLE")
    return b" ".join(parts)


def column_names(result: pq.abc.PGresult) -> tuple[str, ...]:
    return tuple((result.fname(i) or b"").decode() for i in range(result.nfields))
