"""Helpers every repository shares: insert-on-conflict (DESIGN: registration is idempotent
under concurrency — unique constraints and ``ON CONFLICT DO NOTHING``, never check-then-insert)
and UTC timestamps as both backends return them."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ehcmpi.storage.driver import Hot
from ehcmpi.storage.tables import patients as owners


@functools.cache
def insert_ignoring(dialect: str, table: sa.Table, key: str) -> Hot:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING key`` on ``table`` for ``dialect``."""
    module = postgresql if dialect == "postgresql" else sqlite
    return Hot(module.insert(table).on_conflict_do_nothing().returning(table.c[key]))


@functools.cache
def insert_ignoring_for_new(dialect: str, table: sa.Table, columns: tuple[str, ...]) -> Hot:
    """``insert_ignoring`` of a new patient's child rows (``columns``, ``mpi_id`` among them),
    written only if the patient row exists: sent in the same round trip as the patient's own
    insert-on-conflict, they are not written when that insert lost its race (and no
    foreign-key error aborts the transaction).  Returns ``id``."""
    module = postgresql if dialect == "postgresql" else sqlite
    params = {c: sa.bindparam(c, type_=table.c[c].type) for c in columns}
    values = sa.select(*params.values()).where(
        sa.exists().where(owners.c.mpi_id == params["mpi_id"])
    )
    insert = module.insert(table).from_select(list(columns), values)
    return Hot(insert.on_conflict_do_nothing().returning(table.c.id))


def insert_ignoring_conflicts(
    conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]], key: str
) -> int:
    """INSERT … ON CONFLICT DO NOTHING; the number of rows actually written."""
    return insert_ignoring(conn.dialect.name, table, key).run(conn, rows)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; every timestamp here is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
