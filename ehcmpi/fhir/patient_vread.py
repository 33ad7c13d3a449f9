"""``GET /fhir/Patient/{id}/_history/{vid}``: one version of a patient (FHIR R4 http
``vread``; guideline §4.1.2 患者基本信息维护 keeps every version).

The Patient as version ``vid`` left it, with ``ETag: W/"vid"``, ``Last-Modified`` and
``meta.versionId``/``lastUpdated``.  An unknown patient or version is 404; the version a
cancellation (索引注销) made is 410 Gone, as FHIR answers for a deleted version.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehcmpi.fhir.capability import Capability, Interaction
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.patient_history import version_snapshot
from ehcmpi.fhir.patient_read import gone, version_headers
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
CAPABILITY = Capability("Patient", (Interaction("vread"),))


@router.get("/Patient/{patient_id}/_history/{version_id}", summary="Read one version")
def vread_patient(patient_id: str, version_id: str, request: Request) -> FhirResponse:
    versions = container(request).query.history(patient_id, actor(request))
    found = next((v for v in versions if str(v.version) == version_id), None)
    if found is None:
        raise FhirError(404, "not-found", f"患者索引 {patient_id} 没有版本 {version_id} "
                        "(no such version)")  # fmt: skip
    resource = version_snapshot(found)
    if resource is None:
        raise gone(patient_id)
    snapshot = found.snapshot.with_changes(version=found.version, updated_at=found.at)
    return FhirResponse(resource, headers=version_headers(snapshot))
