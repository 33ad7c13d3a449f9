"""``GET /fhir/Patient/{id}``: read one patient by master-index ID (§4.1.2 索引查询 精准查询).

A cancelled index (§4.1.2 索引注销) reads as 410 Gone, as FHIR does for deleted resources.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehcmpi.core.model import PatientStatus
from ehcmpi.fhir.capability import Capability, Interaction
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.patient_resource import patient_resource
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
CAPABILITY = Capability("Patient", (Interaction("read"),))


@router.get("/Patient/{patient_id}", summary="Read a patient (精准查询)")
def read_patient(patient_id: str, request: Request) -> FhirResponse:
    patient = container(request).query.get(patient_id, actor(request))
    if patient.status is PatientStatus.CANCELLED:
        raise FhirError(410, "deleted", f"患者索引 {patient_id} 已注销 (patient index cancelled)")
    return FhirResponse(patient_resource(patient), headers={"ETag": f'W/"{patient.version}"'})
