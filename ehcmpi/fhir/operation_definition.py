"""``GET /fhir/OperationDefinition/{id}``: the OperationDefinitions this server defines
(FHIR R4 §6.1.8 OperationDefinition, §3.1.0.10 "the definition SHALL be available").

Every operation a mounted module declares with its own ``resource``
(:class:`ehcmpi.fhir.capability.Operation`) is served here under the last path segment of its
canonical URL — ``http://ehcmpi.org/fhir/OperationDefinition/Patient-merge`` is
``OperationDefinition/Patient-merge`` — so each ``definition`` the CapabilityStatement lists
for our own operations resolves on this server.  Definitions published by others (IHE's
``IHE.PIXm.pix``, HL7's base operations) are not copied: 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.fhir.capability import Capability, Interaction
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
CAPABILITY = Capability(
    "OperationDefinition", (Interaction("read", "本服务器定义的操作 (our own operations)"),)
)


def definition_id(canonical: str) -> str:
    return canonical.rstrip("/").rsplit("/", 1)[-1]


def served_definitions(request: Request) -> dict[str, dict[str, Any]]:
    """id → OperationDefinition, from what the mounted modules declared."""
    capabilities: list[Capability] = request.app.state.capabilities
    found: dict[str, dict[str, Any]] = {}
    for cap in capabilities:
        for op in cap.operations:
            if op.resource is not None:
                key = definition_id(op.definition)
                found[key] = {**op.resource, "id": key, "url": op.definition}
    return found


@router.get("/OperationDefinition/{definition}", summary="Read an OperationDefinition (操作定义)")
def read_operation_definition(definition: str, request: Request) -> FhirResponse:
    resource = served_definitions(request).get(definition)
    if resource is None:
        raise FhirError(
            404, "not-found", f"操作定义 {definition} 不存在 (no such OperationDefinition)"
        )
    return FhirResponse(resource)
