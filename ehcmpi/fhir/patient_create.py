"""``POST /fhir/Patient``: register a patient (guideline §4.1.2 索引注册, §4.4.1 建档, §5.1.1).

Answers 201 Created with the stored Patient — its master-index ID and electronic health card
ID identifier (``urn:oid:2.16.156.10011.1.19``) — and ``Location``.  Registering the same
document again returns 200 with the same patient and EHC ID (registration is idempotent).
A document number that fails its check is refused with 400 and an OperationOutcome naming the
document type and the reason; nothing is written.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ehcmpi.core.model import RegistrationMode
from ehcmpi.fhir.capability import Capability, Interaction
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.patient_resource import parse_patient, patient_resource, registration_request
from ehcmpi.fhir.responses import FhirResponse, base_url

router = APIRouter()
CAPABILITY = Capability("Patient", (Interaction("create", "索引注册 (idempotent registration)"),))
JSON_TYPES = ("application/fhir+json", "application/json")


async def read_json(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type not in JSON_TYPES:
        raise FhirError(
            415,
            "not-supported",
            f"不支持的内容类型 '{content_type}'，请使用 application/fhir+json "
            "(unsupported content type)",
        )
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise FhirError(400, "structure", f"JSON 格式错误 (malformed JSON): {exc}") from None


@router.post("/Patient", status_code=201, summary="Register a patient (索引注册)")
async def create_patient(request: Request) -> FhirResponse:
    resource = parse_patient(await read_json(request))
    wired = container(request)
    registration = registration_request(resource, wired.domains, RegistrationMode.DIRECT)
    result = await run_in_threadpool(wired.registration.register, registration, actor(request))
    patient = result.patient
    location = f"{base_url(request)}/Patient/{patient.mpi_id}/_history/{patient.version}"
    return FhirResponse(
        patient_resource(patient),
        status_code=201 if result.created else 200,
        headers={"Location": location, "ETag": f'W/"{patient.version}"'},
    )
