"""``POST /fhir/$ehc-qr-verify``: verify a scanned electronic health card QR code (验码;
guideline §4.2.3, flows §5.1.2 and §5.2.3 step 3–4).  Semantics:
:meth:`ehcmpi.core.qr.QrService.verify`.

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/ehc-qr-verify``, system level,
affectsState true (a dynamic code's use is counted; every attempt is recorded).
IN: ``qr`` 1..1 string (what the scanner read), ``terminal`` 1..1 string (the registered
reader terminal's code), ``careStep`` 1..1 code (诊疗环节: registration | triage |
consultation | examination | laboratory | pharmacy | payment | admission | discharge |
public-health | other), ``channel`` 0..1 string (default ``fhir``).
OUT (200): ``patient`` Reference(Patient), ``ehcId`` Identifier.

A refusal is an OperationOutcome whose ``issue.details.coding`` carries the precise reason
(system ``http://ehcmpi.org/fhir/CodeSystem/ehc-qr-verification``) and whose diagnostics say
it in Chinese and English: ``terminal_unknown`` / ``terminal_disabled`` 403, ``unknown`` 404,
``suspended`` / ``cancelled`` 409, ``expired`` / ``used_up`` / ``tampered`` / ``malformed`` 422.
A bad parameter (unknown care step, missing ``qr``) is 400.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request

from ehcmpi.core.qr import QrVerification
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.ehc_common import call, ehc_identifier, patient_reference, system_definition
from ehcmpi.fhir.outcome import operation_outcome
from ehcmpi.fhir.request_body import content_type, read_json
from ehcmpi.fhir.responses import JSON_TYPES, FhirResponse

router = APIRouter()
REASON_SYSTEM = "http://ehcmpi.org/fhir/CodeSystem/ehc-qr-verification"
#: reason → (HTTP status, OperationOutcome issue code)
STATUS = {
    "terminal_unknown": (403, "security"),
    "terminal_disabled": (403, "security"),
    "unknown": (404, "not-found"),
    "suspended": (409, "business-rule"),
    "cancelled": (409, "business-rule"),
    "expired": (422, "expired"),
    "used_up": (422, "business-rule"),
    "tampered": (422, "invalid"),
    "malformed": (422, "invalid"),
}
PARAMS = (
    p.Param("qr", "in", 1, "1", "string", "扫码所得内容 (what the scanner read)"),
    p.Param("terminal", "in", 1, "1", "string", "识读终端编码 (reader terminal code)"),
    p.Param("careStep", "in", 1, "1", "code", "诊疗环节 (care step)"),
    p.Param("channel", "in", 0, "1", "string", "渠道 (channel; default fhir)"),
    p.Param("patient", "out", 1, "1", "Reference", "患者 (the patient)"),
    p.Param("ehcId", "out", 1, "1", "Identifier", "电子健康卡 ID"),
)
DEFINITION = system_definition(
    "ehc-qr-verify",
    "电子健康卡验码 (verify an EHC QR code)",
    "Verify a scanned electronic health card QR code at a registered reader terminal "
    "(guideline §4.2.3, §5.2.3); refusals carry the precise reason.",
    PARAMS,
    affects_state=True,
)
CAPABILITY = Capability(
    "",
    operations=(
        Operation("ehc-qr-verify", DEFINITION["url"], "电子健康卡验码 (verify)", DEFINITION),
    ),
)
DECLARED = {x.name: x.max for x in PARAMS if x.use == "in"}


def refusal(result: QrVerification) -> FhirResponse:
    reason = result.reason or "malformed"
    status, code = STATUS.get(reason, (422, "processing"))
    body = operation_outcome(code, result.message)
    body["issue"][0]["details"] = {
        "coding": [{"system": REASON_SYSTEM, "code": reason}],
        "text": result.message,
    }
    return FhirResponse(body, status_code=status)


def _plain(body: Any) -> bool:
    """A JSON Parameters made only of ``name`` + ``valueString``/``valueCode`` string items:
    valid R4 as it stands, so the model validation (most of a scan's cost) is not needed."""
    if not isinstance(body, dict) or body.keys() != {"resourceType", "parameter"}:
        return False
    items = body["parameter"]
    return (
        body["resourceType"] == "Parameters"
        and isinstance(items, list)
        and all(
            isinstance(item, dict)
            and len(item) == 2
            and isinstance(item.get("name"), str)
            and any(isinstance(item.get(k), str) for k in ("valueString", "valueCode"))
            for item in items
        )
    )


async def _body(request: Request) -> Any:
    """The Parameters body: the scanner's plain JSON directly, anything else (XML, extensions,
    other value types, errors to report) through the full reader and R4 validation."""
    if content_type(request) in JSON_TYPES:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        if _plain(body):
            return body
    return await read_json(request, "Parameters")


@router.post("/$ehc-qr-verify", summary="电子健康卡验码 (verify an EHC QR code, §4.2.3)")
async def ehc_qr_verify(request: Request) -> FhirResponse:
    given = p.read_parameters(await _body(request), DECLARED)
    for name in ("qr", "terminal", "careStep"):
        p.required(given, name)
    result = await call(
        container(request).qr.verify,
        p.text(given, "qr") or "",
        terminal=p.text(given, "terminal") or "",
        care_step=p.text(given, "careStep") or "",
        channel=p.text(given, "channel") or "fhir",
        actor=actor(request),
    )
    if not result.ok or result.mpi_id is None or result.ehc_id is None:
        return refusal(result)
    out = [
        {"name": "patient", "valueReference": patient_reference(result.mpi_id)},
        {"name": "ehcId", "valueIdentifier": ehc_identifier(result.ehc_id)},
    ]
    return FhirResponse({"resourceType": "Parameters", "parameter": out})
