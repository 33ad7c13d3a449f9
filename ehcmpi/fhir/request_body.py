"""The one reader of FHIR request bodies, for every route that takes one (FHIR R4 §3.1.0.1.7
content types, §2.6 XML, §2.5 JSON, §3.1.0.4 status codes).

``Content-Type`` ``application/fhir+json`` / ``application/json`` is read as JSON,
``application/fhir+xml`` / ``application/xml`` / ``text/xml`` as XML (into the same JSON-shaped
dict); anything else is 415.  Malformed JSON or XML is 400 ``structure``; a resource the R4
model refuses is 400 ``invalid`` with the element's FHIRPath in ``expression``.  Nothing has
been written when any of these is raised: handlers call this before they touch a service.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.responses import JSON_TYPES, XML_TYPES
from ehcmpi.fhir.validation import validate_resource
from ehcmpi.fhir.xml_format import xml_to_resource

__all__ = ["read_json"]


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json(request: Request, expected: str | None = None) -> dict[str, Any]:
    """The body as a validated, JSON-shaped FHIR resource, whether sent as JSON or XML; of
    type ``expected`` when given (checked first, so a wrong type is named as such)."""
    kind = content_type(request)
    if kind not in JSON_TYPES and kind not in XML_TYPES:
        raise FhirError(
            415,
            "not-supported",
            f"不支持的内容类型 '{kind}'，请使用 application/fhir+json 或 application/fhir+xml "
            "(unsupported content type)",
        )
    data = await request.body()
    if kind in XML_TYPES:
        return validate_resource(xml_to_resource(data), expected)
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FhirError(400, "structure", f"JSON 格式错误 (malformed JSON): {exc}") from None
    return validate_resource(body, expected)
