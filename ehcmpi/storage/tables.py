"""Database schema (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Document and phone numbers are stored only as SM4-GCM ciphertext plus an HMAC-SM3 blind index
for exact lookup (guideline §6.3 数据存储安全, §6.1 SM3/SM4): a raw ``SELECT`` shows no plaintext
ID number.  Uniqueness that registration relies on lives here, not in code: a valid
document's blind index, a source identifier (system, value), an EHC ID, an archive number.
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
    sa.Index("ix_patients_name", "name"),
    sa.Index("ix_patients_pinyin_key", "pinyin_key"),
    sa.Index("ix_patients_birth_date", "birth_date"),
)

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
    sa.Index("ix_patient_documents_number_bidx", "number_bidx"),
    # One owner per valid document: the key registration's insert-on-conflict relies on.
    sa.Index(
        "uq_patient_documents_valid_bidx",
        "number_bidx",
        unique=True,
        sqlite_where=sa.text("valid"),
        postgresql_where=sa.text("valid"),
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
    sa.UniqueConstraint("system", "value"),
    sa.Index("ix_source_identifiers_mpi_id", "mpi_id"),
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
