"""match keys without a foreign key: a registration stops checking its patient six times

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 04:00:00.000000

Guideline §4.1.1 (患者身份识别 — blocking for candidate retrieval) and §4.1.2 (索引注册):
``match_keys`` is derived data, the blocking keys of a golden record, written in the same
transaction as the record and rewritten by the record whenever its demographics change
(``storage.links``).  Its foreign key to ``patients`` guarded nothing that can happen:
patients are never deleted (索引注销 cancels by status), and a key of an unknown ID would
only be a candidate that ``get_many`` leaves out.  But PostgreSQL checked it for each of a
record's six keys — a look-up of the patient by its primary key and a share lock on its row,
a trigger each — on every registration and feed.

New patients over HTTP, 2 workers, 32 connections, 20 s after 25 s of the same (about 55,000
patients), two alternating pairs: PostgreSQL's CPU per registration 0.428, 0.396 → 0.403,
0.375 ms; registrations/s 1,453, 1,531 → 1,519, 1,558.  On an empty database: 0.284, 0.285 →
0.268, 0.273 ms.

The rows and indexes are unchanged.  SQLite copies the table.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("match_keys", schema=None) as batch_op:
        batch_op.drop_constraint("fk_match_keys_mpi_id_patients", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("match_keys", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_match_keys_mpi_id_patients", "patients", ["mpi_id"], ["mpi_id"]
        )
