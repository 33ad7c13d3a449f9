"""``GET|POST /fhir/$ehc-client-app``: client applications (guideline §4.2.1
客户端应用软件管理).  Semantics: :class:`ehcmpi.core.terminals.TerminalRegistry`.

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/ehc-client-app``, system
level, affectsState true for ``POST``.  A client application (a hospital app, a mini program,
a self-service system) that generates QR codes names itself with ``app`` and ``appSecret``
in ``$ehc-qr``; the secret is returned once, by ``register`` and ``rotate-secret``, and
stored only as a keyed HMAC-SM3 digest.

``GET /fhir/$ehc-client-app?appId=…`` (one) or ``?status=active|disabled`` (a list).

``POST`` with Parameters: ``action`` 1..1 code ``register`` | ``update`` | ``enable`` |
``disable`` | ``rotate-secret``; ``appId`` 1..1 string (1–64 letters, digits, ``.``, ``_``,
``-``); ``name`` string (register, update).  OUT: one ``app`` per application (parts
``appId``, ``name``, ``status``, ``secret`` — only when just issued — ``created``, ``updated``,
``updatedBy``).  Errors: id taken 409, unknown id 404, bad id 400.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehcmpi.bootstrap import Container
from ehcmpi.core.card_types import ClientApp, DeviceStatus
from ehcmpi.core.model import Actor
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.ehc_common import app_part, bad, call, query, system_definition
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
ACTIONS = ("register", "update", "enable", "disable", "rotate-secret")
PARAMS = (
    p.Param("action", "in", 0, "1", "code", "操作 (POST): " + " | ".join(ACTIONS)),
    p.Param("appId", "in", 0, "1", "string", "应用标识 (application id)"),
    p.Param("name", "in", 0, "1", "string", "应用名称 (name)"),
    p.Param("status", "in", 0, "1", "code", "GET: active | disabled"),
    p.Param("app", "out", 0, "*", None, "客户端应用 (client application)"),
)
DEFINITION = system_definition(
    "ehc-client-app",
    "客户端应用软件管理 (client applications)",
    "Register, change, enable, disable and list the client applications that generate EHC "
    "QR codes; issue a new secret (guideline §4.2.1).",
    PARAMS,
    affects_state=True,
)
CAPABILITY = Capability(
    "",
    operations=(
        Operation("ehc-client-app", DEFINITION["url"], "客户端应用 (client apps)", DEFINITION),
    ),
)
DECLARED = {x.name: x.max for x in PARAMS if x.use == "in" and x.name != "status"}


@router.get("/$ehc-client-app", summary="客户端应用 (client applications, §4.2.1)")
async def read_apps(request: Request) -> FhirResponse:
    given = query(request, ("appId", "status"))
    registry = container(request).terminals
    if "appId" in given:
        apps = [await call(registry.app, given["appId"])]
    else:
        try:
            status = DeviceStatus(given["status"]) if given.get("status") else None
        except ValueError:
            raise bad(f"status 须为 active 或 disabled: {given['status']}", "status") from None
        apps = await call(registry.apps, status)
    return FhirResponse({"resourceType": "Parameters", "parameter": [app_part(a) for a in apps]})


def _apply(
    wired: Container, action: str, app_id: str, given: p.Given, who: Actor
) -> tuple[ClientApp, str | None]:
    registry = wired.terminals
    if action == "register":
        p.required(given, "name")
        app, secret = registry.register_app(app_id, p.text(given, "name") or "", who)
        return app, secret
    if action == "update":
        return registry.update_app(app_id, actor=who, name=p.text(given, "name"))
    if action == "rotate-secret":
        return registry.update_app(app_id, actor=who, new_secret=True)
    status = DeviceStatus.ACTIVE if action == "enable" else DeviceStatus.DISABLED
    return registry.update_app(app_id, actor=who, status=status)


@router.post("/$ehc-client-app", summary="客户端应用登记与变更 (register/change an app, §4.2.1)")
async def change_app(request: Request) -> FhirResponse:
    given = p.read_parameters(await read_json(request, "Parameters"), DECLARED)
    p.required(given, "action")
    p.required(given, "appId")
    action = p.text(given, "action") or ""
    if action not in ACTIONS:
        raise bad(f"未知的操作 (unknown action) {action}; 可选 (one of): {', '.join(ACTIONS)}",
                  "action")  # fmt: skip
    app_id = p.text(given, "appId") or ""
    app, secret = await call(_apply, container(request), action, app_id, given, actor(request))
    return FhirResponse(
        {"resourceType": "Parameters", "parameter": [app_part(app, secret)]},
        status_code=201 if action == "register" else 200,
    )
