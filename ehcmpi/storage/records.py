"""SQL repositories for EHC accounts (guideline §4.2.2) and the call audit (§4.1.1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ehcmpi.core.model import AuditEntry, EhcAccount, EhcAccountStatus, EhcCardKind
from ehcmpi.storage.driver import Hot
from ehcmpi.storage.rows import aware, insert_ignoring, insert_ignoring_conflicts
from ehcmpi.storage.tables import audit_log, ehc_accounts


def account_row(account: EhcAccount) -> dict[str, Any]:
    return {
        "ehc_id": account.ehc_id,
        "mpi_id": account.mpi_id,
        "doc_type": account.doc_type,
        "status": account.status.value,
        "kind": account.kind.value,
        "issued_at": account.issued_at,
    }


def account_from_row(row: Any) -> EhcAccount:
    return EhcAccount(
        row.ehc_id,
        row.mpi_id,
        row.doc_type,
        EhcAccountStatus(row.status),
        EhcCardKind(row.kind),
        aware(row.issued_at),
    )


class SqlEhcAccountRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, account: EhcAccount) -> bool:
        row = account_row(account)
        return insert_ignoring_conflicts(self._conn, ehc_accounts, [row], "ehc_id") == 1

    def issue(self, account: EhcAccount) -> None:
        """``add`` for a caller that has already decided the account is new (registration:
        the patient row's unique EHC ID); sent with the transaction's next statement."""
        insert_ignoring(self._conn.dialect.name, ehc_accounts, "ehc_id").later(
            self._conn, [account_row(account)]
        )

    def reassign(self, ehc_id: str, mpi_id: str) -> None:
        """The account follows its document to another patient (§4.1.1 索引合并/拆分)."""
        c = ehc_accounts.c
        self._conn.execute(ehc_accounts.update().where(c.ehc_id == ehc_id).values(mpi_id=mpi_id))

    def get(self, ehc_id: str) -> EhcAccount | None:
        row = self._conn.execute(
            sa.select(ehc_accounts).where(ehc_accounts.c.ehc_id == ehc_id)
        ).first()
        return None if row is None else account_from_row(row)


def _fit(value: str | None, column: sa.Column[Any]) -> str | None:
    """What the column can hold.  Audit values carry caller input (an ID from a URL, a code
    quoted in an error); PostgreSQL refuses NUL characters and over-long strings, and one
    refused entry would keep the whole pending batch from ever being written."""
    if value is None:
        return None
    value = value.replace("\x00", "\ufffd")
    length = getattr(column.type, "length", None)
    return value[:length] if length else value


AUDIT_INSERT = Hot(audit_log.insert())


class SqlAuditRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(self, entries: Sequence[AuditEntry]) -> None:
        """All entries in one executemany (the audit writer hands over whole batches)."""
        c = audit_log.c
        rows = [
            {
                "at": entry.at,
                "actor": _fit(entry.actor, c.actor),
                "channel": _fit(entry.channel, c.channel),
                "action": _fit(entry.action, c.action),
                "outcome": _fit(entry.outcome, c.outcome),
                "duration_ms": entry.duration_ms,
                "target": _fit(entry.target, c.target),
                "detail": _fit(entry.detail, c.detail),
            }
            for entry in entries
        ]
        AUDIT_INSERT.later(self._conn, rows)

    def recent(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        stmt = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if action:
            stmt = stmt.where(audit_log.c.action == action)
        return [
            AuditEntry(
                aware(r.at),
                r.actor,
                r.channel,
                r.action,
                r.outcome,
                r.duration_ms,
                r.target,
                r.detail,
            )
            for r in self._conn.execute(stmt)
        ]
