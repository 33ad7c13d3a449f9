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


@functools.cache
def insert_ignoring(dialect: str, table: sa.Table, key: str) -> Hot:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING key`` on ``table`` for ``dialect``."""
    module = postgresql if dialect == "postgresql" else sqlite
    return Hot(module.insert(table).on_conflict_do_nothing().returning(table.c[key]))


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
