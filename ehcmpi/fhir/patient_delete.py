"""``DELETE /fhir/Patient/{id}``: cancel a patient's index (guideline §4.1.2 索引注销;
FHIR R4 http ``delete``).

The master index never erases a person: the record stays, marked cancelled with the reason,
in a new version; reads then answer 410 Gone, the version history shows the cancellation as
a deletion, and an administrator may restore it (``MaintenanceService.restore``).  Answers
200 with an OperationOutcome and the new version's ETag.  Deleting an index that is already
cancelled changes nothing and answers 200 too (FHIR: a delete of a deleted resource has no
effect); an unknown id is 404; a record merged into another is 409 (cancel its survivor).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehcmpi.core.model import PatientStatus
from ehcmpi.fhir.capability import Capability, Interaction
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.ids import PATIENT_PATH
from ehcmpi.fhir.outcome import operation_outcome
from ehcmpi.fhir.patient_read import version_headers
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
CAPABILITY = Capability("Patient", (Interaction("delete", "索引注销 (cancel the index)"),))
REASON = "FHIR DELETE 注销 (FHIR delete interaction)"


def _informational(message: str) -> dict[str, object]:
    return operation_outcome("informational", message, severity="information")


@router.delete(PATIENT_PATH, summary="Cancel a patient index (索引注销)")
def delete_patient(patient_id: str, request: Request) -> FhirResponse:
    wired, who = container(request), actor(request)
    current = wired.query.get(patient_id, who)
    if current.status is PatientStatus.CANCELLED:
        text = f"患者索引 {current.mpi_id} 已是注销状态 (index was already cancelled)"
        return FhirResponse(_informational(text), headers=version_headers(current))
    cancelled = wired.maintenance.cancel(current.mpi_id, REASON, who)
    text = f"患者索引 {cancelled.mpi_id} 已注销 (patient index cancelled)"
    return FhirResponse(_informational(text), headers=version_headers(cancelled))
