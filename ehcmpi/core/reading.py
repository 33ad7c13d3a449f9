"""The reader entry's vocabulary (guideline §4.4 统一识读入口): media, requests, results,
the errors it raises and what it needs from EHC QR verification (``core.qr``).

Kept apart from :mod:`ehcmpi.core.reader` so that adapters (FHIR, HL7 v2) and tests can
name them without the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from ehcmpi.core.errors import (
    DomainError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from ehcmpi.core.media import BadMediumError, MediaBinding
from ehcmpi.core.model import Actor, Demographics, PatientRecord, SourceIdentifier
from ehcmpi.core.verifier import InsuredPerson

__all__ = [
    "BadMediumError",
    "Medium",
    "MediumKind",
    "NotCreatableError",
    "QrRejectedError",
    "QrVerification",
    "QrVerifier",
    "ReadRequest",
    "ReadResult",
    "ServiceUnavailableError",
    "VerificationStatus",
    "qr_error",
]


class MediumKind(StrEnum):
    ID_CARD = "id-card"
    EHC_QR = "ehc-qr"
    SOCIAL_SECURITY_CARD = "social-security-card"
    INSURANCE_QR = "insurance-qr"
    DOCUMENT = "document"
    NONE = "none"


class VerificationStatus(StrEnum):
    #: a document read or typed in: its check digit / format is the check
    NOT_REQUIRED = "not-required"
    #: the EHC QR code was verified, or the insurance system confirmed the card / code
    VERIFIED = "verified"
    #: degraded (§6.5): the insurance system is down; answered from the medium's binding
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Medium:
    """What the reader read: the kind, its text, and the Appendix A type of a ``document``."""

    kind: MediumKind
    value: str | None = None
    doc_type: str | None = None


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """A medium, the demographics to create with, hospital ids, and where it was read."""

    medium: Medium
    demographics: Demographics = field(default_factory=Demographics)
    source_ids: tuple[SourceIdentifier, ...] = ()
    terminal: str | None = None
    care_step: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class ReadResult:
    """患者信息及电子健康卡 ID (§5.1.x step 4), how the medium was checked, 参保信息 if any."""

    patient: PatientRecord
    created: bool
    ehc_issued: bool
    verification: VerificationStatus
    insured: InsuredPerson | None = None
    binding: MediaBinding | None = None

    @property
    def degraded(self) -> bool:
        return self.verification is VerificationStatus.UNAVAILABLE


class NotCreatableError(InvalidInputError):
    """Nobody holds the medium and there is not enough to create the patient."""

    code = "not-creatable"


class ServiceUnavailableError(DomainError):
    """An external interface that alone can answer is down (§6.5); retry later."""

    code = "unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QrVerification(Protocol):
    """What ``core.qr`` answers for an EHC QR text."""

    @property
    def ok(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def mpi_id(self) -> str | None: ...
    @property
    def ehc_id(self) -> str | None: ...


class QrVerifier(Protocol):
    def verify(
        self, text: str, *, terminal: str, care_step: str, channel: str, actor: Actor
    ) -> QrVerification: ...


def qr_error(outcome: QrVerification) -> DomainError:
    """A refused EHC QR code (``core.qr`` reasons) as a domain error:  ``malformed`` and
    ``tampered`` are a bad medium (400), ``unknown`` not found (404), an unregistered or
    disabled terminal is not allowed to verify (403), and a genuine code that may not be used
    now (``expired``, ``used_up``, ``suspended``, ``cancelled``) is :class:`QrRejectedError`."""
    reason = outcome.reason or "rejected"
    message = outcome.message or f"电子健康卡二维码验证未通过 (QR code rejected): {reason}"
    if reason in ("malformed", "tampered"):
        return BadMediumError(message, location="value")
    if reason == "unknown":
        return NotFoundError(message, location="value")
    if reason.startswith("terminal"):
        return PermissionDeniedError(message, location="terminal")
    return QrRejectedError(message, location="value")


class QrRejectedError(DomainError):
    """A genuine EHC QR code that may not be used now (expired, used up, card suspended…)."""

    code = "qr-rejected"
