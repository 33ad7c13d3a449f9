"""links: source-record links, decisions, review tasks, merges, blocking keys, scheduled jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00.000000

Guideline §4.1.1 索引合并, 索引拆分, 索引定时任务.  Source records are the existing
``source_identifiers`` rows (unique (system, value), NOT NULL mpi_id: each links to exactly one
golden record); they gain their link state, origin, weight, deciding decision and the encrypted
demographics the source sent.  Existing rows become AUTO MATCH links without demographics.
Blocking keys and merged document numbers are stored only as blind index / ciphertext (§6.3).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
OPEN = sa.text("status = 'OPEN'")


def _source_columns() -> None:
    with op.batch_alter_table("source_identifiers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("link_state", sa.String(length=16), server_default="MATCH", nullable=False)
        )
        batch_op.add_column(
            sa.Column("link_origin", sa.String(length=8), server_default="AUTO", nullable=False)
        )
        batch_op.add_column(sa.Column("weight", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("decision_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("record_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", Timestamp, nullable=True))


def _link_tables() -> None:
    op.create_table(
        "link_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("from_mpi_id", sa.String(length=64), nullable=True),
        sa.Column("to_mpi_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("merge_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_events")),
    )
    with op.batch_alter_table("link_events", schema=None) as batch_op:
        batch_op.create_index("ix_link_events_from_mpi_id", ["from_mpi_id"], unique=False)
        batch_op.create_index("ix_link_events_system_value", ["system", "value"], unique=False)
        batch_op.create_index("ix_link_events_to_mpi_id", ["to_mpi_id"], unique=False)

    op.create_table(
        "match_decisions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("candidate", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("rules_version", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("system", sa.String(length=255), nullable=True),
        sa.Column("value", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_decisions")),
    )
    with op.batch_alter_table("match_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_match_decisions_candidate", ["candidate"], unique=False)
        batch_op.create_index(
            "ix_match_decisions_subject_candidate", ["subject", "candidate"], unique=False
        )

    op.create_table(
        "review_tasks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("mpi_id", sa.String(length=64), nullable=False),
        sa.Column("candidate", sa.String(length=64), nullable=False),
        sa.Column("pair_key", sa.String(length=130), nullable=False),
        sa.Column("decision_id", sa.String(length=64), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("system", sa.String(length=255), nullable=True),
        sa.Column("value", sa.String(length=255), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_tasks")),
    )
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_review_tasks_candidate", ["candidate"], unique=False)
        batch_op.create_index("ix_review_tasks_mpi_id", ["mpi_id"], unique=False)
        batch_op.create_index("ix_review_tasks_status_weight", ["status", "weight"], unique=False)
        batch_op.create_index(
            "uq_review_tasks_open_pair",
            ["pair_key"],
            unique=True,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        )

    op.create_table(
        "merges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("survivor", sa.String(length=64), nullable=False),
        sa.Column("retired", sa.String(length=64), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("documents_enc", sa.LargeBinary(), nullable=False),
        sa.Column("ehc_ids", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reversed_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merges")),
    )
    with op.batch_alter_table("merges", schema=None) as batch_op:
        batch_op.create_index("ix_merges_survivor_retired", ["survivor", "retired"], unique=False)

    op.create_table(
        "match_keys",
        sa.Column("mpi_id", sa.String(length=64), nullable=False),
        sa.Column("key_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["mpi_id"], ["patients.mpi_id"], name=op.f("fk_match_keys_mpi_id_patients")
        ),
        sa.PrimaryKeyConstraint("mpi_id", "key_bidx", name=op.f("pk_match_keys")),
    )
    with op.batch_alter_table("match_keys", schema=None) as batch_op:
        batch_op.create_index("ix_match_keys_key_bidx", ["key_bidx", "mpi_id"], unique=False)


def _job_tables() -> None:
    op.create_table(
        "job_schedules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", Timestamp, nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_schedules")),
    )
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("examined", sa.Integer(), nullable=False),
        sa.Column("merged", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index("ix_job_runs_job_started_at", ["job", "started_at"], unique=False)


def upgrade() -> None:
    _source_columns()
    _link_tables()
    _job_tables()


def downgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_runs_job_started_at")
    op.drop_table("job_runs")
    op.drop_table("job_leases")
    op.drop_table("job_schedules")

    with op.batch_alter_table("match_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_match_keys_key_bidx")
    op.drop_table("match_keys")
    with op.batch_alter_table("merges", schema=None) as batch_op:
        batch_op.drop_index("ix_merges_survivor_retired")
    op.drop_table("merges")
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.drop_index("uq_review_tasks_open_pair", sqlite_where=OPEN, postgresql_where=OPEN)
        batch_op.drop_index("ix_review_tasks_status_weight")
        batch_op.drop_index("ix_review_tasks_mpi_id")
        batch_op.drop_index("ix_review_tasks_candidate")
    op.drop_table("review_tasks")
    with op.batch_alter_table("match_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_match_decisions_subject_candidate")
        batch_op.drop_index("ix_match_decisions_candidate")
    op.drop_table("match_decisions")
    with op.batch_alter_table("link_events", schema=None) as batch_op:
        batch_op.drop_index("ix_link_events_to_mpi_id")
        batch_op.drop_index("ix_link_events_system_value")
        batch_op.drop_index("ix_link_events_from_mpi_id")
    op.drop_table("link_events")

    # Source records become plain identifiers again; their links (mpi_id) are kept.
    with op.batch_alter_table("source_identifiers", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("record_enc")
        batch_op.drop_column("decision_id")
        batch_op.drop_column("weight")
        batch_op.drop_column("link_origin")
        batch_op.drop_column("link_state")
