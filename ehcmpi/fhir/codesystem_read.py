"""``GET /fhir/CodeSystem/{id}``: one published code system (FHIR R4 §4.8 CodeSystem, read):
``document-type`` (guideline Appendix A), ``gb-t-2261-1-gender`` (GB/T 2261.1-2003),
``gb-t-3304-ethnicity`` (GB/T 3304-1991); any other id is 404.
"""

from __future__ import annotations

from fastapi import APIRouter

from ehcmpi.fhir.capability import Capability, Interaction
from ehcmpi.fhir.codesystem_catalog import codesystem_resource, table_by_id
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
CAPABILITY = Capability("CodeSystem", (Interaction("read"),))


@router.get("/CodeSystem/{codesystem_id}", summary="Read a code system (代码系统)")
def read_codesystem(codesystem_id: str) -> FhirResponse:
    return FhirResponse(codesystem_resource(table_by_id(codesystem_id, "CodeSystem")))
