"""The outbox table (``core.outbox``): add, claim due items, mark delivered or failed.

``claim`` hides the items it returns from other senders by pushing ``next_attempt_at`` ahead
in the same statement's transaction, so two server processes never send the same item at
the same time (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: writers are serialised).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ehcmpi.core.model import OutboxItem
from ehcmpi.storage.jobs import _utc
from ehcmpi.storage.rows import aware
from ehcmpi.storage.tables import outbox

_o = outbox.c


class SqlOutboxRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, consumer: str, mpi_id: str, at: dt.datetime) -> None:
        at = _utc(at)
        self._conn.execute(
            outbox.insert().values(
                consumer=consumer, mpi_id=mpi_id, created_at=at, attempts=0, next_attempt_at=at
            )
        )

    def claim(self, now: dt.datetime, limit: int, hold_seconds: float) -> list[OutboxItem]:
        now = _utc(now)
        due = (
            sa.select(_o.id, _o.consumer, _o.mpi_id, _o.attempts, _o.created_at)
            .where(_o.delivered_at.is_(None), _o.next_attempt_at <= now)
            .order_by(_o.next_attempt_at, _o.id)
            .limit(limit)
        )
        if self._conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        items = [
            OutboxItem(r.id, r.consumer, r.mpi_id, r.attempts, aware(r.created_at))
            for r in self._conn.execute(due)
        ]
        if items:
            hold = now + dt.timedelta(seconds=hold_seconds)
            self._conn.execute(
                outbox.update().where(_o.id.in_([i.id for i in items])).values(next_attempt_at=hold)
            )
        return items

    def delivered(self, item_id: int, at: dt.datetime) -> None:
        self._conn.execute(
            outbox.update()
            .where(_o.id == item_id)
            .values(delivered_at=_utc(at), attempts=_o.attempts + 1, last_error=None)
        )

    def failed(self, item_id: int, error: str, retry_at: dt.datetime) -> None:
        self._conn.execute(
            outbox.update()
            .where(_o.id == item_id)
            .values(
                attempts=_o.attempts + 1, last_error=error[:2000], next_attempt_at=_utc(retry_at)
            )
        )

    def release(self, item_ids: Sequence[int], at: dt.datetime) -> None:
        if item_ids:
            self._conn.execute(
                outbox.update()
                .where(_o.id.in_(list(item_ids)), _o.delivered_at.is_(None))
                .values(next_attempt_at=_utc(at))
            )

    def pending(self, consumer: str | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(outbox).where(_o.delivered_at.is_(None))
        if consumer is not None:
            stmt = stmt.where(_o.consumer == consumer)
        return int(self._conn.execute(stmt).scalar_one())
