"""``GET /fhir/metadata``: the CapabilityStatement (FHIR R4 §3.1.0.14 capabilities).

Truthful by construction: it is rendered from the ``CAPABILITY`` each mounted route module
declares (:mod:`ehcmpi.fhir.capability`), collected by ``create_app`` into
``app.state.capabilities``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request

import ehcmpi
from ehcmpi.fhir.capability import Capability
from ehcmpi.fhir.responses import FhirResponse, base_url

router = APIRouter()
STARTED = dt.datetime.now(dt.UTC).isoformat()
#: The IHE actors this server implements (IHE ITI TF-1 PIXm §41, PDQm §38), for
#: ``CapabilityStatement.instantiates``: the canonicals of the IGs' actor statements (PIXm
#: 3.1.0 ``IHE.PIXm.Manager``; PDQm 3.x names its supplier
#: ``IHE.PDQm.PatientDemographicsSupplier``).
IHE_ACTORS = (
    "https://profiles.ihe.net/ITI/PIXm/CapabilityStatement/IHE.PIXm.Manager",
    "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.PatientDemographicsSupplier",
)
#: ``CapabilityStatement.format``: the mime types and ``_format`` shorthands we read and write.
FORMATS = ("application/fhir+json", "json", "application/fhir+xml", "xml")


#: The IHE Patient profiles the Patient resources conform to (PIXm ITI-104, PDQm ITI-78).
IHE_PATIENT_PROFILES = (
    "https://profiles.ihe.net/ITI/PIXm/StructureDefinition/IHE.PIXm.Patient",
    "https://profiles.ihe.net/ITI/PDQm/StructureDefinition/IHE.PDQm.Patient",
)


def _resource(cap: Capability) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": cap.type}
    if cap.type == "Patient":
        entry["profile"] = "http://hl7.org/fhir/StructureDefinition/Patient"
        entry["supportedProfile"] = list(IHE_PATIENT_PROFILES)
    if cap.interactions:
        entry["interaction"] = [
            {"code": i.code} | ({"documentation": i.documentation} if i.documentation else {})
            for i in cap.interactions
        ]
    entry.update(cap.extra)
    if cap.search_params:
        entry["searchParam"] = [
            {"name": p.name, "type": p.type}
            | ({"documentation": p.documentation} if p.documentation else {})
            for p in cap.search_params
        ]
    if cap.operations:
        entry["operation"] = [
            {"name": o.name, "definition": o.definition}
            | ({"documentation": o.documentation} if o.documentation else {})
            for o in cap.operations
        ]
    return entry


def capability_statement(base: str, capabilities: list[Capability]) -> dict[str, Any]:
    system = [c for c in capabilities if not c.type]
    rest: dict[str, Any] = {
        "mode": "server",
        "resource": [_resource(c) for c in capabilities if c.type],
    }
    if system:
        rest["operation"] = _resource(system[0]).get("operation", [])
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STARTED,
        "kind": "instance",
        "instantiates": list(IHE_ACTORS),
        "software": {"name": "ehcmpi", "version": ehcmpi.__version__},
        "implementation": {"description": "ehcmpi patient master index", "url": base},
        "fhirVersion": "4.0.1",
        "format": list(FORMATS),
        "rest": [rest],
    }


@router.get("/metadata", summary="CapabilityStatement")
def metadata(request: Request) -> FhirResponse:
    capabilities: list[Capability] = request.app.state.capabilities
    return FhirResponse(capability_statement(base_url(request), capabilities))
