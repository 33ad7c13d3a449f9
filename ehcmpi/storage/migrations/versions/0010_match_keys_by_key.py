"""match keys by key: the primary key leads with the blocking key, mpi_id gets its own index

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 10:00:00.000000

Guideline §4.1.1 (患者身份识别 — blocking for candidate retrieval): every registration and
feed looks its blocking keys up in ``match_keys`` by key (``storage.links``), and a record's
keys are rewritten by its master-index ID when its demographics change.  The table had a
primary key (mpi_id, key_bidx) and a second index (key_bidx, mpi_id): both carried every
64-character ID and 32-byte key, six rows per patient.  The primary key is now
(key_bidx, mpi_id) — the index the lookups use — and mpi_id has an index of its own, in
which PostgreSQL keeps one entry per patient for its six rows (B-tree deduplication).
100,000 patients' keys on PostgreSQL 15: 276 MB → 193 MB (table 77 MB; indexes 100 + 99 MB →
98 + 18 MB): the second index a key is written to takes a posting in its patient's entry,
not a 96-byte tuple of its own.  At 1,000,000 patients about 0.8 GB less to keep in memory.

The rows are unchanged.  PostgreSQL builds the new indexes while the table is locked
(1,000,000 patients: six million rows, tens of seconds); SQLite copies the table.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("match_keys", schema=None) as batch_op:
        batch_op.create_index("ix_match_keys_mpi_id", ["mpi_id"], unique=False)
        batch_op.drop_constraint("pk_match_keys", type_="primary")
        batch_op.create_primary_key("pk_match_keys", ["key_bidx", "mpi_id"])
        batch_op.drop_index("ix_match_keys_key_bidx")


def downgrade() -> None:
    with op.batch_alter_table("match_keys", schema=None) as batch_op:
        batch_op.create_index("ix_match_keys_key_bidx", ["key_bidx", "mpi_id"], unique=False)
        batch_op.drop_constraint("pk_match_keys", type_="primary")
        batch_op.create_primary_key("pk_match_keys", ["mpi_id", "key_bidx"])
        batch_op.drop_index("ix_match_keys_mpi_id")
