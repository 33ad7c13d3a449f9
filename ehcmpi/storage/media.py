"""SQL implementation of the media-binding port (``ehcmpi.core.ports.MediaRepository``).

Medium numbers are written as SM4-GCM ciphertext with an HMAC-SM3 blind index of kind
``medium.<kind>`` (guideline §6.3), as document numbers are; an active binding is inserted
with insert-on-conflict against the partial unique index on active rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ehcmpi.core.media import MediaBinding
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.storage.card_tables import media_bindings
from ehcmpi.storage.jobs import _utc
from ehcmpi.storage.rows import aware, insert_ignoring_conflicts

VALUE_CONTEXT = "medium.value"
_m = media_bindings.c
_ACTIVE = _m.ended_at.is_(None)


def medium_kind(kind: str) -> str:
    """The blind-index kind of a medium: equal numbers of different kinds never collide."""
    return f"medium.{kind}"


class SqlMediaRepository:
    def __init__(self, conn: Connection, crypto: CryptoProvider) -> None:
        self._conn = conn
        self._crypto = crypto

    def _binding(self, row: Any) -> MediaBinding:
        return MediaBinding(
            id=row.id,
            kind=row.kind,
            value=self._crypto.decrypt_field(row.value_enc, VALUE_CONTEXT),
            mpi_id=row.mpi_id,
            ehc_id=row.ehc_id,
            verified=bool(row.verified),
            bound_at=aware(row.bound_at),
            bound_by=row.bound_by,
            reason=row.reason,
            ended_at=aware(row.ended_at) if row.ended_at is not None else None,
            ended_by=row.ended_by,
            end_reason=row.end_reason,
        )

    def find_active(self, kind: str, value: str) -> MediaBinding | None:
        bidx = self._crypto.blind_index(medium_kind(kind), value)
        stmt = sa.select(media_bindings).where(_m.kind == kind, _m.value_bidx == bidx, _ACTIVE)
        row = self._conn.execute(stmt).first()
        return self._binding(row) if row is not None else None

    def add(self, binding: MediaBinding) -> bool:
        row = {
            "id": binding.id,
            "kind": binding.kind,
            "value_enc": self._crypto.encrypt_field(binding.value, VALUE_CONTEXT),
            "value_bidx": self._crypto.blind_index(medium_kind(binding.kind), binding.value),
            "mpi_id": binding.mpi_id,
            "ehc_id": binding.ehc_id,
            "verified": binding.verified,
            "bound_at": _utc(binding.bound_at),
            "bound_by": binding.bound_by[:200],
            "reason": binding.reason,
        }
        return insert_ignoring_conflicts(self._conn, media_bindings, [row], "id") == 1

    def end(self, binding_id: str, at: dt.datetime, actor: str, reason: str | None) -> bool:
        stmt = (
            media_bindings.update()
            .where(_m.id == binding_id, _ACTIVE)
            .values(ended_at=_utc(at), ended_by=actor[:200], end_reason=reason)
        )
        return self._conn.execute(stmt).rowcount == 1

    def mark_verified(self, binding_id: str) -> None:
        self._conn.execute(media_bindings.update().where(_m.id == binding_id).values(verified=True))

    def of_patient(self, mpi_id: str, *, include_ended: bool) -> list[MediaBinding]:
        stmt = sa.select(media_bindings).where(_m.mpi_id == mpi_id)
        if not include_ended:
            stmt = stmt.where(_ACTIVE)
        stmt = stmt.order_by(_m.bound_at, _m.id)
        return [self._binding(row) for row in self._conn.execute(stmt)]
