"""``POST /fhir/Patient/{id}/$bind-medium``: bind a social-security card or a medical-insurance
e-voucher to a patient by hand (guideline §4.4 介质与电子健康卡 ID 的绑定关系, §4.4.2
多卡（码）协同管理).  Semantics: :meth:`ehcmpi.core.reader.ReaderService.bind`.

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/Patient-bind-medium``,
instance level, affectsState true.  IN: ``medium`` 1..1 code (``social-security-card`` |
``insurance-voucher``), ``value`` 1..1 string (card number / e-voucher ID), ``reason`` 0..1
string.  OUT: ``binding`` (parts ``kind``, ``value``, ``patient``, ``verified``, ``active``,
``boundAt``, ``boundBy``, ``reason``).

201 when the binding is new (or newly verified), 200 when it was already there.  A
social-security card is checked with the insurance identity system when that answers: the
card's holder must be this patient (409 otherwise, 404 when it does not know the card); when
it is down the binding is made unverified (§6.5).  A medium bound to another patient is 409
(unbind it there first); unknown patient 404; cancelled or merged patient 409; bad medium or
number 400.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehcmpi.core.media import BINDABLE
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.medium_common import Unavailable, binding_part, call, read_medium
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
KINDS = " | ".join(BINDABLE)
PARAMS = (
    p.Param("medium", "in", 1, "1", "code", f"介质类型 (kind of medium): {KINDS}"),
    p.Param("value", "in", 1, "1", "string", "社保卡号或医保电子凭证 ID (card / e-voucher ID)"),
    p.Param("reason", "in", 0, "1", "string", "绑定原因 (why)"),
    p.Param("binding", "out", 1, "1", None, "绑定 (the binding)"),
)
DEFINITION = {
    **p.operation_definition(
        "bind-medium",
        "绑定介质 (bind a medium)",
        "Bind a social-security card or a medical-insurance e-voucher to the patient "
        "(guideline §4.4, §4.4.2).",
        PARAMS,
        affects_state=True,
        instance=True,
    ),
    "type": False,
}
CAPABILITY = Capability(
    "Patient",
    operations=(
        Operation("bind-medium", DEFINITION["url"], "绑定介质 (bind a medium)", DEFINITION),
    ),
)
DECLARED = {x.name: x.max for x in PARAMS if x.use == "in"}


@router.post("/Patient/{patient_id}/$bind-medium", summary="绑定介质 (bind a medium, §4.4.2)")
async def bind_medium(patient_id: str, request: Request) -> FhirResponse:
    kind, value, reason = await read_medium(request, DECLARED)
    wired = container(request)
    try:
        binding, wrote = await call(
            wired.reader.bind, patient_id, kind, value, actor(request), reason=reason
        )
    except Unavailable as exc:
        return exc.response
    body = {"resourceType": "Parameters", "parameter": [binding_part(binding)]}
    return FhirResponse(body, status_code=201 if wrote else 200)
