"""Repository ports that ``storage`` implements (DESIGN.md: Cosmic Python unit of work).

The core speaks plaintext; protection at rest (SM4-GCM ciphertext, HMAC-SM3 blind indexes,
guideline §6.3 数据存储安全) is the storage adapter's job behind these ports.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from ehcmpi.core.model import (
    AuditEntry,
    EhcAccount,
    FuzzyQuery,
    IdentityDocument,
    PatientRecord,
    PatientVersion,
    SourceIdentifier,
)


class PatientRepository(Protocol):
    def get(self, mpi_id: str) -> PatientRecord | None: ...

    def find_by_document(self, doc_type: str, number: str) -> str | None:
        """The mpi_id holding this valid document, if any."""
        ...

    def holders_of_invalid_document(self, doc_type: str, number: str) -> list[str]:
        """The mpi_ids of records kept with this number although it failed its check."""
        ...

    def find_by_source(self, identifier: SourceIdentifier) -> str | None: ...

    def find_by_ehc_id(self, ehc_id: str) -> str | None: ...

    def find_by_archive_no(self, archive_no: str) -> str | None: ...

    def search(self, query: FuzzyQuery) -> list[PatientRecord]: ...

    def insert(self, patient: PatientRecord) -> bool:
        """Insert a new record with its documents and identifiers in one statement batch.

        Returns False, writing nothing, when a unique key (valid document, source identifier,
        archive number) is already taken: insert-on-conflict, never check-then-insert.
        """
        ...

    def add_document(self, mpi_id: str, document: IdentityDocument) -> bool:
        """False when this valid document already belongs to a patient."""
        ...

    def add_source_id(self, mpi_id: str, identifier: SourceIdentifier) -> bool:
        """False when the identifier already belongs to a patient."""
        ...

    def update(self, patient: PatientRecord, expected_version: int) -> bool:
        """Write demographics, status, EHC ID and flags if the stored version is unchanged."""
        ...

    def add_version(self, version: PatientVersion) -> None: ...

    def versions(self, mpi_id: str) -> list[PatientVersion]: ...

    def count(self) -> int: ...


class EhcAccountRepository(Protocol):
    def add(self, account: EhcAccount) -> bool: ...

    def get(self, ehc_id: str) -> EhcAccount | None: ...


class AuditRepository(Protocol):
    def record(self, entries: Sequence[AuditEntry]) -> None: ...

    def recent(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]: ...


class UnitOfWork(Protocol):
    """One database transaction; leaving the ``with`` block without ``commit`` rolls back."""

    @property
    def patients(self) -> PatientRepository: ...

    @property
    def accounts(self) -> EhcAccountRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = False) -> AbstractContextManager[UnitOfWork]: ...
