"""widen ehc_id columns: an EHC ID is 64 *or more* hex characters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00.000000

The EHC ID is SM4-ECB over ``doc_type ‖ doc_number`` zero-padded to 16-byte blocks, so a long
军官证 (up to 30 Chinese characters) or 其他法定有效证件 (up to 50 characters) number gives up
to 416 hex characters; ``VARCHAR(64)`` made PostgreSQL refuse those registrations.  SQLite does
not enforce VARCHAR lengths, and changing a column type there would rebuild referenced tables,
so only PostgreSQL is altered.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = (("patients", "ehc_id"), ("ehc_accounts", "ehc_id"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.String(512), existing_type=sa.String(64))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.String(64), existing_type=sa.String(512))
