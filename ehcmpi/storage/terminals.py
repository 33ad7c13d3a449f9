"""SQL repository of reader terminals and client applications (guideline §4.2.1;
``ehcmpi.core.ports.TerminalRepository``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ehcmpi.core.card_types import ClientApp, DeviceStatus, ReaderTerminal, TerminalType
from ehcmpi.storage.card_tables import client_apps, reader_terminals
from ehcmpi.storage.rows import aware, insert_ignoring_conflicts

_t, _a = reader_terminals.c, client_apps.c


def _terminal_row(terminal: ReaderTerminal) -> dict[str, Any]:
    return {
        "code": terminal.code,
        "org_code": terminal.org_code,
        "dept_code": terminal.dept_code,
        "name": terminal.name,
        "type": terminal.type.value,
        "location": terminal.location,
        "status": terminal.status.value,
        "created_at": terminal.created_at,
        "updated_at": terminal.updated_at,
        "updated_by": terminal.updated_by,
    }


def _terminal(row: Any) -> ReaderTerminal:
    return ReaderTerminal(
        code=row.code,
        org_code=row.org_code,
        dept_code=row.dept_code,
        name=row.name,
        type=TerminalType(row.type),
        location=row.location,
        status=DeviceStatus(row.status),
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        updated_by=row.updated_by,
    )


def _app(row: Any) -> ClientApp:
    return ClientApp(
        app_id=row.app_id,
        name=row.name,
        status=DeviceStatus(row.status),
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        updated_by=row.updated_by,
    )


class SqlTerminalRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_terminal(self, terminal: ReaderTerminal) -> bool:
        row = _terminal_row(terminal)
        return insert_ignoring_conflicts(self._conn, reader_terminals, [row], "code") == 1

    def save_terminal(self, terminal: ReaderTerminal) -> None:
        values = _terminal_row(terminal)
        del values["code"], values["created_at"]
        self._conn.execute(reader_terminals.update().where(_t.code == terminal.code), values)

    def get_terminal(self, code: str) -> ReaderTerminal | None:
        row = self._conn.execute(sa.select(reader_terminals).where(_t.code == code)).first()
        return _terminal(row) if row else None

    def terminals(
        self, status: DeviceStatus | None = None, org_code: str | None = None
    ) -> list[ReaderTerminal]:
        stmt = sa.select(reader_terminals).order_by(_t.code)
        if status is not None:
            stmt = stmt.where(_t.status == status.value)
        if org_code is not None:
            stmt = stmt.where(_t.org_code == org_code)
        return [_terminal(row) for row in self._conn.execute(stmt)]

    def add_app(self, app: ClientApp, secret_digest: bytes) -> bool:
        row = {
            "app_id": app.app_id,
            "name": app.name,
            "secret_digest": secret_digest,
            "status": app.status.value,
            "created_at": app.created_at,
            "updated_at": app.updated_at,
            "updated_by": app.updated_by,
        }
        return insert_ignoring_conflicts(self._conn, client_apps, [row], "app_id") == 1

    def save_app(self, app: ClientApp, secret_digest: bytes | None = None) -> None:
        values: dict[str, Any] = {
            "name": app.name,
            "status": app.status.value,
            "updated_at": app.updated_at,
            "updated_by": app.updated_by,
        }
        if secret_digest is not None:
            values["secret_digest"] = secret_digest
        self._conn.execute(client_apps.update().where(_a.app_id == app.app_id), values)

    def get_app(self, app_id: str) -> tuple[ClientApp, bytes] | None:
        row = self._conn.execute(sa.select(client_apps).where(_a.app_id == app_id)).first()
        return (_app(row), bytes(row.secret_digest)) if row else None

    def apps(self, status: DeviceStatus | None = None) -> list[ClientApp]:
        stmt = sa.select(client_apps).order_by(_a.app_id)
        if status is not None:
            stmt = stmt.where(_a.status == status.value)
        return [_app(row) for row in self._conn.execute(stmt)]
