"""Database schema (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Document and phone numbers are stored only as SM4-GCM ciphertext plus an HMAC-SM3 blind index
for exact lookup (guideline §6.3 数据存储安全, §6.1 SM3/SM4): a raw ``SELECT`` shows no plaintext
ID number.  Uniqueness that registration relies on lives here, not in code: a valid
document's blind index, a source identifier (system, value), an EHC ID, an archive number, one
open review task per pair of golden records.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
# 64 hex characters for most documents; long 04/99 numbers give up to 416 (migration 0002).
EhcId = sa.String(512)

patients = sa.Table(
    "patients",
    metadata,
    sa.Column("mpi_id", sa.String(64), primary_key=True),
    sa.Column("ehc_id", EhcId, unique=True),
    sa.Column("archive_no", sa.String(32), unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("parent_id", sa.String(64)),
    sa.Column("name", sa.String(200)),
    sa.Column("name_pinyin", sa.String(400)),
    sa.Column("pinyin_key", sa.String(400)),
    sa.Column("gender", sa.String(1)),
    sa.Column("birth_date", sa.Date),
    sa.Column("ethnicity", sa.String(2)),
    sa.Column("addresses", sa.Text),
    sa.Column("data_quality", sa.Text),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    # With gender, status and mpi_id a family-name search (PDQm: family + gender) reads the
    # index alone, however many patients share the family name (migration 0007).
    sa.Index("ix_patients_name", "name", "gender", "status", "mpi_id"),
    sa.Index("ix_patients_pinyin_key", "pinyin_key"),
    sa.Index("ix_patients_birth_date", "birth_date"),
    # Name parts for search (PDQ ITI-21, PDQm ITI-78; migration 0007): family name in pinyin
    # or a Latin name's first word, given name in characters, given name in pinyin or a Latin
    # name's last word (``storage.search``).
    sa.Column("family_key", sa.String(400)),
    sa.Column("given_name", sa.String(200)),
    sa.Column("given_key", sa.String(400)),
    sa.Index("ix_patients_family_key", "family_key", "gender", "status", "mpi_id"),
    sa.Index("ix_patients_given_name", "given_name"),
    sa.Index("ix_patients_given_key", "given_key"),
    # The mother's maiden name (PDQ ITI-21 @PID.6, PDQm mothersMaidenName; migration 0008):
    # as given, like ``name``, and its compact pinyin (or Latin letters), like ``pinyin_key``;
    # 200 characters of up to six pinyin letters each.  Partial indexes: a patient without
    # one costs no index entry (a prefix range implies NOT NULL, so both backends use them).
    sa.Column("mothers_maiden_name", sa.String(200)),
    sa.Column("mothers_maiden_key", sa.String(1200)),
    sa.Index(
        "ix_patients_mothers_maiden_name",
        "mothers_maiden_name",
        sqlite_where=sa.text("mothers_maiden_name IS NOT NULL"),
        postgresql_where=sa.text("mothers_maiden_name IS NOT NULL"),
    ),
    sa.Index(
        "ix_patients_mothers_maiden_key",
        "mothers_maiden_key",
        sqlite_where=sa.text("mothers_maiden_key IS NOT NULL"),
        postgresql_where=sa.text("mothers_maiden_key IS NOT NULL"),
    ),
)

#: The conditions of the partial indexes on documents.  Lookups use these same texts
#: (``storage.patient_sql``): SQLite uses a partial index only for a condition written as the
#: index's is (``valid = 1``, SQLAlchemy's rendering of the column, would scan the table).
VALID_DOCUMENT = "valid"
INVALID_DOCUMENT = "NOT valid"

patient_documents = sa.Table(
    "patient_documents",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("mpi_id", sa.String(64), sa.ForeignKey("patients.mpi_id"), nullable=False),
    sa.Column("doc_type", sa.String(2), nullable=False),
    sa.Column("number_enc", sa.LargeBinary, nullable=False),
    sa.Column("number_bidx", sa.LargeBinary(32), nullable=False),
    sa.Column("valid", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("is_primary", sa.Boolean, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_patient_documents_mpi_id", "mpi_id"),
    # One owner per valid document: the key registration's insert-on-conflict relies on, and
    # the index lookups of valid numbers use.  Invalid numbers (§5.2.1) have their own, small
    # index (migration 0011).
    sa.Index(
        "uq_patient_documents_valid_bidx",
        "number_bidx",
        unique=True,
        sqlite_where=sa.text(VALID_DOCUMENT),
        postgresql_where=sa.text(VALID_DOCUMENT),
    ),
    sa.Index(
        "ix_patient_documents_invalid_bidx",
        "number_bidx",
        sqlite_where=sa.text(INVALID_DOCUMENT),
        postgresql_where=sa.text(INVALID_DOCUMENT),
    ),
)

source_identifiers = sa.Table(
    "source_identifiers",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("mpi_id", sa.String(64), sa.ForeignKey("patients.mpi_id"), nullable=False),
    sa.Column("system", sa.String(255), nullable=False),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # The source record's link (§4.1.1 索引合并/拆分, migration 0003).  One row per (system,
    # value) with a NOT NULL mpi_id: each source record links to exactly one golden record.
    sa.Column("link_state", sa.String(16), nullable=False, server_default="MATCH"),
    sa.Column("link_origin", sa.String(8), nullable=False, server_default="AUTO"),
    sa.Column("weight", sa.Float),
    sa.Column("decision_id", sa.String(64)),
    # Demographics and documents as the source sent them: encrypted JSON (document numbers,
    # phones).  NULL for identifiers recorded before 0003 or without demographics.
    sa.Column("record_enc", sa.LargeBinary),
    sa.Column("updated_at", Timestamp),
    sa.UniqueConstraint("system", "value"),
    sa.Index("ix_source_identifiers_mpi_id", "mpi_id"),
)

#: Patient account numbers (HL7 PID-18, CX; IHE ITI-21 ``@PID.18``, migration 0009): no
#: identity, so plain text like source identifier values, and one number may be on several
#: records (UNIQUE per record).  ``system`` is the account's assigning authority.
account_numbers = sa.Table(
    "account_numbers",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("mpi_id", sa.String(64), sa.ForeignKey("patients.mpi_id"), nullable=False),
    sa.Column("system", sa.String(255), nullable=False),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("system", "value", "mpi_id"),
    sa.Index("ix_account_numbers_value", "value"),
    sa.Index("ix_account_numbers_mpi_id", "mpi_id"),
)

patient_phones = sa.Table(
    "patient_phones",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("mpi_id", sa.String(64), sa.ForeignKey("patients.mpi_id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("phone_enc", sa.LargeBinary, nullable=False),
    sa.Column("phone_bidx", sa.LargeBinary(32), nullable=False),
    sa.Index("ix_patient_phones_mpi_id", "mpi_id"),
    sa.Index("ix_patient_phones_phone_bidx", "phone_bidx"),
)

patient_versions = sa.Table(
    "patient_versions",
    metadata,
    sa.Column("mpi_id", sa.String(64), sa.ForeignKey("patients.mpi_id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    # The whole record as encrypted JSON: history holds document numbers too.
    sa.Column("snapshot_enc", sa.LargeBinary, nullable=False),
)

ehc_accounts = sa.Table(
    "ehc_accounts",
    metadata,
    sa.Column("ehc_id", EhcId, primary_key=True),
    sa.Column("mpi_id", sa.String(64), sa.ForeignKey("patients.mpi_id"), nullable=False),
    sa.Column("doc_type", sa.String(2), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("issued_at", Timestamp, nullable=False),
    sa.Index("ix_ehc_accounts_mpi_id", "mpi_id"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(64), nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("target", sa.String(64)),
    sa.Column("detail", sa.Text),
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_target", "target"),
)

# --- links, merges and scheduled jobs (§4.1.1 索引合并, 索引拆分, 索引定时任务; migration 0003) ---

link_events = sa.Table(
    "link_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("system", sa.String(255), nullable=False),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Column("from_mpi_id", sa.String(64)),
    sa.Column("to_mpi_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("origin", sa.String(8), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("merge_id", sa.String(64)),
    sa.Index("ix_link_events_to_mpi_id", "to_mpi_id"),
    sa.Index("ix_link_events_from_mpi_id", "from_mpi_id"),
    sa.Index("ix_link_events_system_value", "system", "value"),
)

match_decisions = sa.Table(
    "match_decisions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("subject", sa.String(64), nullable=False),
    sa.Column("candidate", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("origin", sa.String(8), nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),  # JSON [[name, level, weight], …]
    sa.Column("rules_version", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("system", sa.String(255)),
    sa.Column("value", sa.String(255)),
    sa.Index("ix_match_decisions_subject_candidate", "subject", "candidate"),
    sa.Index("ix_match_decisions_candidate", "candidate"),
)

review_tasks = sa.Table(
    "review_tasks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("mpi_id", sa.String(64), nullable=False),
    sa.Column("candidate", sa.String(64), nullable=False),
    # The two mpi_ids sorted and joined: the same pair in either order has the same key.
    sa.Column("pair_key", sa.String(130), nullable=False),
    sa.Column("decision_id", sa.String(64), nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("system", sa.String(255)),
    sa.Column("value", sa.String(255)),
    sa.Column("resolution", sa.String(16)),
    sa.Column("resolved_by", sa.String(200)),
    sa.Column("resolved_at", Timestamp),
    sa.Index("ix_review_tasks_status_weight", "status", "weight"),
    sa.Index("ix_review_tasks_mpi_id", "mpi_id"),
    sa.Index("ix_review_tasks_candidate", "candidate"),
    # One open task per pair, whoever queues it: the key add_task's insert-on-conflict uses.
    sa.Index(
        "uq_review_tasks_open_pair",
        "pair_key",
        unique=True,
        sqlite_where=sa.text("status = 'OPEN'"),
        postgresql_where=sa.text("status = 'OPEN'"),
    ),
)

merges = sa.Table(
    "merges",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("survivor", sa.String(64), nullable=False),
    sa.Column("retired", sa.String(64), nullable=False),
    sa.Column("sources", sa.Text, nullable=False),  # JSON [[system, value], …]
    # JSON [[doc_type, number], …] as SM4-GCM ciphertext: it holds document numbers.
    sa.Column("documents_enc", sa.LargeBinary, nullable=False),
    sa.Column("ehc_ids", sa.Text, nullable=False),  # JSON [ehc_id, …]
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("reversed_at", Timestamp),
    sa.Index("ix_merges_survivor_retired", "survivor", "retired"),
)

# Blocking keys of golden records as HMAC-SM3 blind indexes: a key holds a document number or
# a phone, so it is never stored in plaintext (§6.3).  Derived from the record and written with
# it: no foreign key, which PostgreSQL checked once per key (migration 0013).
#: Bytes of a blind index that ``ix_match_keys_key`` holds (migration 0014).
MATCH_KEY_PREFIX = 8
match_keys = sa.Table(
    "match_keys",
    metadata,
    sa.Column("mpi_id", sa.String(64), nullable=False),
    sa.Column("key_bidx", sa.LargeBinary(32), nullable=False),
    # The ID's order as a number: its first 8 bytes, unsigned order (``storage.links``).
    sa.Column("mpi_order", sa.BigInteger, nullable=False),
    # Looked up by key, newest first (candidates, ``storage.links``): the index holds the key's
    # first bytes and the ID's order, 24-byte entries where (key_bidx, mpi_id) took 112; the
    # row keeps the whole key, which the lookup compares too.  Rewritten by record through
    # mpi_id's own index (migration 0010), where a record's keys share one entry.
    sa.Index(
        "ix_match_keys_key",
        sa.func.substr(sa.column("key_bidx"), 1, MATCH_KEY_PREFIX),
        "mpi_order",
    ),
    sa.Index("ix_match_keys_mpi_id", "mpi_id"),
)

job_schedules = sa.Table(
    "job_schedules",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("interval_seconds", sa.Integer, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("next_run_at", Timestamp),
    sa.Column("updated_by", sa.String(200)),
)

# Who runs a job now: one row per job, taken by a conditional UPDATE (never check-then-write).
job_leases = sa.Table(
    "job_leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("examined", sa.Integer, nullable=False),
    sa.Column("merged", sa.Integer, nullable=False),
    sa.Column("queued", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Index("ix_job_runs_job_started_at", "job", "started_at"),
)

#: Outgoing notifications (DESIGN.md "Nothing is lost"; IHE ITI-10 PIX Update Notification):
#: written in the transaction that changes a patient's cross-references, delivered with
#: retries and backoff.  What to send is read at delivery time (the current identifiers).
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("consumer", sa.String(64), nullable=False),
    sa.Column("mpi_id", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Timestamp, nullable=False),
    sa.Column("delivered_at", Timestamp),
    sa.Column("last_error", sa.Text),
    sa.Index(
        "ix_outbox_pending",
        "next_attempt_at",
        "id",
        postgresql_where=sa.text("delivered_at IS NULL"),
        sqlite_where=sa.text("delivered_at IS NULL"),
    ),
)


#: The key set the database was set up with (guideline §4.6 密钥管理): its id and a check value
#: (``ehcmpi.crypto.check``).  One row; a server refuses to start with other keys, which would
#: find no document by its blind index and issue every returning patient a second record.
key_checks = sa.Table(
    "key_checks",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("check_value", sa.LargeBinary(32), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

# The electronic health card and media tables (§4.2, §4.4) live in ``card_tables`` on this
# same ``metadata``; importing them here registers them wherever the schema is used.
from ehcmpi.storage import card_tables  # noqa: E402, F401
