"""match keys looked up through a short index: the key's first 8 bytes and the ID's order

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 10:30:00.000000

Guideline §4.1.1 (患者身份识别 — blocking for candidate retrieval) and §4.1.2 (索引注册): every
registration and feed writes its new record's six blocking keys into ``match_keys`` and looks
up the keys of its demographics there, newest records first.  The primary key (key_bidx,
mpi_id) was that lookup's index: 112-byte entries (a 32-byte blind index and a 64-character
ID), six per patient, each at a random place — a blind index is an HMAC.  As the table grew
its pages left PostgreSQL's buffers, and after every checkpoint the first change to each page
wrote the whole page to the WAL: at 280,000 patients 10 kB of the 22 kB of WAL per
registration was this index.

The lookup index is now ``ix_match_keys_key`` (first 8 bytes of the blind index, the ID's
order): 24-byte entries.  ``mpi_order`` is the ID's first 16 hex digits as a number in the IDs'
own order (``storage.links.mpi_order``); a master-index ID begins with the millisecond it was
made, so "newest first" is unchanged.  The row keeps the whole blind index, which the lookup
compares as well; 8 bytes tell 2^64 keys apart, so the index itself almost never holds a
second key's entries under one prefix.  The table has no primary key any more: nothing looked
rows up by one, and ``ix_match_keys_mpi_id`` rewrites a record's keys.

New patients over HTTP, 2 workers, 32 connections, 10 s after 120 s of the same (about
300,000 patients): WAL per registration 22.3 → 13.9 kB, of it the lookup index's 10.2 → 3.4 kB
(``pg_walinspect``); the index 99 MB at 317,000 patients.  Alternating runs on two databases
growing alike: PostgreSQL's CPU per registration 0.418, 0.406 → 0.339, 0.333 ms at 170,000
and 230,000 patients (the same, 0.30 ms, at 115,000).

The table is copied, locked meanwhile (PostgreSQL: one ``INSERT … SELECT`` and two index
builds, 20 s for the six million keys of a million patients on the 2-core reference machine;
SQLite computes the order in Python).  The downgrade copies it back, whole keys and all.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")
# The same as _order below, in PostgreSQL's SQL: the first 64 bits with the top bit flipped.
_PG_ORDER = (
    "CASE WHEN mpi_id ~ '^[0-9A-Fa-f]{16}' "
    "THEN (('x' || substr(mpi_id, 1, 16))::bit(64) # x'8000000000000000')::bigint ELSE 0 END"
)


def _order(mpi_id: str) -> int:
    """``storage.links.mpi_order`` as of this revision (a migration keeps its own copy)."""
    head = mpi_id[:16]
    return int(head, 16) - (1 << 63) if _HEX16.fullmatch(head) else 0


def _copy(into: str, columns: str, select: str) -> None:
    op.execute(f"INSERT INTO {into} ({columns}) {select}")
    op.drop_table("match_keys")
    op.rename_table(into, "match_keys")
    op.create_index("ix_match_keys_mpi_id", "match_keys", ["mpi_id"], unique=False)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        order = _PG_ORDER
    else:
        bind.connection.driver_connection.create_function(  # type: ignore[union-attr]
            "ehcmpi_mpi_order", 1, _order, deterministic=True
        )
        order = "ehcmpi_mpi_order(mpi_id)"
    op.create_table(
        "match_keys_0014",
        sa.Column("mpi_id", sa.String(64), nullable=False),
        sa.Column("key_bidx", sa.LargeBinary(32), nullable=False),
        sa.Column("mpi_order", sa.BigInteger, nullable=False),
    )
    _copy(
        "match_keys_0014",
        "mpi_id, key_bidx, mpi_order",
        f"SELECT mpi_id, key_bidx, {order} FROM match_keys ORDER BY mpi_id",
    )
    op.execute("CREATE INDEX ix_match_keys_key ON match_keys (substr(key_bidx, 1, 8), mpi_order)")


def downgrade() -> None:
    op.create_table(
        "match_keys_0013",
        sa.Column("mpi_id", sa.String(64), nullable=False),
        sa.Column("key_bidx", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("key_bidx", "mpi_id", name="pk_match_keys"),
    )
    _copy(
        "match_keys_0013",
        "mpi_id, key_bidx",
        "SELECT DISTINCT mpi_id, key_bidx FROM match_keys",
    )
