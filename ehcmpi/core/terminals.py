"""Reader terminals and client applications (guideline §4.2.1 注册管理).

识读终端管理: every terminal that scans EHC QR codes is registered with its code, type,
location and status; a verification from an unknown or disabled terminal is refused
(``core.qr``).  The code is the organisation code (9-character GB 11714 组织机构代码 or
18-character GB 32100 统一社会信用代码) followed by the 4-digit department code, and — when a
department has several readers — a serial of 1–4 digits: ``12100000400000000A`` + ``0301`` +
``02``.

客户端应用软件管理: every client application (a hospital app, a mini program, a self-service
system) that generates QR codes is registered with an id, a name, a secret and a status.
The secret is shown once when it is issued; only its keyed digest (HMAC-SM3 through the
crypto port's blind index, guideline §6.1) is stored.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from collections.abc import Callable

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.card_types import ClientApp, DeviceStatus, ReaderTerminal, TerminalType
from ehcmpi.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from ehcmpi.core.model import Actor
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.crypto.ports import CryptoProvider

Clock = Callable[[], dt.datetime]
ORG_CODE = re.compile(r"[0-9A-Z]{9}|[0-9A-Z]{18}")
DEPT_CODE = re.compile(r"[0-9]{4}")
SERIAL = re.compile(r"[0-9]{1,4}")
APP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SECRET_KIND = "client-app.secret"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def terminal_code(org_code: str, dept_code: str, serial: str = "") -> str:
    """The terminal code, checked: organisation code ‖ department code ‖ serial."""
    org, dept = org_code.strip().upper(), dept_code.strip()
    if not ORG_CODE.fullmatch(org):
        raise InvalidInputError(
            f"机构代码须为 9 位组织机构代码或 18 位统一社会信用代码 (organisation code must be 9 "
            f"or 18 characters): {org_code!r}",
            location="terminal.org_code",
        )
    if not DEPT_CODE.fullmatch(dept):
        raise InvalidInputError(
            f"科室代码须为 4 位数字 (department code must be 4 digits): {dept_code!r}",
            location="terminal.dept_code",
        )
    if serial and not SERIAL.fullmatch(serial):
        raise InvalidInputError(
            f"终端序号须为 1–4 位数字 (serial must be 1–4 digits): {serial!r}",
            location="terminal.serial",
        )
    return org + dept + serial


def _optional(value: str | None, what: str, limit: int = 200) -> str | None:
    value = (value or "").strip() or None
    if value is not None and len(value) > limit:
        raise InvalidInputError(f"{what}过长 (too long, at most {limit} characters)")
    return value


def _required(value: str | None, what: str) -> str:
    checked = _optional(value, what)
    if checked is None:
        raise InvalidInputError(f"缺少{what} (missing)")
    return checked


def _terminal_type(value: str) -> TerminalType:
    try:
        return TerminalType(value)
    except ValueError:
        known = ", ".join(t.value for t in TerminalType)
        raise InvalidInputError(
            f"未知的终端类型 (unknown terminal type) {value!r}; 可选 (one of): {known}",
            location="terminal.type",
        ) from None


class TerminalRegistry:
    """Register, change, disable and look up terminals and client applications."""

    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        crypto: CryptoProvider,
        audit: AuditLog,
        *,
        clock: Clock = _utcnow,
    ) -> None:
        self._uow = uow
        self._crypto = crypto
        self._audit = audit
        self._clock = clock

    # --- terminals -----------------------------------------------------------------------

    def register_terminal(
        self,
        *,
        org_code: str,
        dept_code: str,
        name: str,
        type: str,
        location: str | None,
        actor: Actor,
        serial: str = "",
    ) -> ReaderTerminal:
        with self._audit.call(actor, "terminal-register") as call:
            code = terminal_code(org_code, dept_code, serial)
            call.target = code
            now = self._clock()
            terminal = ReaderTerminal(
                code=code,
                org_code=code[: len(code) - len(serial) - 4],
                dept_code=dept_code.strip(),
                name=_required(name, "终端名称 (name)"),
                type=_terminal_type(type),
                location=_optional(location, "位置 (location)"),
                status=DeviceStatus.ACTIVE,
                created_at=now,
                updated_at=now,
                updated_by=actor.name,
            )
            with self._uow(write=True) as uow:
                if not uow.terminals.add_terminal(terminal):
                    raise ConflictError(f"终端已登记 (terminal already registered): {code}")
                uow.commit()
            return terminal

    def update_terminal(
        self,
        code: str,
        *,
        actor: Actor,
        name: str | None = None,
        type: str | None = None,
        location: str | None = None,
        status: DeviceStatus | None = None,
    ) -> ReaderTerminal:
        """Change what is given; ``status`` enables or disables the terminal."""
        with self._audit.call(actor, "terminal-update") as call:
            call.target = code
            with self._uow(write=True) as uow:
                current = uow.terminals.get_terminal(code)
                if current is None:
                    raise NotFoundError(f"终端未登记 (unknown terminal): {code}")
                changed = ReaderTerminal(
                    code=current.code,
                    org_code=current.org_code,
                    dept_code=current.dept_code,
                    name=_required(name, "终端名称 (name)") if name else current.name,
                    type=_terminal_type(type) if type else current.type,
                    location=current.location
                    if location is None
                    else _optional(location, "位置 (location)"),
                    status=status or current.status,
                    created_at=current.created_at,
                    updated_at=self._clock(),
                    updated_by=actor.name,
                )
                uow.terminals.save_terminal(changed)
                uow.commit()
            call.detail = changed.status.value
            return changed

    def terminal(self, code: str) -> ReaderTerminal:
        with self._uow() as uow:
            found = uow.terminals.get_terminal(code)
        if found is None:
            raise NotFoundError(f"终端未登记 (unknown terminal): {code}")
        return found

    def terminals(
        self, status: DeviceStatus | None = None, org_code: str | None = None
    ) -> list[ReaderTerminal]:
        with self._uow() as uow:
            return uow.terminals.terminals(status, org_code)

    # --- client applications -------------------------------------------------------------

    def _digest(self, app_id: str, secret: str) -> bytes:
        return self._crypto.blind_index(SECRET_KIND, f"{app_id}\x1f{secret}")

    def register_app(self, app_id: str, name: str, actor: Actor) -> tuple[ClientApp, str]:
        """Register an application; returns it and its secret (shown this once)."""
        with self._audit.call(actor, "app-register") as call:
            app_id = app_id.strip()
            call.target = app_id
            if not APP_ID.fullmatch(app_id):
                raise InvalidInputError(
                    f"应用标识须为 1–64 位字母、数字、点、下划线或连字符 (app id must be 1–64 "
                    f"letters, digits, '.', '_' or '-'): {app_id!r}",
                    location="app.id",
                )
            now = self._clock()
            app = ClientApp(
                app_id=app_id,
                name=_required(name, "应用名称 (name)"),
                status=DeviceStatus.ACTIVE,
                created_at=now,
                updated_at=now,
                updated_by=actor.name,
            )
            secret = secrets.token_urlsafe(24)
            with self._uow(write=True) as uow:
                if not uow.terminals.add_app(app, self._digest(app_id, secret)):
                    raise ConflictError(f"应用已登记 (application already registered): {app_id}")
                uow.commit()
            return app, secret

    def update_app(
        self,
        app_id: str,
        *,
        actor: Actor,
        name: str | None = None,
        status: DeviceStatus | None = None,
        new_secret: bool = False,
    ) -> tuple[ClientApp, str | None]:
        """Rename, enable/disable, or issue a new secret (returned, shown this once)."""
        with self._audit.call(actor, "app-update") as call:
            call.target = app_id
            secret = secrets.token_urlsafe(24) if new_secret else None
            with self._uow(write=True) as uow:
                found = uow.terminals.get_app(app_id)
                if found is None:
                    raise NotFoundError(f"应用未登记 (unknown application): {app_id}")
                current = found[0]
                changed = ClientApp(
                    app_id=current.app_id,
                    name=_required(name, "应用名称 (name)") if name else current.name,
                    status=status or current.status,
                    created_at=current.created_at,
                    updated_at=self._clock(),
                    updated_by=actor.name,
                )
                digest = self._digest(app_id, secret) if secret else None
                uow.terminals.save_app(changed, digest)
                uow.commit()
            call.detail = changed.status.value + (" new-secret" if secret else "")
            return changed, secret

    def app(self, app_id: str) -> ClientApp:
        with self._uow() as uow:
            found = uow.terminals.get_app(app_id)
        if found is None:
            raise NotFoundError(f"应用未登记 (unknown application): {app_id}")
        return found[0]

    def apps(self, status: DeviceStatus | None = None) -> list[ClientApp]:
        with self._uow() as uow:
            return uow.terminals.apps(status)

    def authenticate(self, app_id: str, secret: str) -> ClientApp:
        """The active application with this secret, or ``PermissionDeniedError`` (403)."""
        with self._uow() as uow:
            found = uow.terminals.get_app(app_id)
        if found is None or not hmac.compare_digest(found[1], self._digest(app_id, secret)):
            raise PermissionDeniedError(
                f"应用标识或密钥错误 (unknown application or wrong secret): {app_id}"
            )
        if found[0].status is not DeviceStatus.ACTIVE:
            raise PermissionDeniedError(f"应用已停用 (application disabled): {app_id}")
        return found[0]
