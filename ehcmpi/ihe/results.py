"""Results and errors of the IHE transactions, shared by the HL7 v2 and FHIR adapters.

The adapters map a ``PixError`` to their wire format by its ``kind`` (RULES.md):

======================== ======================================= ===============================
kind                     HL7 v2 (ITI-9 / ITI-21 / ITI-8)          FHIR (PIXm ITI-83 / PDQm ITI-78)
======================== ======================================= ===============================
unknown_id               AE/AE, ERR-2 ``QPD^1^3^1^1``, 204 (R7)   404 not-found (R25)
unknown_source_domain    AE/AE, ERR-2 ``QPD^1^3^1^4``, 204 (R8)   400 code-invalid (R25)
unknown_target_domain    AE/AE, one ERR ``QPD^1^4^n`` (ITI-9) or  403 code-invalid (PIXm, R25);
                         ``QPD^1^8^n`` (ITI-21) per ordinal, 204  404 warning not-found (PDQm, R27)
unknown_domain           ITI-8/30 feed or merge from a domain this manager is not configured for
domain_mismatch          ITI-8 A40: MRG-1.4 differs from PID-3.4 (RULES 15)
missing_id               ITI-8/30 feed without a patient identifier (PID-3)
same_id                  ITI-8 A40 merging an identifier into itself
invalid_query            PDQ without a usable criterion (ITI-21 QPD-3, PDQm search parameters)
too_many_matches         PDQ whose criteria match more patients than the supplier will page
invalid_cursor           PDQ continuation pointer (DSC-1, FHIR page link) that cannot be read
======================== ======================================= ===============================
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from ehcmpi.core.errors import DomainError
from ehcmpi.core.model import PatientRecord, SourceIdentifier

PixErrorKind = Literal[
    "unknown_id",
    "unknown_source_domain",
    "unknown_target_domain",
    "unknown_domain",
    "domain_mismatch",
    "missing_id",
    "same_id",
    "invalid_query",
    "too_many_matches",
    "invalid_cursor",
]

#: ``DomainError.code`` of each kind, for adapters and the call audit that map by code.
_CODES: dict[str, str] = {
    "unknown_id": "not-found",
    "unknown_source_domain": "code-invalid",
    "unknown_target_domain": "code-invalid",
    "unknown_domain": "code-invalid",
    "too_many_matches": "too-costly",
}


class PixError(DomainError):
    """A PIX/PDQ answer that is an error; ``ordinals`` are 1-based positions of bad targets."""

    def __init__(self, kind: PixErrorKind, message: str, ordinals: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.kind: PixErrorKind = kind
        self.ordinals = tuple(ordinals)
        self.code = _CODES.get(kind, "invalid")

    def __repr__(self) -> str:
        return f"PixError({self.kind!r}, {self.message!r}, ordinals={self.ordinals!r})"


@dataclass(frozen=True, slots=True)
class CrossReferences:
    """A patient and the identifiers to publish for it, as (system, value) pairs.

    Several identifiers of one domain are successive (ITI-9 Case 6, RULES 5).  ``found`` is
    False when nothing is left to publish (ITI-9 Case 2 ``NF``, RULES 6).
    """

    patient: PatientRecord
    identifiers: list[tuple[str, str]]
    found: bool
    #: the patient account numbers (PID-18) of the record, in the order recorded
    accounts: tuple[SourceIdentifier, ...] = ()


@dataclass(frozen=True, slots=True)
class PdqCriteria:
    """Demographics query (ITI-21 QPD-3, RULES 18; PDQm ITI-78 search parameters, RULES 27).

    Every criterion given must hold.  Names match by prefix, in Chinese characters or pinyin;
    ``name`` is a full name, ``family``/``given`` its parts.  ``address`` is contained in some
    address's text; ``city``/``district`` match by prefix, ``postal_code`` exactly.  ``gender``
    is a GB/T 2261.1 code.  ``mothers_maiden_name`` (PID-6) matches by prefix, in characters or
    pinyin.  ``account`` (PID-18) is a patient account number, exact, in ``account_system``
    (its assigning authority) or, when that is None, in any.
    """

    identifier: SourceIdentifier | None = None
    name: str | None = None
    family: str | None = None
    given: str | None = None
    birth_date: dt.date | None = None
    gender: str | None = None
    phone: str | None = None
    address: str | None = None
    city: str | None = None
    district: str | None = None
    postal_code: str | None = None
    mothers_maiden_name: str | None = None
    account: str | None = None
    account_system: str | None = None


@dataclass(frozen=True, slots=True)
class PdqPage:
    """One increment of a PDQ answer (ITI-21 continuation, RULES 21).

    ``patients`` carry the identifiers to publish (restricted to the requested domains);
    ``next_cursor`` is None on the last page; ``total`` counts all matches of the query.
    """

    patients: list[CrossReferences] = field(default_factory=list)
    next_cursor: str | None = None
    total: int = 0
    #: matches after this page (ITI-21 QAK-6)
    remaining: int = 0
