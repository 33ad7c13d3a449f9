"""What the electronic health card operations share (guideline §4.2 电子健康卡服务):
``$ehc-qr``, ``$ehc-qr-verify``, ``$ehc-account``, ``$ehc-terminal``, ``$ehc-client-app``,
``$ehc-qr-records`` and ``$ehc-qr-stats``.

Their OperationDefinitions (system level ones canonical at ``OPERATION_BASE/<code>``), the
reader of query-string parameters of the ``GET`` forms, the service call that turns domain
errors into OperationOutcomes (a bad parameter 400, FHIR R4 §3.1.0.4), and the ``Parameters``
parts that render accounts, terminals, applications and records.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.requests import Request

from ehcmpi.core.card_types import AccountEvent, ClientApp, QrRecord, ReaderTerminal
from ehcmpi.core.errors import DomainError, InvalidDocumentError, InvalidInputError
from ehcmpi.core.model import EhcAccount
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.parameters import Param, operation_definition
from ehcmpi.terminology.systems import DOCUMENT_TYPE_CODESYSTEM, EHC_ID_SYSTEM

T = TypeVar("T")
CST = dt.timezone(dt.timedelta(hours=8))  # a bare date in a query means China Standard Time
Part = dict[str, Any]
#: domain error locations → the operation parameter they name
_LOCATIONS = {
    "careStep": "careStep",
    "channel": "channel",
    "reason": "reason",
    "terminal.org_code": "organization",
    "terminal.dept_code": "department",
    "terminal.serial": "serial",
    "terminal.type": "type",
    "app.id": "appId",
    "kind": "kind",
}


def system_definition(
    code: str, title: str, description: str, params: Sequence[Param], *, affects_state: bool
) -> dict[str, Any]:
    """Our OperationDefinition of a system-level ``$code`` (FHIR R4 §6.1.8)."""
    return operation_definition(
        code, title, description, params, affects_state=affects_state, resource=None
    )


def bad(message: str, name: str | None = None, code: str = "invalid") -> FhirError:
    where = f"Parameters.parameter.where(name='{name}')" if name else None
    return FhirError(400, code, message, expression=where)


def as_fhir(exc: DomainError) -> FhirError:
    """400 for a bad parameter, else the usual mapping (404, 409, 403, 422)."""
    if isinstance(exc, InvalidInputError) and not isinstance(exc, InvalidDocumentError):
        return bad(exc.message, _LOCATIONS.get(exc.location or ""))
    return FhirError.from_domain(exc)


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a service call in a worker thread; its domain errors as FHIR errors."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except DomainError as exc:
        raise as_fhir(exc) from None


# --- GET forms: query-string parameters ------------------------------------------------------


def query(request: Request, allowed: Sequence[str]) -> dict[str, str]:
    """The query parameters, each at most once; an unknown one is 400."""
    out: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name == "_format":
            continue
        if name not in allowed:
            raise bad(f"不支持的参数 (unsupported parameter): {name}", name, "not-supported")
        if name in out:
            raise bad(f"参数 {name} 只能出现一次 (parameter given more than once)", name)
        out[name] = value.strip()
    return out


def instant(value: str | None, name: str) -> dt.datetime | None:
    """A date (``2026-11-27``, midnight UTC+8) or a dateTime with offset; None when absent."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime(
                day.year, day.month, day.day, tzinfo=dt.timezone(dt.timedelta(hours=8))
            )
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad(f"参数 {name} 须为日期或带时区的时间 (expected a date or dateTime): {value}",
                  name) from None  # fmt: skip
    if moment.tzinfo is None:
        raise bad(f"参数 {name} 须带时区 (dateTime needs a time zone): {value}", name)
    return moment


def count(value: str | None, default: int, ceiling: int = 1000) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= ceiling:
        raise bad(f"_count 须为 1–{ceiling} 的整数 (expected 1–{ceiling})", "_count")
    return int(value)


# --- parts ---------------------------------------------------------------------------------


def when(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parts(*items: tuple[str, str, Any]) -> list[Part]:
    """``(name, valueX suffix, value)`` → parts, leaving out empty values."""
    return [{"name": n, f"value{kind}": v} for n, kind, v in items if v is not None]


def ehc_identifier(ehc_id: str) -> dict[str, str]:
    return {"system": EHC_ID_SYSTEM, "value": ehc_id}


def patient_reference(mpi_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{mpi_id}"}


def event_part(event: AccountEvent) -> Part:
    return {
        "name": "event",
        "part": _parts(
            ("action", "Code", event.action.value),
            ("from", "Code", event.from_status.value if event.from_status else None),
            ("to", "Code", event.to_status.value),
            ("kind", "Code", event.kind.value),
            ("reason", "String", event.reason),
            ("actor", "String", event.actor),
            ("at", "DateTime", when(event.at)),
        ),
    }


def account_part(account: EhcAccount, history: Sequence[AccountEvent] = ()) -> Part:
    """An account: EHC ID, patient, document type, status, kind, issue time, history."""
    doc = {"system": DOCUMENT_TYPE_CODESYSTEM, "code": account.doc_type}
    parts = [
        {"name": "ehcId", "valueIdentifier": ehc_identifier(account.ehc_id)},
        {"name": "patient", "valueReference": patient_reference(account.mpi_id)},
        {"name": "documentType", "valueCoding": doc},
        *_parts(
            ("status", "Code", account.status.value),
            ("kind", "Code", account.kind.value),
            ("issued", "DateTime", when(account.issued_at)),
        ),
    ]
    return {"name": "account", "part": parts + [event_part(e) for e in history]}


def terminal_part(terminal: ReaderTerminal) -> Part:
    return {
        "name": "terminal",
        "part": _parts(
            ("code", "String", terminal.code),
            ("organization", "String", terminal.org_code),
            ("department", "String", terminal.dept_code),
            ("name", "String", terminal.name),
            ("type", "Code", terminal.type.value),
            ("location", "String", terminal.location),
            ("status", "Code", terminal.status.value),
            ("created", "DateTime", when(terminal.created_at)),
            ("updated", "DateTime", when(terminal.updated_at)),
            ("updatedBy", "String", terminal.updated_by),
        ),
    }


def app_part(app: ClientApp, secret: str | None = None) -> Part:
    return {
        "name": "app",
        "part": _parts(
            ("appId", "String", app.app_id),
            ("name", "String", app.name),
            ("status", "Code", app.status.value),
            ("secret", "String", secret),
            ("created", "DateTime", when(app.created_at)),
            ("updated", "DateTime", when(app.updated_at)),
            ("updatedBy", "String", app.updated_by),
        ),
    }


def record_part(record: QrRecord) -> Part:
    parts = _parts(
        ("event", "Code", record.event.value),
        ("outcome", "Code", record.outcome),
        ("at", "DateTime", when(record.at)),
        ("dynamic", "Boolean", record.dynamic),
        ("terminal", "String", record.terminal),
        ("app", "String", record.app),
        ("careStep", "Code", record.care_step),
        ("channel", "String", record.channel),
        ("actor", "String", record.actor),
    )
    if record.ehc_id:
        parts.append({"name": "ehcId", "valueIdentifier": ehc_identifier(record.ehc_id)})
    if record.mpi_id:
        parts.append({"name": "patient", "valueReference": patient_reference(record.mpi_id)})
    return {"name": "record", "part": parts}
