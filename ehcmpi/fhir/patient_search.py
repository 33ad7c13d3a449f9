"""``GET /fhir/Patient?…`` and ``POST /fhir/Patient/_search``: PDQm Mobile Patient Demographics
Query (IHE ITI-78, RULES.md 27; FHIR R4 http §3.1.0.8 search, search §3.1.1) and the guideline's
索引查询 (§4.1.2 精准查询 by identifier, 模糊查询 by demographics).

The FHIR twin of HL7 v2 ITI-21: both answer from ``PdqSupplier`` (``ihe.pdq``), one SQL
statement per page.  Parameters: ``search_params`` (``_id, active, family, given, name,
identifier, telecom, birthdate, gender, mothersMaidenName, address,
address-city|state|postalcode|country``, ``:exact``/``:contains``, AND/OR, ``_count``).  Answers:

- 200 Bundle ``searchset`` (PDQm Cases 1 and 3): ``total`` counts every match, the ``self``
  link shows the parameters applied (ignored ones left out), ``first``/``next``/``previous``
  carry a keyset pointer (``_page``), so paging keeps working while patients are registered;
- ``identifier=system|`` (Case 2): only patients with an identifier in those domains, showing
  only those identifiers;
- a domain this server is not an authority for, as ``system|`` or ``system|value`` (Case 4):
  404 with an OperationOutcome issue warning / ``not-found`` "targetSystem not found";
- deprecated records (Case 6): left out unless the query says ``active=false`` (cancelled and
  merged ones, a merged one with its ``replaced-by`` link) or ``active=true,false``;
- 400 for a value or page pointer that cannot be read and for a search without any criterion;
  415 for a ``_search`` body that is not ``application/x-www-form-urlencoded``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request

from ehcmpi.core.errors import DomainError
from ehcmpi.core.search import Field, IdentifierValue, PatientSearch
from ehcmpi.fhir.capability import Capability, Interaction, SearchParam
from ehcmpi.fhir.context import actor, container, lookups
from ehcmpi.fhir.hot import HotRoute
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.patient_resource import patient_resource
from ehcmpi.fhir.responses import FhirResponse, base_url
from ehcmpi.fhir.search_params import MAX_COUNT, ParsedSearch, parse
from ehcmpi.ihe.identifiers import recognised_systems
from ehcmpi.ihe.pdq import PdqQuery, SearchPage
from ehcmpi.ihe.results import PixError
from ehcmpi.terminology.systems import ARCHIVE_NUMBER_SYSTEM

router = APIRouter()
_STRING = "字符串：默认前缀匹配，:exact 精确，:contains 包含 (prefix; :exact, :contains)"
_NAME = "汉字或拼音 (characters or pinyin); 不支持 :contains (no :contains)"
CAPABILITY = Capability(
    "Patient",
    (
        Interaction(
            "search-type",
            "GET [base]/Patient?… 或 POST [base]/Patient/_search (表单); 重复参数为且，逗号为或 "
            "(IHE PDQm ITI-78: repeated parameters AND, commas OR; unknown parameters are "
            "ignored unless Prefer: handling=strict)",
        ),
    ),
    (
        SearchParam("_id", "token", "主索引 ID (master-index ID)"),
        SearchParam("active", "token", "true | false; 缺省只返回有效索引 (default: active only)"),
        SearchParam("family", "string", f"姓 (family name), {_NAME}; :exact"),
        SearchParam("given", "string", f"名 (given name), {_NAME}; :exact"),
        SearchParam("name", "string", f"姓名或名 (whole or given name); {_STRING}"),
        SearchParam(
            "identifier",
            "token",
            "system|value、value 或 system| (只返回该域标识 / domains to return); 证件、电子健康卡 "
            "ID、主索引 ID、档案号或院内标识",
        ),
        SearchParam("telecom", "token", "[phone|]电话号码 (phone number, exact)"),
        SearchParam(
            "birthdate", "date", "[eq|ne|lt|gt|le|ge|sa|eb|ap]YYYY[-MM[-DD]] 出生日期 (birth date)"
        ),
        SearchParam("gender", "token", "male | female | other | unknown, 或 GB/T 2261.1 代码"),
        SearchParam(
            "mothersMaidenName",
            "string",
            f"母亲姓名 (mother's maiden name), 汉字或拼音 (characters or pinyin); {_STRING}",
        ),
        SearchParam("address", "string", f"地址任一部分 (any address part); {_STRING}"),
        SearchParam("address-city", "string", f"城市 (city); {_STRING}"),
        SearchParam("address-state", "string", f"省 (state); {_STRING}"),
        SearchParam("address-postalcode", "string", f"邮编 (postal code); {_STRING}"),
        SearchParam("address-country", "string", f"国家 (country); {_STRING}"),
        SearchParam(
            "_count", "number", f"每页条数，最多 {MAX_COUNT} (page size, at most {MAX_COUNT})"
        ),
    ),
)
#: The parameters the server acts on (``_format`` is general, not a search parameter).
SUPPORTED = frozenset(p.name for p in CAPABILITY.search_params) | {"_format"}
FORM = "application/x-www-form-urlencoded"


#: Searches answered on the event loop: exact lookups by identifier value or ID (indexed, a
#: patient or a few).  Any other search runs on a request thread, so that a broad one at a
#: million patients (hundreds of ms, ``bench/search_bench.py``) holds up no other request.
ON_LOOP = frozenset({"identifier", "_id", "_format"})


def _exact_lookup(pairs: list[tuple[str, str]]) -> bool:
    """Only ``identifier=system|value`` (a value, not a whole domain), ``_id`` and ``_format``."""
    return all(
        name in ON_LOOP and (name != "identifier" or value.rpartition("|")[2].strip())
        for name, value in pairs
    )


@router.get("/Patient", summary="Search patients (PDQm ITI-78; 精准查询 / 模糊查询)")
async def search_patients(request: Request) -> FhirResponse:
    """An exact lookup is answered on the event loop, together with the others that arrive
    in the same turn (``turn_batch``: their identifiers found in one round trip)."""
    pairs = request.query_params.multi_items()
    if not _exact_lookup(pairs):
        return await asyncio.to_thread(_search, request, pairs)
    parsed, query = _query(request, pairs)
    answer: SearchPage | DomainError
    try:
        answer = await lookups(request).ask(query)
    except DomainError as exc:
        answer = exc
    return _answer(request, parsed, answer)


@router.post("/Patient/_search", summary="Search patients with a form body (PDQm ITI-78)")
async def search_patients_post(request: Request) -> FhirResponse:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM:
        raise FhirError(415, "not-supported", f"_search 的请求体须为 {FORM} (body must be {FORM})")
    try:
        form = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise FhirError(400, "invalid", "请求体须为 UTF-8 (body must be UTF-8)") from None
    pairs = [*request.query_params.multi_items(), *form]
    return await asyncio.to_thread(_search, request, pairs)


HOT_ROUTES = (HotRoute("GET", "/Patient", search_patients),)


def _search(request: Request, pairs: list[tuple[str, str]]) -> FhirResponse:
    parsed, query = _query(request, pairs)
    (answer,) = container(request).pdq.query_each([query])
    return _answer(request, parsed, answer)


def _query(request: Request, pairs: list[tuple[str, str]]) -> tuple[ParsedSearch, PdqQuery]:
    """The search the parameters ask for (400 when unreadable, 404 for an unknown domain)."""
    parsed = parse(pairs, strict=_strict(request))
    known = recognised_systems(container(request).domains) | {ARCHIVE_NUMBER_SYSTEM}
    unknown = [s for s in _identifier_systems(parsed) if s not in known]
    if unknown:
        raise _domain_not_found(f"未知的标识域 (targetSystem not found): {', '.join(unknown)}")
    search = PatientSearch(tuple(parsed.conditions))
    return parsed, PdqQuery(
        None if search.is_empty() and parsed.page else search,
        parsed.targets or None,
        parsed.count,
        parsed.page,
        actor(request),
    )


def _answer(
    request: Request, parsed: ParsedSearch, answer: SearchPage | DomainError
) -> FhirResponse:
    if isinstance(answer, PixError):
        if answer.kind == "unknown_target_domain":
            raise _domain_not_found(answer.message)
        where = "_page" if parsed.page else None
        raise FhirError(400, "invalid", answer.message, expression=where)
    if isinstance(answer, DomainError):
        raise answer
    return FhirResponse(_bundle(request, parsed, answer))


def _strict(request: Request) -> bool:
    """``Prefer: handling=strict`` (FHIR R4 search §3.1.1.3.2, RFC 7240)."""
    prefer = request.headers.get("prefer", "")
    return any(p.strip().lower() == "handling=strict" for p in prefer.replace(";", ",").split(","))


def _identifier_systems(parsed: ParsedSearch) -> list[str]:
    return [
        v.system
        for c in parsed.conditions
        if c.field is Field.IDENTIFIER
        for v in c.any_of
        if isinstance(v, IdentifierValue) and v.system
    ]


def _domain_not_found(message: str) -> FhirError:
    """PDQm Case 4 (2:3.78.4.1.3): 404, issue warning / not-found "targetSystem not found"."""
    return FhirError(404, "not-found", message, expression="identifier", severity="warning")


# --- the Bundle ----------------------------------------------------------------------------


def _bundle(request: Request, parsed: ParsedSearch, page: SearchPage) -> dict[str, Any]:
    base = base_url(request)

    def link(relation: str, pointer: str | None) -> dict[str, str]:
        pairs = [*parsed.used, ("_count", str(parsed.count))]
        pairs += [("_page", pointer)] if pointer else []
        return {"relation": relation, "url": f"{base}/Patient?{urlencode(pairs)}"}

    links = [link("self", page.cursor)]
    links.append(link("first", None) if page.cursor else {**links[0], "relation": "first"})
    if page.previous_cursor:
        links.append(link("previous", page.previous_cursor))
    if page.next_cursor:
        links.append(link("next", page.next_cursor))
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "total": page.total,
        "link": links,
    }
    if page.patients:  # FHIR JSON has no empty arrays: no match, no entry (PDQm Case 3)
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/Patient/{p.mpi_id}",
                "resource": _restricted(patient_resource(p), page.targets),
                "search": {"mode": "match"},
            }
            for p in page.patients
        ]
    return bundle


def _restricted(resource: dict[str, Any], targets: tuple[str, ...] | None) -> dict[str, Any]:
    """Only the identifiers of the requested domains (PDQm Case 2)."""
    if targets is not None:
        resource["identifier"] = [
            i for i in resource.get("identifier", []) if i.get("system") in targets
        ]
    return resource
