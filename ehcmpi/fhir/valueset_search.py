"""``GET /fhir/ValueSet``: the value sets this server publishes, one per code system with all
its codes (FHIR R4 §4.9 ValueSet, §3.1.0.8 search).  ``url`` and ``_id`` (comma = OR).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehcmpi.fhir.capability import Capability, Interaction, SearchParam
from ehcmpi.fhir.codesystem_catalog import TABLES, query, searchset, valueset_resource
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
CAPABILITY = Capability(
    "ValueSet",
    (Interaction("search-type", "本服务器发布的值集 (the value sets we publish)"),),
    (SearchParam("url", "uri", "值集的规范 URL"), SearchParam("_id", "token")),
)


@router.get("/ValueSet", summary="Search value sets (值集)")
def search_valuesets(request: Request) -> FhirResponse:
    params = query(request, ("url", "_id"))
    urls = params["url"].split(",") if "url" in params else None
    ids = params["_id"].split(",") if "_id" in params else None
    found = [
        t
        for t in TABLES
        if (urls is None or t.valueset_url in urls) and (ids is None or t.id in ids)
    ]
    return FhirResponse(searchset(request, (valueset_resource(t) for t in found)))
