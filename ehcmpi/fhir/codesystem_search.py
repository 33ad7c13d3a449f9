"""``GET /fhir/CodeSystem``: the code systems this server publishes (FHIR R4 §4.8 CodeSystem,
§3.1.0.8 search): guideline Appendix A document types, GB/T 2261.1 gender, GB/T 3304
ethnicity.  ``url`` and ``_id`` (comma = OR) narrow the list; no parameter lists them all.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehcmpi.fhir.capability import Capability, Interaction, SearchParam
from ehcmpi.fhir.codesystem_catalog import TABLES, codesystem_resource, query, searchset
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
CAPABILITY = Capability(
    "CodeSystem",
    (Interaction("search-type", "本服务器发布的代码系统 (the code systems we publish)"),),
    (SearchParam("url", "uri", "代码系统的规范 URL"), SearchParam("_id", "token")),
)


@router.get("/CodeSystem", summary="Search code systems (代码系统)")
def search_codesystems(request: Request) -> FhirResponse:
    params = query(request, ("url", "_id"))
    urls = params["url"].split(",") if "url" in params else None
    ids = params["_id"].split(",") if "_id" in params else None
    found = [t for t in TABLES if (urls is None or t.url in urls) and (ids is None or t.id in ids)]
    return FhirResponse(searchset(request, (codesystem_resource(t) for t in found)))
