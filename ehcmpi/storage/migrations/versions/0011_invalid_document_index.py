"""invalid documents get their own small index; valid ones keep only the unique one

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 14:00:00.000000

Guideline §4.4.1 (建档) and §5.2.1 (不满足电子健康卡生成规则的数据，保持现状): a valid document
number has one owner, kept by the partial unique index ``uq_patient_documents_valid_bidx``;
a number that failed its check stays on the source record, and matching looks such numbers
up too.  ``ix_patient_documents_number_bidx`` indexed every document's blind index a second
time, valid or not, so every registration wrote its 32-byte key, at a random place, into two
B-trees.  Lookups of valid numbers use the unique index; lookups of invalid ones now use
``ix_patient_documents_invalid_bidx``, which holds only invalid documents (a few per cent of
a hospital's records).  One B-tree insertion less per document registered, and less index
to keep in memory: the old index took 152 kB per 2,000 documents registered one by one, some
70 MB at 1,000,000.

PostgreSQL builds the new index while the table is locked (seconds at a million rows);
SQLite creates and drops the indexes in place, without copying the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patient_documents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_patient_documents_invalid_bidx",
            ["number_bidx"],
            unique=False,
            sqlite_where=sa.text("NOT valid"),
            postgresql_where=sa.text("NOT valid"),
        )
        batch_op.drop_index("ix_patient_documents_number_bidx")


def downgrade() -> None:
    with op.batch_alter_table("patient_documents", schema=None) as batch_op:
        batch_op.create_index("ix_patient_documents_number_bidx", ["number_bidx"], unique=False)
        batch_op.drop_index("ix_patient_documents_invalid_bidx")
