"""What the media operations share (guideline §4.4 多卡（码）协同): ``$read-medium``,
``$bind-medium``, ``$unbind-medium`` and ``$media``.

A binding as a ``Parameters`` part, the 503 answer when the external identity system alone
could answer and is down (§6.5; ``Retry-After`` is the circuit breaker's cool-down), and the
status of the reader's errors: a bad parameter is 400 (FHIR R4 §3.1.0.4), a patient that
cannot be created from what was given is 422.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request

from ehcmpi.core.errors import DomainError, InvalidDocumentError, InvalidInputError
from ehcmpi.core.media import MediaBinding
from ehcmpi.core.reading import ServiceUnavailableError
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.outcome import FhirError, operation_outcome
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import FhirResponse

T = TypeVar("T")
#: error locations that name one of the operations' input parameters
PARAMETERS = frozenset({"medium", "value", "documentType", "terminal", "careStep", "channel"})


async def read_medium(request: Request, declared: dict[str, str]) -> tuple[str, str, str | None]:
    """The ``medium``, ``value`` and optional ``reason`` of a ``$bind-medium`` or
    ``$unbind-medium`` Parameters body (both required but the reason; 400 otherwise)."""
    given = p.read_parameters(await read_json(request, "Parameters"), declared)
    p.required(given, "medium")
    p.required(given, "value")
    return p.text(given, "medium") or "", p.text(given, "value") or "", p.text(given, "reason")


class Unavailable(Exception):
    """Carries the 503 response out of a handler."""

    def __init__(self, response: FhirResponse) -> None:
        super().__init__("unavailable")
        self.response = response


def unavailable(exc: ServiceUnavailableError) -> FhirResponse:
    seconds = max(1, math.ceil(exc.retry_after or 1))
    body = operation_outcome("transient", exc.message)
    return FhirResponse(body, status_code=503, headers={"Retry-After": str(seconds)})


def as_fhir(exc: DomainError) -> FhirError:
    """400 for a bad parameter (and a document failing its check), else the usual mapping."""
    bad_input = isinstance(exc, InvalidInputError) and not isinstance(exc, InvalidDocumentError)
    if bad_input and exc.location in PARAMETERS:
        where = f"Parameters.parameter.where(name='{exc.location}')"
        return FhirError(400, "invalid", exc.message, expression=where)
    return FhirError.from_domain(exc)


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a service call in a worker thread; its domain errors as FHIR errors."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except ServiceUnavailableError as exc:
        raise Unavailable(unavailable(exc)) from None
    except DomainError as exc:
        raise as_fhir(exc) from None


def _when(value: Any) -> str:
    return str(value.isoformat())


def binding_part(binding: MediaBinding, name: str = "binding") -> dict[str, Any]:
    """One binding: kind, number, patient, verified, active, who bound / ended it, when, why."""
    parts: list[dict[str, Any]] = [
        {"name": "kind", "valueCode": binding.kind},
        {"name": "value", "valueString": binding.value},
        {"name": "patient", "valueReference": {"reference": f"Patient/{binding.mpi_id}"}},
        {"name": "verified", "valueBoolean": binding.verified},
        {"name": "active", "valueBoolean": binding.active},
        {"name": "boundAt", "valueDateTime": _when(binding.bound_at)},
        {"name": "boundBy", "valueString": binding.bound_by},
    ]
    if binding.reason:
        parts.append({"name": "reason", "valueString": binding.reason})
    if binding.ended_at is not None:
        parts.append({"name": "endedAt", "valueDateTime": _when(binding.ended_at)})
        parts.append({"name": "endedBy", "valueString": binding.ended_by or ""})
        if binding.end_reason:
            parts.append({"name": "endReason", "valueString": binding.end_reason})
    return {"name": name, "part": parts}
