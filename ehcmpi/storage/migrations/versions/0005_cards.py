"""cards: EHC account history, reader terminals, client apps, QR records and use counters

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 09:00:00.000000

Guideline §4.2 电子健康卡服务: §4.2.1 识读终端管理 / 客户端应用软件管理, §4.2.2 账户生命周期,
§4.2.3 二维码的生成和验证记录.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
EhcId = sa.String(512)


def upgrade() -> None:
    op.create_table(
        "ehc_account_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("ehc_id", EhcId, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ehc_account_events")),
    )
    op.create_index("ix_ehc_account_events_ehc_id", "ehc_account_events", ["ehc_id"])
    op.create_table(
        "reader_terminals",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("org_code", sa.String(length=18), nullable=False),
        sa.Column("dept_code", sa.String(length=4), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_reader_terminals")),
    )
    op.create_table(
        "client_apps",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_client_apps")),
    )
    op.create_table(
        "qr_records",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("event", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("ehc_id", EhcId, nullable=True),
        sa.Column("mpi_id", sa.String(length=64), nullable=True),
        sa.Column("dynamic", sa.Boolean(), nullable=True),
        sa.Column("terminal", sa.String(length=64), nullable=True),
        sa.Column("app", sa.String(length=64), nullable=True),
        sa.Column("care_step", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_records")),
    )
    op.create_index("ix_qr_records_at", "qr_records", ["at"])
    op.create_index("ix_qr_records_terminal_at", "qr_records", ["terminal", "at"])
    op.create_index("ix_qr_records_ehc_id", "qr_records", ["ehc_id"])
    op.create_table(
        "qr_uses",
        sa.Column("code_key", sa.String(length=64), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("code_key", name=op.f("pk_qr_uses")),
    )
    op.create_index("ix_qr_uses_expires_at", "qr_uses", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_qr_uses_expires_at", table_name="qr_uses")
    op.drop_table("qr_uses")
    for index in ("ix_qr_records_ehc_id", "ix_qr_records_terminal_at", "ix_qr_records_at"):
        op.drop_index(index, table_name="qr_records")
    op.drop_table("qr_records")
    op.drop_table("client_apps")
    op.drop_table("reader_terminals")
    op.drop_index("ix_ehc_account_events_ehc_id", table_name="ehc_account_events")
    op.drop_table("ehc_account_events")
