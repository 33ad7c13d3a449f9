"""``POST /fhir/Patient/$match``: PDQm Patient Demographics Match (IHE ITI-119, PDQm 3.2;
FHIR R4 Patient $match; guideline §4.1.2 模糊查询; RULES.md 28).

OperationDefinition ``https://profiles.ihe.net/ITI/PDQm/OperationDefinition/PDQmMatch``
(base ``http://hl7.org/fhir/OperationDefinition/Patient-match``), type level, affectsState
false: IN ``resource`` 1..1 Patient, ``onlyCertainMatches`` 0..1 boolean, ``count`` 0..1
integer — a bare Patient body is the same as ``resource`` alone; OUT ``return`` 1..1 Bundle,
returned directly.

The answer is a ``searchset`` Bundle, most likely first.  Each patient entry has
``search.mode = match``, ``search.score`` (the posterior probability of a match, 0..1) and the
``match-grade`` extension — the formula and the grade bands are in
:mod:`ehcmpi.core.matching.grading` — and beside them the engine's own explanation::

    "search": {"mode": "match", "score": 0.999998, "extension": [
      {"url": "http://hl7.org/fhir/StructureDefinition/match-grade", "valueCode": "certain"},
      {"url": "http://ehcmpi.org/fhir/StructureDefinition/match-explanation", "extension": [
        {"url": "weight", "valueDecimal": 18.91},          # Fellegi–Sunter weight (log2 odds)
        {"url": "outcome", "valueCode": "MATCH"},          # MATCH | POSSIBLE_MATCH
        {"url": "rules", "valueString": "zh-synthetic-2026.11"},
        {"url": "summary", "valueString": "MATCH weight 18.9: document=exact (+20.5), …"},
        {"url": "field", "extension": [                    # one per comparison of the rules
          {"url": "name", "valueString": "document"},
          {"url": "level", "valueCode": "exact"},          # absent: the field was missing
          {"url": "weight", "valueDecimal": 20.53}]}, …]}]}

Only Appendix A documents among the input identifiers take part in matching; any other
identifier (a hospital's local ID, an EHC ID, an unknown system) is ignored and named in an
OperationOutcome entry of severity ``warning`` (``search.mode = outcome``, ITI-119 Case 10).
No match is a 200 empty Bundle (Case 7).  Errors are an OperationOutcome (Case 9), all 400:
a body that is neither Parameters nor Patient, a missing ``resource``, a parameter unknown or
of the wrong type, a resource the R4 model refuses, a document number failing its check; an
unknown document type code is 422.  Nothing is written (:mod:`ehcmpi.core.matching.lookup`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.core.matching.grading import MATCH_GRADE_URL
from ehcmpi.core.matching.lookup import GradedMatch
from ehcmpi.core.matching.scoring import MatchResult
from ehcmpi.core.model import RegistrationMode
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.outcome import FhirError, operation_outcome
from ehcmpi.fhir.patient_resource import EXT_BASE, parse_patient, patient_resource
from ehcmpi.fhir.patient_resource import registration_request as request_of
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import FhirResponse, base_url
from ehcmpi.terminology.systems import DOCUMENT_TYPE_CODESYSTEM, document_type_for_system

router = APIRouter()
DEFINITION = "https://profiles.ihe.net/ITI/PDQm/OperationDefinition/PDQmMatch"
EXT_EXPLANATION = f"{EXT_BASE}/match-explanation"
CAPABILITY = Capability(
    "Patient",
    operations=(Operation("match", DEFINITION, "PDQm ITI-119: 人口学匹配 (demographics match)"),),
)
DECLARED = {"resource": "1", "onlyCertainMatches": "1", "count": "1"}


def _query(body: Any) -> tuple[dict[str, Any], bool, int | None]:
    """The Patient, onlyCertainMatches and count of a Parameters or bare Patient body."""
    if isinstance(body, dict) and body.get("resourceType") == "Patient":
        return parse_patient(body), False, None
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError(400, "structure", "请求体须为 Parameters 或 Patient 资源 "
                        "(body must be a Parameters or a Patient resource)")  # fmt: skip
    given = p.read_parameters(body, DECLARED)
    p.required(given, "resource")
    patient = p.resource(given, "resource", "Patient")
    assert patient is not None
    return (
        parse_patient(patient),
        p.boolean(given, "onlyCertainMatches"),
        p.positive_int(given, "count"),
    )


def _is_document(identifier: dict[str, Any]) -> bool:
    if document_type_for_system(str(identifier.get("system", ""))):
        return True
    codings = identifier.get("type", {}).get("coding", [])
    return any(c.get("system") == DOCUMENT_TYPE_CODESYSTEM for c in codings)


def _documents_only(patient: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The Patient with only its document identifiers, and the systems left out."""
    given = patient.get("identifier", [])
    kept = [i for i in given if isinstance(i, dict) and _is_document(i)]
    ignored = [str(i.get("system")) for i in given if i not in kept]
    return {**patient, "identifier": kept}, list(dict.fromkeys(ignored))


def explanation(result: MatchResult) -> dict[str, Any]:
    """The engine's per-field decision as the ``match-explanation`` extension."""
    fields = []
    for f in result.fields:
        parts: list[dict[str, Any]] = [{"url": "name", "valueString": f.name}]
        if f.level is not None:
            parts.append({"url": "level", "valueCode": f.level})
        parts.append({"url": "weight", "valueDecimal": round(f.weight, 3)})
        fields.append({"url": "field", "extension": parts})
    return {
        "url": EXT_EXPLANATION,
        "extension": [
            {"url": "weight", "valueDecimal": round(result.weight, 3)},
            {"url": "outcome", "valueCode": result.outcome.value},
            {"url": "rules", "valueString": result.rules_version},
            {"url": "summary", "valueString": result.reason()},
            *fields,
        ],
    }


def _entry(base: str, match: GradedMatch) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/Patient/{match.patient.mpi_id}",
        "resource": patient_resource(match.patient),
        "search": {
            "extension": [
                {"url": MATCH_GRADE_URL, "valueCode": match.grade.value},
                explanation(match.result),
            ],
            "mode": "match",
            "score": match.score,
        },
    }


def _warning(ignored: list[str]) -> dict[str, Any]:
    message = (
        f"以下标识不参与匹配: {', '.join(ignored)}；精确查找请用 GET Patient?identifier= "
        "(identifiers other than identity documents are not used for matching; for an exact "
        "lookup use GET Patient?identifier=)"
    )
    outcome = operation_outcome("informational", message, severity="warning",
                                expression="Patient.identifier")  # fmt: skip
    return {"resource": outcome, "search": {"mode": "outcome"}}


def bundle(base: str, found: list[GradedMatch], ignored: list[str]) -> dict[str, Any]:
    entries = [_entry(base, m) for m in found]
    if ignored:
        entries.append(_warning(ignored))
    out: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": "self", "url": f"{base}/Patient/$match"}],
    }
    if entries:
        out["entry"] = entries
    return out


@router.post("/Patient/$match", summary="PDQm $match: demographics match (ITI-119)")
async def match(request: Request) -> FhirResponse:
    patient, only_certain, count = _query(await read_json(request))
    documents_only, ignored = _documents_only(patient)
    wired = container(request)
    query = request_of(documents_only, wired.domains, RegistrationMode.FEED)
    found = await asyncio.to_thread(
        wired.matches.find,
        query.demographics,
        query.documents,
        actor(request),
        only_certain=only_certain,
        limit=count,
    )
    return FhirResponse(bundle(base_url(request), found, ignored))
