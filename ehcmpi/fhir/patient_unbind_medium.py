"""``POST /fhir/Patient/{id}/$unbind-medium``: end a patient's binding of a social-security
card or medical-insurance e-voucher (guideline §4.4.2 多卡（码）协同管理).  The binding stays
in the medium's history (``$media?history=true``).

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/Patient-unbind-medium``,
instance level, affectsState true.  IN: ``medium`` 1..1 code (``social-security-card`` |
``insurance-voucher``), ``value`` 1..1 string, ``reason`` 0..1 string.  OUT: ``binding``, now
ended (``active`` false, ``endedAt``, ``endedBy``, ``endReason``).  404 when the patient has no
active binding of this medium; 400 bad medium or number.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehcmpi.core.media import BINDABLE
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.medium_common import binding_part, call, read_medium
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
KINDS = " | ".join(BINDABLE)
PARAMS = (
    p.Param("medium", "in", 1, "1", "code", f"介质类型 (kind of medium): {KINDS}"),
    p.Param("value", "in", 1, "1", "string", "社保卡号或医保电子凭证 ID (card / e-voucher ID)"),
    p.Param("reason", "in", 0, "1", "string", "解绑原因 (why)"),
    p.Param("binding", "out", 1, "1", None, "已解除的绑定 (the ended binding)"),
)
DEFINITION = {
    **p.operation_definition(
        "unbind-medium",
        "解绑介质 (unbind a medium)",
        "End the patient's binding of a social-security card or medical-insurance e-voucher "
        "(guideline §4.4.2); it stays in the medium's history.",
        PARAMS,
        affects_state=True,
        instance=True,
    ),
    "type": False,
}
CAPABILITY = Capability(
    "Patient",
    operations=(
        Operation("unbind-medium", DEFINITION["url"], "解绑介质 (unbind a medium)", DEFINITION),
    ),
)
DECLARED = {x.name: x.max for x in PARAMS if x.use == "in"}


@router.post("/Patient/{patient_id}/$unbind-medium", summary="解绑介质 (unbind a medium)")
async def unbind_medium(patient_id: str, request: Request) -> FhirResponse:
    kind, value, reason = await read_medium(request, DECLARED)
    media = container(request).media
    ended = await call(media.unbind, patient_id, kind, value, actor(request), reason=reason)
    return FhirResponse({"resourceType": "Parameters", "parameter": [binding_part(ended)]})
