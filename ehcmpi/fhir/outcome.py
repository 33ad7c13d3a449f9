"""OperationOutcome errors (FHIR R4 §3.1.0.4 http: status codes and OperationOutcome).

Every error a client can provoke leaves as an OperationOutcome with the right HTTP status;
the diagnostics text is Chinese first with English beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ehcmpi.core.errors import (
    CancelledError,
    ConflictError,
    DomainError,
    InvalidDocumentError,
    NotFoundError,
    PermissionDeniedError,
    VersionConflictError,
)

#: DomainError class → (HTTP status, OperationOutcome issue code); most specific first.
_STATUS: tuple[tuple[type[DomainError], int, str], ...] = (
    (InvalidDocumentError, 400, "invalid"),
    (NotFoundError, 404, "not-found"),
    (CancelledError, 409, "conflict"),
    (VersionConflictError, 409, "conflict"),
    (ConflictError, 409, "conflict"),
    (PermissionDeniedError, 403, "forbidden"),
    (DomainError, 422, "processing"),
)


#: Where a domain error points (``DomainError.location``) as a FHIRPath into the Patient.
_EXPRESSIONS = {
    "document.number": "Patient.identifier",
    "document.type": "Patient.identifier.type",
    "demographics": "Patient",
    "gender": "Patient.gender",
    "ethnicity": "Patient.extension",
    "name": "Patient.name",
    "mothers_maiden_name": "Patient.extension",
    "telecom": "Patient.telecom",
    "identifier.system": "Patient.identifier.system",
    "identifier.value": "Patient.identifier.value",
}


class FhirError(Exception):
    """An error to answer with an OperationOutcome.

    ``more`` are further (message, expression) issues of the same code, e.g. every element
    a body fails validation on, so that a client can fix them all in one round.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        expression: str | None = None,
        more: Sequence[tuple[str, str | None]] = (),
        severity: str = "error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.expression = expression
        self.more = tuple(more)
        self.severity = severity

    def outcome(self) -> dict[str, Any]:
        body = operation_outcome(
            self.code, self.message, severity=self.severity, expression=self.expression
        )
        for message, expression in self.more:
            extra = operation_outcome(self.code, message, expression=expression)
            body["issue"].extend(extra["issue"])
        return body

    @classmethod
    def from_domain(cls, error: DomainError) -> FhirError:
        status, code = next((s, c) for kind, s, c in _STATUS if isinstance(error, kind))
        where = _EXPRESSIONS.get(error.location or "", error.location)
        return cls(status, code, error.message, expression=where)


def operation_outcome(
    code: str, message: str, *, severity: str = "error", expression: str | None = None
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}
