"""Queued inserts of one statement travel as one multi-row ``INSERT`` (PostgreSQL).

Registrations answered together (``core.registration_turn``) queue their writes with
``Hot.later`` one record after the other: a patient, its version, phone, document, blocking
keys and card account, then the next patient's.  Sent as they were queued, sixteen
registrations were 97 statements in the commit's batch, each a ``Bind``/``Execute`` of its own
that the server parses, plans from cache, starts and ends; and the writer thread let go of the
interpreter's lock around every one of them (psycopg releases it around each libpq call), so
under load queueing them took it 2.24 ms for 0.57 ms of CPU, the rest waiting for the lock
(``bench/README.md``).  Here every row of a plain ``INSERT … VALUES`` joins the first queued
row of the same statement, and they go as ``VALUES (…), (…), …``: sixteen registrations are
22 statements, and PostgreSQL's CPU per registration fell by an eighth.

A row moves ahead of what was queued between it and the first row of its statement, so it
may do so only where nothing it could depend on lies in between (:func:`_blocks`): no write
of its own table (which row of two wins a conflict, what an ``UPDATE`` meets), none of a
table its foreign keys point to (the parent it names may be inserted there), and nothing whose
tables are not known (``sa.text``).  Such a write closes the statement's group; the next row
starts a new one after it.  Every row keeps its order within its statement, and what is not a
plain insert stays where it was, so the transaction writes exactly what it would have written.

The rows of a group go in chunks of 32, 16, 8, 4, 2 or 1 (the fewest of them that add up):
each chunk size is a statement of its own that every connection prepares once, so the sizes
are few.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.sql import ColumnElement, Executable, visitors
from sqlalchemy.sql.dml import Insert, UpdateBase

from ehcmpi.storage.wire import Command, Footprint, Statement

#: the most rows one statement carries (a power of two)
MOST_ROWS = 32
_VALUES = b" VALUES ("
#: an upsert's rows stay one per statement: PostgreSQL refuses one that meets a row twice
_UPSERT = b" DO UPDATE "
_PARAMETER = re.compile(rb"\$(\d+)")
_ONE_ROW = re.compile(rb"\((\$\d+(::[A-Z ]+)?)(, \$\d+(::[A-Z ]+)?)*\)")


def footprint(stmt: Executable, writes: Table | None = None) -> Footprint | None:
    """The tables an ``INSERT``, ``UPDATE`` or ``DELETE`` of a ``Table`` touches — or a text
    statement said to touch only the table it ``writes``; None for anything else (a read, a
    text statement that says nothing)."""
    if writes is not None:
        parents = _parents(writes)
        return Footprint(writes.name, parents, parents | {writes.name}, values=False)
    table = getattr(stmt, "table", None)
    if not isinstance(stmt, UpdateBase) or not isinstance(table, Table):
        return None
    parents = _parents(table)
    touched = {table.name, *parents}
    for element in visitors.iterate(stmt):
        if isinstance(element, Table):
            touched.add(element.name)
        elif isinstance(element, ColumnElement):
            owner = getattr(element, "table", None)
            if isinstance(owner, Table):
                touched.add(owner.name)
    plain = isinstance(stmt, Insert) and stmt.select is None and not stmt._multi_values
    return Footprint(table.name, parents, frozenset(touched), plain)


def _parents(table: Table) -> frozenset[str]:
    return frozenset(fk.column.table.name for fk in table.foreign_keys)


def coalesce(queued: Sequence[Command]) -> list[Command]:
    """``queued`` with the rows of each plain insert gathered into multi-row statements where
    that changes nothing the transaction writes (see the module's docstring)."""
    out: list[tuple[Statement, list[Mapping[str, Any]]] | Command] = []
    groups: dict[Statement, list[Mapping[str, Any]]] = {}  # open: rows may still join
    for stmt, params in queued:
        rows = groups.get(stmt)
        if rows is not None:
            rows.append(params)
            continue
        mark = stmt.footprint
        for other in [s for s in groups if _blocks(mark, s.footprint)]:
            del groups[other]
        if mark is not None and mark.values and _rows_statement(stmt, 2) is not None:
            groups[stmt] = [params]
            out.append((stmt, groups[stmt]))
        else:
            out.append((stmt, params))
    return [command for item in out for command in _chunks(item)]


def _blocks(between: Footprint | None, mover: Footprint | None) -> bool:
    """A row of ``mover`` may not move ahead of a write of ``between``."""
    if between is None or mover is None:
        return True
    if between.values:
        return between.written == mover.written or between.written in mover.parents
    return mover.written in between.touched or not between.touched.isdisjoint(mover.parents)


def _chunks(item: tuple[Statement, Any]) -> list[Command]:
    stmt, rows = item
    if not isinstance(rows, list):
        return [item]
    commands: list[Command] = []
    at = 0
    while at < len(rows):
        size = min(MOST_ROWS, 1 << ((len(rows) - at).bit_length() - 1))
        chunk = rows[at : at + size]
        at += size
        if size == 1:
            commands.append((stmt, chunk[0]))
            continue
        multi = _rows_statement(stmt, size)
        assert multi is not None  # checked when the group opened
        values = [row[name] for row in chunk for name in stmt.names]
        commands.append((multi, dict(zip(multi.names, values, strict=True))))
    return commands


@lru_cache(maxsize=512)
def _rows_statement(stmt: Statement, rows: int) -> Statement | None:
    """``stmt`` (an ``INSERT … VALUES (…)`` of one row) for ``rows`` rows; None if its text
    is not of that plain form."""
    query = stmt.query
    start = query.find(_VALUES)
    if start < 0 or query.find(_VALUES, start + 1) >= 0 or _UPSERT in query:
        return None
    one = _ONE_ROW.match(query, start + len(_VALUES) - 1)
    if one is None or _PARAMETER.search(query, one.end()):
        return None
    width = len(stmt.names)

    def shifted(by: int) -> bytes:
        return _PARAMETER.sub(lambda m: b"$%d" % (int(m.group(1)) + by), one.group())

    tuples = [shifted(r * width) for r in range(rows)]
    text = query[: one.start()] + b", ".join(tuples) + query[one.end() :]
    names = tuple(f"{name}#{r}" for r in range(rows) for name in stmt.names)
    return Statement(text, names, stmt.source, stmt.generic, stmt.footprint)
