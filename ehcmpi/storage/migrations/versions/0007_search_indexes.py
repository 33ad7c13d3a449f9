"""search indexes: name parts of every patient, for PDQ / PDQm search by family and given name

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000

IHE ITI-21 (QPD-3 @PID.5.1 / @PID.5.2) and PDQm ITI-78 (``family``, ``given``, ``name``) search
a name by its parts, in characters and in pinyin.  The full name and its pinyin were indexed
already; a given name alone, a family name's pinyin and a Latin-script name's last word were
not, so such a search read every patient.  Three columns hold them (``storage.search``
explains the keys), each with an index; existing patients get theirs here.

The family-name indexes (characters: ``name``; pinyin: ``family_key``) also carry gender,
status and mpi_id: PDQm's required combination family + gender then reads the index alone
(an index-only scan), however many patients share the family name, instead of one table page
per patient (1 M patients: 张 alone is ~10,000 of them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ehcmpi.storage.search import name_keys

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = (("family_key", 400), ("given_name", 200), ("given_key", 400))
COVERING = ("gender", "status", "mpi_id")
BATCH = 5000


def _backfill() -> None:
    conn = op.get_bind()
    patients = sa.table(
        "patients",
        sa.column("mpi_id", sa.String),
        sa.column("name", sa.String),
        *(sa.column(name, sa.String) for name, _ in COLUMNS),
    )
    update = (
        patients.update()
        .where(patients.c.mpi_id == sa.bindparam("id"))
        .values({name: sa.bindparam(f"new_{name}") for name, _ in COLUMNS})
    )
    after = ""
    while True:
        rows = conn.execute(
            sa.select(patients.c.mpi_id, patients.c.name)
            .where(patients.c.mpi_id > after, patients.c.name.is_not(None))
            .order_by(patients.c.mpi_id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            update,
            [
                {"id": r.mpi_id, **{f"new_{k}": v for k, v in name_keys(r.name).items()}}
                for r in rows
            ],
        )
        after = rows[-1].mpi_id


# Plain ALTER TABLE ADD/DROP COLUMN on both backends (SQLite ≥ 3.35): a batch operation
# would rebuild ``patients`` on SQLite, which its foreign keys forbid once it holds patients.


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column("patients", sa.Column(name, sa.String(length=length), nullable=True))
    _backfill()
    op.create_index("ix_patients_family_key", "patients", ["family_key", *COVERING])
    op.create_index("ix_patients_given_name", "patients", ["given_name"])
    op.create_index("ix_patients_given_key", "patients", ["given_key"])
    op.drop_index("ix_patients_name", table_name="patients")
    op.create_index("ix_patients_name", "patients", ["name", *COVERING])


def downgrade() -> None:
    op.drop_index("ix_patients_name", table_name="patients")
    op.create_index("ix_patients_name", "patients", ["name"])
    for name, _ in COLUMNS:
        op.drop_index(f"ix_patients_{name}", table_name="patients")
    for name, _ in reversed(COLUMNS):
        op.drop_column("patients", name)
