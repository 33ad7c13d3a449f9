"""media: bindings of social-security cards and medical-insurance e-vouchers to patients

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:00:00.000000

Guideline §4.4 多卡（码）协同 (介质与电子健康卡 ID 的绑定关系), §4.4.2 多卡（码）协同管理.
Medium numbers are stored only as SM4-GCM ciphertext and HMAC-SM3 blind index (§6.3); at most
one active binding per medium (partial unique index on active rows).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
EhcId = sa.String(512)
ACTIVE = sa.text("ended_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "media_bindings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value_enc", sa.LargeBinary(), nullable=False),
        sa.Column("value_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("mpi_id", sa.String(length=64), nullable=False),
        sa.Column("ehc_id", EhcId, nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("bound_at", Timestamp, nullable=False),
        sa.Column("bound_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ended_at", Timestamp, nullable=True),
        sa.Column("ended_by", sa.String(length=200), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["mpi_id"],
            ["patients.mpi_id"],
            name=op.f("fk_media_bindings_mpi_id_patients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_bindings")),
    )
    with op.batch_alter_table("media_bindings", schema=None) as batch_op:
        batch_op.create_index("ix_media_bindings_mpi_id", ["mpi_id"], unique=False)
        batch_op.create_index("ix_media_bindings_value_bidx", ["value_bidx"], unique=False)
        batch_op.create_index(
            "uq_media_bindings_active",
            ["kind", "value_bidx"],
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("media_bindings", schema=None) as batch_op:
        batch_op.drop_index("uq_media_bindings_active")
        batch_op.drop_index("ix_media_bindings_value_bidx")
        batch_op.drop_index("ix_media_bindings_mpi_id")
    op.drop_table("media_bindings")
