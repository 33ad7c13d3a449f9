"""``GET /fhir/Patient/{id}``: read one patient by master-index ID (§4.1.2 索引查询 精准查询;
FHIR R4 http ``read``).

The answer carries the version: ``meta.versionId`` and ``meta.lastUpdated`` in the resource,
``ETag: W/"n"`` and ``Last-Modified`` as headers (FHIR R4 http "read": the server SHOULD
return both).  A cancelled index (§4.1.2 索引注销) reads as 410 Gone, as FHIR does for
deleted resources; a record merged into another reads with ``active=false`` and a
``replaced-by`` link to its survivor (FHIR R4 Patient "dup-records").
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

from fastapi import APIRouter, Request

from ehcmpi.core.model import PatientRecord, PatientStatus
from ehcmpi.fhir.capability import Capability, Interaction
from ehcmpi.fhir.context import actor, reads
from ehcmpi.fhir.hot import HotRoute
from ehcmpi.fhir.ids import PATIENT_PATH
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.patient_resource import patient_resource
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
CAPABILITY = Capability("Patient", (Interaction("read"),))


def version_headers(patient: PatientRecord) -> dict[str, str]:
    """``ETag: W/"n"`` and ``Last-Modified`` (RFC 9110 HTTP-date) of one version."""
    headers = {"ETag": f'W/"{patient.version}"'}
    if patient.updated_at is not None:
        at = patient.updated_at.astimezone(dt.UTC)
        headers["Last-Modified"] = format_datetime(at, usegmt=True)
    return headers


def gone(mpi_id: str) -> FhirError:
    return FhirError(410, "deleted", f"患者索引 {mpi_id} 已注销 (patient index cancelled)")


@router.get(PATIENT_PATH, summary="Read a patient (精准查询)")
async def read_patient(patient_id: str, request: Request) -> FhirResponse:
    """On the event loop: one indexed statement by primary key, shorter than the hand-off to
    a worker thread and back that a ``def`` endpoint costs (and that thread's fight with the
    loop for the GIL); reads arriving together share a round trip (``turn_batch``)."""
    patient = await reads(request).ask((patient_id, actor(request)))
    if patient.status is PatientStatus.CANCELLED:
        raise gone(patient_id)
    return FhirResponse(patient_resource(patient), headers=version_headers(patient))


HOT_ROUTES = (HotRoute("GET", PATIENT_PATH, read_patient),)
