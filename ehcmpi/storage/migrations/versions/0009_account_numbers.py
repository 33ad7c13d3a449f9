"""account numbers: patient account numbers (HL7 PID-18) for PDQ search

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 14:00:00.000000

IHE ITI-21 (RULES.md 18, 20): a PDQ Supplier supports QPD-3 ``@PID.18`` and answers PID-18
(R2).  ITI-8 / ITI-30 feeds carry the patient account number (CX: number and assigning
authority) in PID-18.  ``account_numbers`` holds one row per (system, value, record): an
account number is no identity document (plain text, like source identifier values) and, as
no identity, may be found on more than one record.  The index on ``value`` answers a query
by number with or without its authority; the one on ``mpi_id`` reads a page's accounts.
No patient had one before, so there is nothing to fill in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "account_numbers",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("mpi_id", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["mpi_id"], ["patients.mpi_id"], name=op.f("fk_account_numbers_mpi_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_numbers")),
        sa.UniqueConstraint(
            "system", "value", "mpi_id", name=op.f("uq_account_numbers_system_value_mpi_id")
        ),
    )
    op.create_index("ix_account_numbers_value", "account_numbers", ["value"])
    op.create_index("ix_account_numbers_mpi_id", "account_numbers", ["mpi_id"])


def downgrade() -> None:
    op.drop_index("ix_account_numbers_mpi_id", table_name="account_numbers")
    op.drop_index("ix_account_numbers_value", table_name="account_numbers")
    op.drop_table("account_numbers")
