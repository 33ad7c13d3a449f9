"""Request bodies checked against the FHIR R4 models (``fhir.resources.R4B``; FHIR R4
§3.1.0.4 "the server SHALL reject a resource that is not valid": 400 with an OperationOutcome).

Every problem the model finds becomes one issue whose ``expression`` is the FHIRPath of the
element (``Patient.identifier[0].period.start``), in JSON and XML alike: the XML reader
produces the same dict the JSON client would have sent.  A ``Patient`` of the common shape
that :func:`ehcmpi.fhir.plain_shape.plain_patient` vouches for skips the model (14 instead of
119 µs for a typical registration on the bench machine).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.plain_shape import plain_patient

#: How many of the model's complaints one OperationOutcome carries.
MAX_ISSUES = 10


def fhir_path(resource_type: str, loc: Sequence[int | str]) -> str:
    """``("identifier", 0, "period")`` → ``Patient.identifier[0].period``."""
    path = resource_type
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validate_resource(body: Any, expected: str | None = None) -> dict[str, Any]:
    """``body`` if it is a valid FHIR resource (of type ``expected``, when given); else 400."""
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise FhirError(400, "structure", "请求体须为 FHIR 资源，缺少 resourceType "
                        "(body must be a FHIR resource with a resourceType)")  # fmt: skip
    kind = body["resourceType"]
    if expected is not None and kind != expected:
        raise FhirError(400, "structure", f"请求体必须是 {expected} 资源，收到 {kind} "
                        f"(body must be a {expected})")  # fmt: skip
    if kind == "Patient" and plain_patient(body):
        return body
    try:
        model = get_fhir_model_class(kind)
    except (KeyError, ValueError):
        raise FhirError(400, "not-supported", f"未知的资源类型 '{kind}' (unknown resource type)",
                        expression="resourceType") from None  # fmt: skip
    try:
        model.model_validate(body)
    except ValidationError as exc:
        raise _invalid(kind, exc) from None
    return body


def _invalid(kind: str, exc: ValidationError) -> FhirError:
    errors = exc.errors()[:MAX_ISSUES]
    issues = []
    for error in errors:
        where = fhir_path(kind, error["loc"])
        issues.append((f"{kind} 资源无效 (invalid {kind}): {where}: {error['msg']}", where))
    first_message, first_where = issues[0]
    return FhirError(400, "invalid", first_message, expression=first_where, more=issues[1:])
