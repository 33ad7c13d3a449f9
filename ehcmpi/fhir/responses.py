"""FHIR JSON responses and content negotiation (FHIR R4 §3.1.0.1.10 ``_format``, ``Accept``).

This server speaks JSON; a request that will take only XML gets 406.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

FHIR_JSON = "application/fhir+json"
_JSON_TYPES = ("json", "*/*", "application/*")


class FhirResponse(Response):
    media_type = f"{FHIR_JSON}; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def wants_unsupported_format(request: Request) -> bool:
    """True when ``_format`` or ``Accept`` asks for something other than JSON."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        return not any(t in fmt for t in ("json",))
    accept = request.headers.get("accept")
    if not accept:
        return False
    return not any(t in accept for t in _JSON_TYPES)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"
