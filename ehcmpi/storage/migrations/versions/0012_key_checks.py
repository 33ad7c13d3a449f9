"""key checks: the database remembers the key set it was set up with

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 18:00:00.000000

Guideline §4.6 (密钥管理) and §6.3 (数据安全): document numbers and phones are found by their
HMAC-SM3 blind indexes, and EHC IDs are derived from the root key.  A server started on this
database with another key file (a restore onto a new machine, ``keys init`` run again, a wrong
``[keys] file``) found no returning patient and issued each a second record and EHC ID.  The
new table holds the key set's id and check value; ``storage.key_check`` writes it at the
first start and refuses other keys afterwards.  An existing database gets its row at the
first start after this migration, once a stored document opens with the keys given.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_checks",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("check_value", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_key_checks")),
    )


def downgrade() -> None:
    op.drop_table("key_checks")
