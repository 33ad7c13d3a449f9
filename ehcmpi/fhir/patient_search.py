"""``GET /fhir/Patient?…``: search (§4.1.2 索引查询: 精准查询 and 模糊查询).

``identifier=system|value`` (comma = OR) finds a patient by any identifier: document, EHC ID,
master-index ID, archive number or a configured hospital domain; an identifier system that is
none of these answers 404 (as IHE PDQm does for an unknown domain).  ``name`` (Chinese
characters or pinyin, prefix), ``birthdate`` (a full date), ``gender``, ``telecom`` and
``_count`` narrow or fuzzy-search.  Parameters are ANDed; an unsupported one is refused with
400 rather than silently ignored, and so is a repeated one (FHIR would AND its values, which
none of these parameters supports; comma-separated values are ORed).  Cancelled patients are
not returned.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor, FuzzyQuery, PatientRecord, PatientStatus
from ehcmpi.core.query import MAX_FUZZY_RESULTS
from ehcmpi.fhir.capability import Capability, Interaction, SearchParam
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.patient_resource import SERVER_ASSIGNED, patient_resource
from ehcmpi.fhir.responses import FhirResponse, base_url
from ehcmpi.terminology.errors import UnknownCodeError
from ehcmpi.terminology.gender import gender_from_fhir
from ehcmpi.terminology.pinyin import has_cjk, pinyin_key
from ehcmpi.terminology.systems import document_type_for_system

router = APIRouter()
SUPPORTED = frozenset({"identifier", "name", "birthdate", "gender", "telecom", "_count", "_format"})
DEFAULT_COUNT = 50
CAPABILITY = Capability(
    "Patient",
    (Interaction("search-type"),),
    (
        SearchParam(
            "identifier", "token", "system|value: 证件、电子健康卡 ID、主索引 ID、档案号或院内标识"
        ),
        SearchParam("name", "string", "姓名前缀，汉字或拼音 (name prefix, characters or pinyin)"),
        SearchParam("birthdate", "date", "出生日期 YYYY-MM-DD"),
        SearchParam("gender", "token", "male | female | other | unknown"),
        SearchParam("telecom", "token", "电话号码 (exact phone number)"),
        SearchParam("_count", "number"),
    ),
)


def _bad(message: str, where: str) -> FhirError:
    return FhirError(400, "invalid", message, expression=where)


def _known_system(wired: Container, system: str) -> bool:
    return (
        system in SERVER_ASSIGNED
        or document_type_for_system(system) is not None
        or wired.domains.by_system(system) is not None
    )


def _by_identifier(wired: Container, param: str, who: Actor) -> dict[str, PatientRecord]:
    found: dict[str, PatientRecord] = {}
    for token in param.split(","):
        system, sep, value = token.partition("|")
        if not sep or not system or not value:
            raise _bad(
                f"identifier 须为 system|value 格式 (expected system|value): {token}", "identifier"
            )
        if not _known_system(wired, system):
            raise FhirError(
                404, "not-found", f"未知的标识域 '{system}' (unknown identifier domain)"
            )
        patient = wired.query.find(system, value, who)
        if patient is not None:
            found[patient.mpi_id] = patient
    return found


def _fuzzy(params: dict[str, str], count: int) -> FuzzyQuery | None:
    gender = None
    if "gender" in params:
        try:
            gender = gender_from_fhir(params["gender"])
        except UnknownCodeError:
            raise _bad(f"gender 无效 (invalid gender): {params['gender']}", "gender") from None
    birth = None
    if "birthdate" in params:
        raw = params["birthdate"].removeprefix("eq")
        try:
            birth = dt.date.fromisoformat(raw)
        except ValueError:
            raise _bad(
                f"birthdate 须为 YYYY-MM-DD (full date expected): {raw}", "birthdate"
            ) from None
    # One more than a page, to know whether there are more matches than ``_count``.
    query = FuzzyQuery(
        name=params.get("name"), birth_date=birth, gender=gender, phone=params.get("telecom"),
        limit=min(count + 1, MAX_FUZZY_RESULTS),
    )  # fmt: skip
    return None if query.is_empty() else query


def _count(params: dict[str, str]) -> int:
    raw = params.get("_count", str(DEFAULT_COUNT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_FUZZY_RESULTS:
        raise _bad(f"_count 须在 1 到 {MAX_FUZZY_RESULTS} 之间 (out of range): {raw}", "_count")
    return int(raw)


def _matches(patient: PatientRecord, query: FuzzyQuery) -> bool:
    """The fuzzy criteria applied to an identifier's result (parameters are ANDed)."""
    d = patient.demographics
    if query.name:
        name = query.name.strip()
        if not d.name:
            return False
        if not (d.name if has_cjk(name) else pinyin_key(d.name)).startswith(
            name if has_cjk(name) else pinyin_key(name)
        ):
            return False
    return (
        (query.birth_date is None or d.birth_date == query.birth_date)
        and (query.gender is None or d.gender == query.gender)
        and (query.phone is None or query.phone.strip() in d.phones)
    )


def searchset(
    request: Request, patients: list[PatientRecord], *, complete: bool = True
) -> dict[str, Any]:
    """A searchset Bundle; ``total`` counts every match, so it is left out when the page
    was cut at ``_count`` and the number of further matches is unknown."""
    base = base_url(request)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if complete:
        bundle["total"] = len(patients)
    return bundle | {
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": [
            {
                "fullUrl": f"{base}/Patient/{p.mpi_id}",
                "resource": patient_resource(p),
                "search": {"mode": "match"},
            }
            for p in patients
        ],
    }


@router.get("/Patient", summary="Search patients (精准查询 / 模糊查询)")
def search_patients(request: Request) -> FhirResponse:
    params = dict(request.query_params)
    unsupported = sorted(set(params) - SUPPORTED)
    if unsupported:
        raise _bad(
            f"不支持的查询参数 (unsupported search parameter): {', '.join(unsupported)}",
            unsupported[0],
        )
    keys = [key for key, _ in request.query_params.multi_items()]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise _bad(
            f"查询参数重复，多个值请用逗号分隔 (repeated search parameter; separate values "
            f"with a comma): {', '.join(repeated)}",
            repeated[0],
        )
    wired, who, count = container(request), actor(request), _count(params)
    fuzzy = _fuzzy(params, count)
    if "identifier" in params:
        found = _by_identifier(wired, params["identifier"], who)
        results = [p for p in found.values() if fuzzy is None or _matches(p, fuzzy)]
        exhaustive = True
    elif fuzzy is not None:
        results = wired.query.search(fuzzy, who)
        # Asked for one more than a page (at most MAX_FUZZY_RESULTS): fewer means all.
        exhaustive = len(results) < fuzzy.limit or fuzzy.limit > count
    else:
        raise _bad("至少需要一个查询参数 (give at least one search parameter)", "Patient")
    active = [p for p in results if p.status is PatientStatus.ACTIVE]
    complete = exhaustive and len(active) <= count
    return FhirResponse(searchset(request, active[:count], complete=complete))
