"""Identifiers as IHE PIX and PDQ publish them, shared by the PIX Manager and the PDQ
Supplier (IHE ITI TF-2 3.9, 3.21; PIXm ITI-83; PDQm ITI-78; rules in ``conformance/RULES.md``).

Which domains a manager recognises, how a queried identifier is normalised and located (a
merged record answers for its survivor), and which of a patient's identifiers may be published,
grouped by domain and restricted to the requested ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.links import LinkState
from ehcmpi.core.model import IdentifierKey, PatientRecord, PatientStatus
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.query import identifier_key
from ehcmpi.ihe.results import PixError
from ehcmpi.terminology.document_types import DOCUMENT_TYPES
from ehcmpi.terminology.errors import UnknownCodeError
from ehcmpi.terminology.systems import (
    EHC_ID_SYSTEM,
    MPI_ID_SYSTEM,
    document_system,
    document_type_for_system,
)
from ehcmpi.terminology.validators import check_document

#: Domains every manager knows: Appendix A documents, the EHC ID and the master-index ID.
BUILTIN_SYSTEMS = frozenset(
    {document_system(code) for code in DOCUMENT_TYPES} | {EHC_ID_SYSTEM, MPI_ID_SYSTEM}
)
#: A chain of merges longer than this is a data error, not a patient.
MAX_PARENT_HOPS = 32

Identifier = tuple[str, str]


def recognised_systems(domains: DomainRegistry) -> frozenset[str]:
    """Configured identifier domains ∪ Appendix A document systems ∪ EHC ID ∪ MPI ID."""
    return BUILTIN_SYSTEMS | {d.system for d in domains.all()}


def check_targets(
    target_systems: Sequence[str] | None, recognised: frozenset[str]
) -> tuple[str, ...] | None:
    """The requested domains, or None for all (empty QPD-4/QPD-8: RULES 3, 19).

    Unrecognised ones are an ``unknown_target_domain`` error listing their 1-based ordinals
    (ITI-9 Case 5 ``QPD^1^4^n``, ITI-21 Case 3 ``QPD^1^8^n``, RULES 9, 19; PIXm 403, RULES 25).
    """
    if not target_systems:
        return None
    bad = tuple(i for i, system in enumerate(target_systems, 1) if system not in recognised)
    if bad:
        names = ", ".join(target_systems[i - 1] for i in bad)
        raise PixError(
            "unknown_target_domain",
            f"未知的目标标识域 (targetSystem not found): {names}",
            bad,
        )
    return tuple(target_systems)


def current_patient(uow: UnitOfWork, mpi_id: str | None) -> PatientRecord | None:
    """The active record answering for ``mpi_id``: a merged record's survivor; cancelled: None."""
    for _ in range(MAX_PARENT_HOPS):
        patient = uow.patients.get(mpi_id) if mpi_id else None
        if patient is None or patient.status is PatientStatus.CANCELLED:
            return None
        if patient.status is PatientStatus.ACTIVE:
            return patient
        mpi_id = patient.parent_id
    return None


def locate(uow: UnitOfWork, system: str, value: str) -> str | None:
    """The mpi_id an identifier names (``core.query.resolve_identifier``).

    An EHC ID whose record was merged away is no longer on any record, but its account
    followed the person (guideline §4.1.1): it still names them.
    """
    return locate_key(uow, system, value, identifier_key(system, value))


def locate_key(uow: UnitOfWork, system: str, value: str, key: IdentifierKey | None) -> str | None:
    """``locate`` with the identifier's key already worked out (``identifier_key``), as when
    several queries' identifiers are found together first (``PdqSupplier.query_each``)."""
    found = uow.patients.find_each([key])[0] if key is not None else None
    if found is None and system == EHC_ID_SYSTEM:
        account = uow.accounts.get(value.strip().upper())
        found = account.mpi_id if account else None
    return found


def normalised(system: str, value: str) -> Identifier:
    """An identifier as the index stores it (documents normalised, IDs upper-case)."""
    value = value.strip()
    doc_type = document_type_for_system(system)
    if doc_type is not None:
        try:
            check = check_document(doc_type, value)
        except UnknownCodeError:
            return system, value
        return system, check.number if check.valid else value
    if system in (EHC_ID_SYSTEM, MPI_ID_SYSTEM):
        return system, value.upper()
    return system, value


def published_identifiers(uow: UnitOfWork, patient: PatientRecord) -> list[Identifier]:
    """Every identifier of a patient that may be published, one domain's ids together.

    Source identifiers linked as MATCH (RULES 10), valid Appendix A documents, the EHC ID and
    the master-index ID.  Several ids of one domain come in successive positions (RULES 5
    Case 6), in the order the index holds them.
    """
    sourced = [
        (identifier.system, identifier.value)
        for identifier, state in uow.links.linked_identifiers(patient.mpi_id)
        if state is LinkState.MATCH
    ]
    return grouped(sourced + record_identifiers(patient))


def record_identifiers(patient: PatientRecord) -> list[Identifier]:
    """The identifiers the record itself holds: valid documents, EHC ID, master-index ID."""
    found = [
        (document_system(doc.doc_type), doc.number)
        for doc in patient.documents
        if doc.valid and doc.doc_type in DOCUMENT_TYPES
    ]
    if patient.ehc_id:
        found.append((EHC_ID_SYSTEM, patient.ehc_id))
    found.append((MPI_ID_SYSTEM, patient.mpi_id))
    return found


def grouped(identifiers: Iterable[Identifier]) -> list[Identifier]:
    """Distinct identifiers, those of one system next to each other, first-seen order."""
    by_system: dict[str, dict[str, None]] = {}
    for system, value in identifiers:
        by_system.setdefault(system, {})[value] = None
    return [(system, value) for system, values in by_system.items() for value in values]


def restricted(
    identifiers: Iterable[Identifier], targets: tuple[str, ...] | None
) -> list[Identifier]:
    """Only the requested domains (RULES 5, 19); all when none were requested."""
    return [i for i in identifiers if targets is None or i[0] in targets]
