"""``GET|POST /fhir/$ehc-terminal``: reader terminals (guideline §4.2.1 识读终端管理).
Semantics: :class:`ehcmpi.core.terminals.TerminalRegistry`.

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/ehc-terminal``, system level,
affectsState true for ``POST``.  A terminal's code is the organisation code (9-character
组织机构代码 or 18-character 统一社会信用代码) followed by the 4-digit department code and an
optional 1–4 digit serial.  Only registered, active terminals may verify QR codes.

``GET /fhir/$ehc-terminal?code=…`` (one terminal, 404 if unknown) or ``?status=active|disabled``
and/or ``?organization=…`` (a list).

``POST`` with Parameters: ``action`` 1..1 code ``register`` | ``update`` | ``enable`` |
``disable``; ``code`` (all but register); ``organization``, ``department``, ``serial``
(register); ``name``, ``type`` (scanner | kiosk | handheld | desktop | gate | other),
``location`` (register, update).  OUT: one ``terminal`` per terminal (parts ``code``,
``organization``, ``department``, ``name``, ``type``, ``location``, ``status``, ``created``,
``updated``, ``updatedBy``).  Errors: code taken 409, unknown code 404, bad code/type 400.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehcmpi.bootstrap import Container
from ehcmpi.core.card_types import DeviceStatus, ReaderTerminal
from ehcmpi.core.model import Actor
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.ehc_common import bad, call, query, system_definition, terminal_part
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
ACTIONS = ("register", "update", "enable", "disable")
_S = "string"
PARAMS = (
    p.Param("action", "in", 0, "1", "code", "操作 (POST): " + " | ".join(ACTIONS)),
    p.Param("code", "in", 0, "1", _S, "终端编码 (terminal code)"),
    p.Param("organization", "in", 0, "1", _S, "机构代码 (organisation code, 9 or 18)"),
    p.Param("department", "in", 0, "1", _S, "科室代码 (4-digit department code)"),
    p.Param("serial", "in", 0, "1", _S, "终端序号 (1–4 digit serial, optional)"),
    p.Param("name", "in", 0, "1", _S, "终端名称 (name)"),
    p.Param("type", "in", 0, "1", "code", "终端类型 (scanner|kiosk|handheld|desktop|gate|other)"),
    p.Param("location", "in", 0, "1", _S, "安放位置 (location)"),
    p.Param("status", "in", 0, "1", "code", "GET: active | disabled"),
    p.Param("terminal", "out", 0, "*", None, "识读终端 (terminal)"),
)
DEFINITION = system_definition(
    "ehc-terminal",
    "识读终端管理 (reader terminals)",
    "Register, change, enable, disable and list the reader terminals that verify EHC QR "
    "codes (guideline §4.2.1).",
    PARAMS,
    affects_state=True,
)
CAPABILITY = Capability(
    "",
    operations=(
        Operation("ehc-terminal", DEFINITION["url"], "识读终端管理 (terminals)", DEFINITION),
    ),
)
DECLARED = {x.name: x.max for x in PARAMS if x.use == "in" and x.name != "status"}


def _status(value: str | None) -> DeviceStatus | None:
    try:
        return DeviceStatus(value) if value else None
    except ValueError:
        raise bad(f"status 须为 active 或 disabled: {value}", "status") from None


def _answer(terminals: list[ReaderTerminal]) -> FhirResponse:
    parts = [terminal_part(t) for t in terminals]
    return FhirResponse({"resourceType": "Parameters", "parameter": parts})


@router.get("/$ehc-terminal", summary="识读终端 (reader terminals, §4.2.1)")
async def read_terminals(request: Request) -> FhirResponse:
    given = query(request, ("code", "status", "organization"))
    registry = container(request).terminals
    if "code" in given:
        return _answer([await call(registry.terminal, given["code"])])
    status = _status(given.get("status"))
    return _answer(await call(registry.terminals, status, given.get("organization")))


def _apply(wired: Container, action: str, given: p.Given, who: Actor) -> ReaderTerminal:
    registry = wired.terminals
    if action == "register":
        for name in ("organization", "department", "name", "type"):
            p.required(given, name)
        return registry.register_terminal(
            org_code=p.text(given, "organization") or "",
            dept_code=p.text(given, "department") or "",
            serial=p.text(given, "serial") or "",
            name=p.text(given, "name") or "",
            type=p.text(given, "type") or "",
            location=p.text(given, "location"),
            actor=who,
        )
    p.required(given, "code")
    code = p.text(given, "code") or ""
    if action == "update":
        return registry.update_terminal(
            code,
            actor=who,
            name=p.text(given, "name"),
            type=p.text(given, "type"),
            location=p.text(given, "location"),
        )
    status = DeviceStatus.ACTIVE if action == "enable" else DeviceStatus.DISABLED
    return registry.update_terminal(code, actor=who, status=status)


@router.post("/$ehc-terminal", summary="识读终端登记与变更 (register/change a terminal, §4.2.1)")
async def change_terminal(request: Request) -> FhirResponse:
    given = p.read_parameters(await read_json(request, "Parameters"), DECLARED)
    p.required(given, "action")
    action = p.text(given, "action") or ""
    if action not in ACTIONS:
        raise bad(f"未知的操作 (unknown action) {action}; 可选 (one of): {', '.join(ACTIONS)}",
                  "action")  # fmt: skip
    terminal = await call(_apply, container(request), action, given, actor(request))
    return FhirResponse(
        {"resourceType": "Parameters", "parameter": [terminal_part(terminal)]},
        status_code=201 if action == "register" else 200,
    )
