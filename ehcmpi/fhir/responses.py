"""FHIR responses in JSON or XML, and content negotiation (FHIR R4 §3.1.0.1.10 ``_format``,
§3.1.0.1.7 content types and encodings, RFC 9110 §12.5.1 ``Accept``).

``_format`` wins over ``Accept``.  ``json``, ``application/json`` and ``application/fhir+json``
select JSON; ``xml``, ``text/xml``, ``application/xml`` and ``application/fhir+xml`` select
XML; ``Accept`` ranges are weighed by ``q`` (``*/*`` is JSON); a ``fhirVersion`` parameter
other than 4.0 is not something we can produce.  Anything else is 406 (``ehcmpi.fhir.app``).

The guard negotiates once per request and records the answer in a context variable, so every
:class:`FhirResponse` — a handler's, an error handler's — renders in the format the client
asked for without any handler passing it along.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from functools import lru_cache
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from ehcmpi.fhir.xml_format import resource_to_xml

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
JSON, XML = "json", "xml"
JSON_TYPES = ("application/fhir+json", "application/json")
XML_TYPES = ("application/fhir+xml", "application/xml", "text/xml")
#: ``_format`` values (FHIR R4 §3.1.0.1.10) and ``Accept`` media ranges → format.
_BY_TYPE = dict.fromkeys(JSON_TYPES, JSON) | dict.fromkeys(XML_TYPES, XML)
_FORMATS = {"json": JSON, "xml": XML} | _BY_TYPE
_RANGES = {"*/*": JSON, "application/*": JSON} | _BY_TYPE
_FORMAT: ContextVar[str] = ContextVar("fhir_response_format", default=JSON)


class FhirResponse(Response):
    """A FHIR resource (a JSON-shaped dict) rendered as JSON or, when negotiated, XML."""

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        fmt: str | None = None,
    ) -> None:
        self.fhir_format = fmt or _FORMAT.get()
        self.media_type = f"{FHIR_XML if self.fhir_format == XML else FHIR_JSON}; charset=utf-8"
        super().__init__(content, status_code, headers, media_type, background)

    def render(self, content: Any) -> bytes:
        if self.fhir_format == XML:
            return resource_to_xml(content)
        return orjson.dumps(content)


def negotiate(request: Request) -> str | None:
    """``json`` or ``xml`` as the request asks, or None when it asks for neither."""
    # No query string, no ``_format``: parsing an empty one costs as much as a short one.
    fmt = request.query_params.get("_format") if request.scope["query_string"] else None
    if fmt is not None:
        # "application/fhir+xml" in a query string arrives as "application/fhir xml".
        return _FORMATS.get(fmt.split(";")[0].strip().replace(" ", "+").lower())
    accept = request.headers.get("accept")
    return _best(accept) if accept and accept.strip() else JSON


@lru_cache(maxsize=256)  # a client sends the same Accept header with every request
def _best(accept: str) -> str | None:
    best: tuple[float, str] | None = None
    for media_range in accept.split(","):
        kind, *params = (p.strip() for p in media_range.split(";"))
        fmt = _RANGES.get(kind.lower())
        options = dict(p.partition("=")[::2] for p in params)
        if fmt is None or not options.get("fhirVersion", "4.0").startswith("4.0"):
            continue
        try:
            q = float(options.get("q", "1"))
        except ValueError:
            q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q, fmt)
    return None if best is None else best[1]


def wants_unsupported_format(request: Request) -> bool:
    """True when neither JSON nor XML would satisfy the request (→ 406)."""
    return negotiate(request) is None


def use_format(fmt: str) -> Token[str]:
    """Render this request's :class:`FhirResponse` objects as ``fmt`` (``ehcmpi.fhir.app``)."""
    return _FORMAT.set(fmt)


def reset_format(token: Token[str]) -> None:
    _FORMAT.reset(token)


def base_url(request: Request) -> str:
    """``[base]`` as the client addressed the server, from what Starlette's ``base_url``
    reads (scheme, ``Host``, server address, root path), rendered once per combination."""
    scope = request.scope
    host = next((value for key, value in scope["headers"] if key == b"host"), None)
    root = scope.get("app_root_path", scope.get("root_path", ""))
    server = scope.get("server")  # a tuple from uvicorn, a list from some servers
    key = (scope.get("scheme"), host, tuple(server) if server else None, root)
    found = _BASES.get(key)
    if found is None:
        if len(_BASES) >= 256:  # bounded: the Host header is the client's to choose
            _BASES.clear()
        found = _BASES[key] = str(request.base_url).rstrip("/") + "/fhir"
    return found


_BASES: dict[tuple[Any, ...], str] = {}
