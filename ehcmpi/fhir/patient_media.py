"""``GET /fhir/Patient/{id}/$media``: every medium of a patient (guideline §4.4.2
多卡（码）协同管理: 居民身份证、社保卡、医保电子凭证、电子健康卡等卡类型的统一管理).

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/Patient-media``, instance
level, affectsState false.  IN: ``history`` 0..1 boolean (query parameter; true adds ended
bindings).  OUT: one ``medium`` per medium the record itself holds — the EHC ID (kind
``ehc``) and each valid Appendix A document (kind ``id-card`` for 01, else ``document`` with
``documentType``) — then one ``binding`` per bound social-security card or medical-insurance
e-voucher (``core.media``), oldest first.  Unknown patient 404; any other query parameter 400.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.core.model import PatientRecord
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.medium_common import binding_part, call
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
PARAMS = (
    p.Param("history", "in", 0, "1", "boolean", "含已解除的绑定 (include ended bindings)"),
    p.Param("medium", "out", 0, "*", None, "档案自带的介质: kind, value, documentType"),
    p.Param("binding", "out", 0, "*", None, "绑定的介质 (bound media)"),
)
DEFINITION = {
    **p.operation_definition(
        "media",
        "患者介质 (a patient's media)",
        "The patient's media: EHC ID, identity documents and bound social-security cards and "
        "medical-insurance e-vouchers, with the bindings' history (guideline §4.4.2).",
        PARAMS,
        affects_state=False,
        instance=True,
    ),
    "type": False,
}
CAPABILITY = Capability(
    "Patient",
    operations=(Operation("media", DEFINITION["url"], "患者介质 (a patient's media)", DEFINITION),),
)
ALLOWED = frozenset({"history", "_format"})


def _history(request: Request) -> bool:
    unknown = sorted(set(request.query_params) - ALLOWED)
    if unknown:
        raise FhirError(400, "not-supported", f"不支持的参数 (unsupported parameter): {unknown[0]}")
    value = request.query_params.get("history", "false")
    if value not in ("true", "false"):
        raise FhirError(400, "invalid", "history 须为 true 或 false (history must be true or "
                        "false)", expression="history")  # fmt: skip
    return value == "true"


def record_media(patient: PatientRecord) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if patient.ehc_id:
        parts = [
            {"name": "kind", "valueCode": "ehc"},
            {"name": "value", "valueString": patient.ehc_id},
        ]
        found.append({"name": "medium", "part": parts})
    for doc in patient.documents:
        if not doc.valid:
            continue
        parts = [
            {"name": "kind", "valueCode": "id-card" if doc.doc_type == "01" else "document"},
            {"name": "value", "valueString": doc.number},
            {"name": "documentType", "valueCode": doc.doc_type},
        ]
        found.append({"name": "medium", "part": parts})
    return found


@router.get("/Patient/{patient_id}/$media", summary="患者介质 (a patient's media, §4.4.2)")
async def media(patient_id: str, request: Request) -> FhirResponse:
    history = _history(request)
    service = container(request).media
    patient, bindings = await call(service.of_patient, patient_id, actor(request), history=history)
    parameters = record_media(patient) + [binding_part(b) for b in bindings]
    return FhirResponse({"resourceType": "Parameters", "parameter": parameters})
