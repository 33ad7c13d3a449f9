"""``GET /fhir/ValueSet/{id}``: one published value set (FHIR R4 §4.9 ValueSet, read) — all
the codes of the code system of the same id; any other id is 404.
"""

from __future__ import annotations

from fastapi import APIRouter

from ehcmpi.fhir.capability import Capability, Interaction
from ehcmpi.fhir.codesystem_catalog import table_by_id, valueset_resource
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
CAPABILITY = Capability("ValueSet", (Interaction("read"),))


@router.get("/ValueSet/{valueset_id}", summary="Read a value set (值集)")
def read_valueset(valueset_id: str) -> FhirResponse:
    return FhirResponse(valueset_resource(table_by_id(valueset_id, "ValueSet")))
