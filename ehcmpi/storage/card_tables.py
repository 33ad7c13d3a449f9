"""Schema of the electronic health card services (guideline §4.2 电子健康卡服务, §4.4 多卡（码）
协同; migrations 0005 and 0006), on the one ``metadata`` of :mod:`ehcmpi.storage.tables`.

Medium numbers, like document numbers, are stored only as SM4-GCM ciphertext plus an HMAC-SM3
blind index (§6.3).
"""

from __future__ import annotations

import sqlalchemy as sa

from ehcmpi.storage.tables import BigId, EhcId, Timestamp, metadata

# --- electronic health card service (guideline §4.2; migration 0005) -----------------------

#: Account lifecycle history (§4.2.2 账户生命周期管理): every state change with its reason.
ehc_account_events = sa.Table(
    "ehc_account_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("ehc_id", EhcId, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("from_status", sa.String(16)),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_ehc_account_events_ehc_id", "ehc_id"),
)

#: 识读终端管理 (§4.2.1): code = organisation code ‖ 4-digit department code ‖ serial.
reader_terminals = sa.Table(
    "reader_terminals",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("org_code", sa.String(18), nullable=False),
    sa.Column("dept_code", sa.String(4), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("location", sa.String(200)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

#: 客户端应用软件管理 (§4.2.1): the secret only as a keyed HMAC-SM3 digest.
client_apps = sa.Table(
    "client_apps",
    metadata,
    sa.Column("app_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("secret_digest", sa.LargeBinary(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

#: QR generation and verification records (§4.2.3 二维码的生成和验证记录), written in batches.
qr_records = sa.Table(
    "qr_records",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("event", sa.String(8), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("ehc_id", EhcId),
    sa.Column("mpi_id", sa.String(64)),
    sa.Column("dynamic", sa.Boolean),
    sa.Column("terminal", sa.String(64)),
    sa.Column("app", sa.String(64)),
    sa.Column("care_step", sa.String(32)),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Index("ix_qr_records_at", "at"),
    sa.Index("ix_qr_records_terminal_at", "terminal", "at"),
    sa.Index("ix_qr_records_ehc_id", "ehc_id"),
)

#: How often each dynamic code was verified: one atomic upsert per verification holds the
#: maximum exactly across processes.  Rows of expired codes are purged.
qr_uses = sa.Table(
    "qr_uses",
    metadata,
    sa.Column("code_key", sa.String(64), primary_key=True),
    sa.Column("uses", sa.Integer, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Index("ix_qr_uses_expires_at", "expires_at"),
)

# --- media bindings (guideline §4.4 多卡（码）协同; migration 0006) ----------------------------

#: A medium (social-security card, medical-insurance e-voucher) bound to a patient, with its
#: lifetime: ended rows are the medium's history.  The number only as SM4-GCM ciphertext and
#: HMAC-SM3 blind index (§6.3); one active binding per medium, enforced here.
media_bindings = sa.Table(
    "media_bindings",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("value_enc", sa.LargeBinary, nullable=False),
    sa.Column("value_bidx", sa.LargeBinary(32), nullable=False),
    sa.Column("mpi_id", sa.String(64), sa.ForeignKey("patients.mpi_id"), nullable=False),
    sa.Column("ehc_id", EhcId),
    sa.Column("verified", sa.Boolean, nullable=False),
    sa.Column("bound_at", Timestamp, nullable=False),
    sa.Column("bound_by", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("ended_at", Timestamp),
    sa.Column("ended_by", sa.String(200)),
    sa.Column("end_reason", sa.Text),
    sa.Index("ix_media_bindings_mpi_id", "mpi_id"),
    sa.Index("ix_media_bindings_value_bidx", "value_bidx"),
    sa.Index(
        "uq_media_bindings_active",
        "kind",
        "value_bidx",
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    ),
)
