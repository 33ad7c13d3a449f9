"""mothers maiden name: the mother's maiden name of every patient, for PDQ / PDQm search

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00.000000

IHE ITI-21 (QPD-3 ``@PID.6``) and PDQm ITI-78 (``mothersMaidenName``, RULES.md 27) search by
the mother's maiden name (母亲姓名), which HL7 v2 feeds carry in PID-6 and FHIR in the extension
``patient-mothersMaidenName``.  Two columns hold it, stored as the patient's own name is: the
name as given (``name``) and its compact pinyin or Latin letters (``pinyin_key``), each with an
index for prefix ranges.  The indexes are partial (``IS NOT NULL``): most patients have no
mother's maiden name on record and then cost no index entry on registration; a prefix range
implies NOT NULL, so SQLite and PostgreSQL both use them.  No patient had one before, so there
is nothing to fill in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = (("mothers_maiden_name", 200), ("mothers_maiden_key", 1200))

# Plain ALTER TABLE ADD/DROP COLUMN on both backends (SQLite ≥ 3.35), as in 0007: a batch
# operation would rebuild ``patients`` on SQLite, which its foreign keys forbid once it holds
# patients.


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column("patients", sa.Column(name, sa.String(length=length), nullable=True))
        present = sa.text(f"{name} IS NOT NULL")
        op.create_index(
            f"ix_patients_{name}",
            "patients",
            [name],
            sqlite_where=present,
            postgresql_where=present,
        )


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_index(f"ix_patients_{name}", table_name="patients")
        op.drop_column("patients", name)
