"""``GET /fhir/Patient/$ihe-pix``: PIXm Get Corresponding Identifiers (IHE ITI-83; RULES.md
23–25), the FHIR twin of HL7 v2 ITI-9 — both answer from ``PixManager.cross_references``.

OperationDefinition (PIXm 3.1.0 ``IHE.PIXm.pix``): IN ``sourceIdentifier`` 1..1 (token
``system|value``), ``targetSystem`` 0..* (uri), ``_format``; OUT a ``Parameters`` with one
``targetIdentifier`` (Identifier) per id in another domain and one ``targetId`` (Reference)
per matching Patient.  The queried identifier itself is never returned.  Errors: unknown
source domain 400 ``code-invalid``, unknown id 404 ``not-found``, unknown target system 403
``code-invalid`` (RULES 25).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.core.model import SourceIdentifier
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.responses import FhirResponse
from ehcmpi.ihe.results import PixError

router = APIRouter()
CAPABILITY = Capability(
    "Patient",
    operations=(
        Operation(
            "ihe-pix",
            "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix",
            "PIXm ITI-83: corresponding identifiers",
        ),
    ),
)
ALLOWED = frozenset({"sourceIdentifier", "targetSystem", "_format"})
#: PixError kind → (HTTP status, issue code, PIXm's wording)
_ERRORS = {
    "unknown_source_domain": (
        400,
        "code-invalid",
        "sourceIdentifier Assigning Authority not found",
    ),
    "unknown_id": (404, "not-found", "sourceIdentifier Patient Identifier not found"),
    "unknown_target_domain": (403, "code-invalid", "targetSystem not found"),
}


def _source(request: Request) -> SourceIdentifier:
    unknown = sorted(set(request.query_params) - ALLOWED)
    if unknown:
        raise FhirError(400, "not-supported", f"不支持的参数 (unsupported parameter): {unknown[0]}")
    given = request.query_params.getlist("sourceIdentifier")
    if len(given) != 1:
        raise FhirError(400, "required", "须且仅须一个 sourceIdentifier (exactly one "
                        "sourceIdentifier is required)", expression="sourceIdentifier")  # fmt: skip
    system, sep, value = given[0].partition("|")
    if not sep or not system or not value:
        raise FhirError(400, "invalid", "sourceIdentifier 须为 system|value 格式 (expected "
                        "system|value)", expression="sourceIdentifier")  # fmt: skip
    return SourceIdentifier(system, value)


@router.get("/Patient/$ihe-pix", summary="PIXm: corresponding identifiers (ITI-83)")
def ihe_pix(request: Request) -> FhirResponse:
    source = _source(request)
    targets = request.query_params.getlist("targetSystem") or None
    wired = container(request)
    try:
        refs = wired.pix.cross_references(source, targets, actor=actor(request))
    except PixError as exc:
        status, code, wording = _ERRORS.get(exc.kind, (400, "invalid", exc.message))
        raise FhirError(status, code, f"{exc.message} ({wording})") from None
    parameters: list[dict[str, Any]] = [
        {"name": "targetIdentifier", "valueIdentifier": {"system": system, "value": value}}
        for system, value in refs.identifiers
    ]
    if refs.found:
        parameters.append(
            {"name": "targetId", "valueReference": {"reference": f"Patient/{refs.patient.mpi_id}"}}
        )
    return FhirResponse({"resourceType": "Parameters", "parameter": parameters})
