"""Domain errors. Each carries a Chinese-first message that hospital staff can read.

Adapters map them to their wire format: FHIR OperationOutcome with an HTTP status, HL7 v2
ACK AE/AR with ERR. ``code`` is a stable machine-readable token.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller can provoke with its input."""

    code = "invalid"

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


class InvalidInputError(DomainError):
    """The request is well formed but a value breaks a rule (bad date, unknown code)."""

    code = "invalid"


class InvalidDocumentError(InvalidInputError):
    """A document number fails its check (GB 11643 MOD 11-2, format of its type)."""

    code = "invalid-document"


class NotFoundError(DomainError):
    code = "not-found"


class ConflictError(DomainError):
    """The request contradicts what the index holds (documents of two different patients)."""

    code = "conflict"


class CancelledError(ConflictError):
    """The patient's index was cancelled (§4.1.2 索引注销); an administrator may restore it."""

    code = "cancelled"


class VersionConflictError(ConflictError):
    """An update named a version that is no longer current."""

    code = "version-conflict"


class PermissionDeniedError(DomainError):
    code = "forbidden"
