"""``POST /fhir/Patient``: register a patient (guideline §4.1.2 索引注册, §4.4.1 建档, §5.1.1).

Answers 201 Created with the stored Patient — its master-index ID and electronic health card
ID identifier (``urn:oid:2.16.156.10011.1.19``) — and ``Location``.  Registering the same
document again returns 200 with the same patient and EHC ID (registration is idempotent).
A document number that fails its check is refused with 400 and an OperationOutcome naming the
document type and the reason; nothing is written.  The body may be JSON or XML
(:mod:`ehcmpi.fhir.request_body`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehcmpi.core.model import RegistrationMode
from ehcmpi.fhir.capability import Capability, Interaction
from ehcmpi.fhir.context import actor, container, registrations
from ehcmpi.fhir.hot import HotRoute
from ehcmpi.fhir.patient_resource import patient_resource, registration_request
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import FhirResponse, base_url

# read_json is the shared body reader; routes import it from here as well.
__all__ = ["CAPABILITY", "HOT_ROUTES", "create_patient", "read_json", "router"]
router = APIRouter()
CAPABILITY = Capability("Patient", (Interaction("create", "索引注册 (idempotent registration)"),))


@router.post("/Patient", status_code=201, summary="Register a patient (索引注册)")
async def create_patient(request: Request) -> FhirResponse:
    """The body is read and validated on the event loop; the registration itself runs on one
    of the worker's request threads (it writes, and on the loop the worker would wait on
    every commit), together with the others waiting for one (``ihe.turn_batch``)."""
    resource = await read_json(request, "Patient")
    registration = registration_request(
        resource, container(request).domains, RegistrationMode.DIRECT
    )
    client = request.scope.get("client")  # the connection: does it come back at once?
    result = await registrations(request).ask((registration, actor(request)), client)
    patient = result.patient
    location = f"{base_url(request)}/Patient/{patient.mpi_id}/_history/{patient.version}"
    return FhirResponse(
        patient_resource(patient),
        status_code=201 if result.created else 200,
        headers={"Location": location, "ETag": f'W/"{patient.version}"'},
    )


HOT_ROUTES = (HotRoute("POST", "/Patient", create_patient),)
