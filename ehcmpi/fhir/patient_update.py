"""``PUT /fhir/Patient/{id}``: maintain a patient (guideline §4.1.2 患者基本信息维护).

The body's demographics replace the stored ones; the old values stay in the version history.
Documents in the body that the record lacks are added — the first valid one issues the EHC ID
of a record that had none (§5.1.6 step 4–5).  ``If-Match: W/"n"`` makes the update
conditional on version n: a stale version answers 412 Precondition Failed and changes
nothing.  Updating a cancelled index answers 409.  Every version is kept: ``GET
/Patient/{id}/_history`` lists them and ``/_history/{vid}`` reads one (``versioned-update``).
"""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, Request

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import VersionConflictError
from ehcmpi.core.model import Actor, PatientRecord, RegistrationMode, RegistrationRequest
from ehcmpi.fhir.capability import Capability, Interaction
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.ids import PATIENT_PATH
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.patient_create import read_json
from ehcmpi.fhir.patient_read import version_headers
from ehcmpi.fhir.patient_resource import patient_resource, registration_request
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
CAPABILITY = Capability(
    "Patient",
    (Interaction("update", "患者基本信息维护 (maintain demographics); If-Match"),),
    extra={"versioning": "versioned-update", "updateCreate": False},
)
_ETAG = re.compile(r'^(?:W/)?"(\d+)"$')


def _expected_version(request: Request) -> int | None:
    header = request.headers.get("if-match")
    if header is None:
        return None
    match = _ETAG.match(header.strip())
    if match is None:
        raise FhirError(400, "invalid", f'If-Match 须为 W/"版本号" (expected W/"n"): {header}')
    return int(match.group(1))


def _update(
    wired: Container, mpi_id: str, request: RegistrationRequest, who: Actor, version: int | None
) -> PatientRecord:
    try:
        return wired.maintenance.update_demographics(
            mpi_id, request.demographics, who, expected_version=version, documents=request.documents
        )
    except VersionConflictError as exc:
        if version is None:
            raise
        raise FhirError(412, "conflict", exc.message) from None


@router.put(PATIENT_PATH, summary="Update a patient (患者基本信息维护)")
async def update_patient(patient_id: str, request: Request) -> FhirResponse:
    resource = await read_json(request, "Patient")
    if resource.get("id") not in (None, patient_id):
        raise FhirError(400, "invalid", "资源 id 与 URL 不一致 (resource id does not match URL)")
    version = _expected_version(request)
    wired = container(request)
    update = registration_request(resource, wired.domains, RegistrationMode.DIRECT)
    if update.source_ids:
        raise FhirError(
            422, "business-rule",
            "院内标识不能通过更新添加，请用注册 (add hospital identifiers by registration)",
        )  # fmt: skip
    patient = await asyncio.to_thread(_update, wired, patient_id, update, actor(request), version)
    return FhirResponse(patient_resource(patient), headers=version_headers(patient))
