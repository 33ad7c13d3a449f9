"""Repository ports that ``storage`` implements (DESIGN.md: Cosmic Python unit of work).

The core speaks plaintext; protection at rest (SM4-GCM ciphertext, HMAC-SM3 blind indexes,
guideline §6.3 数据存储安全) is the storage adapter's job behind these ports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from ehcmpi.core.card_ports import (
    CardRepository,
    MediaRepository,
    QrRecordRepository,
    TerminalRepository,
)
from ehcmpi.core.links import (
    JobRun,
    JobSchedule,
    LinkEvent,
    LinkState,
    MatchDecision,
    MergeRecord,
    ReviewTask,
    SourceRecord,
)
from ehcmpi.core.model import (
    AuditEntry,
    EhcAccount,
    FuzzyQuery,
    IdentifierKey,
    IdentityDocument,
    OutboxItem,
    PatientRecord,
    PatientVersion,
    SourceIdentifier,
)
from ehcmpi.core.search import PatientSearch, SearchRows


class PatientRepository(Protocol):
    def get(self, mpi_id: str) -> PatientRecord | None: ...

    def get_many(self, mpi_ids: Sequence[str]) -> list[PatientRecord]:
        """Several records at once, in the order asked; unknown ids are left out."""
        ...

    def get_each(self, mpi_ids: Sequence[str]) -> list[PatientRecord | None]:
        """``get`` of each id (None for an unknown one), all in one round trip."""
        ...

    def find_by_document(self, doc_type: str, number: str) -> str | None:
        """The mpi_id holding this valid document, if any."""
        ...

    def holders_of_invalid_document(self, doc_type: str, number: str) -> list[str]:
        """The mpi_ids of records kept with this number although it failed its check."""
        ...

    def find_by_source(self, identifier: SourceIdentifier) -> str | None: ...

    def find_each(self, keys: Sequence[IdentifierKey]) -> list[str | None]:
        """The mpi_id holding each identifier (None: nobody), all asked in one round trip.
        A read-only unit of work keeps the answers, and the records found, for the finders
        and reads that follow (several requests' lookups asked together)."""
        ...

    def find_by_ehc_id(self, ehc_id: str) -> str | None: ...

    def find_by_archive_no(self, archive_no: str) -> str | None: ...

    def search(self, query: FuzzyQuery) -> list[PatientRecord]: ...

    def search_page(
        self,
        search: PatientSearch,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> SearchRows:
        """Records matching ``search`` (``core.search``) in master-index-ID order: at most
        ``limit`` right after ``after`` or right before ``before`` (keyset), with the total."""
        ...

    def insert(self, patient: PatientRecord) -> bool:
        """Insert a new record with its documents and identifiers in one statement batch.

        Returns False, writing nothing, when a unique key (valid document, source identifier,
        archive number) is already taken: insert-on-conflict, never check-then-insert.
        """
        ...

    def insert_new(self, patient: PatientRecord) -> None:
        """``insert`` for a caller that has found the record's keys free and retries the whole
        transaction itself if one was taken meanwhile: sent with the transaction's next
        statement or its commit, which a taken key fails (unique constraint) instead of
        answering False (registrations answered together, ``core.registration_turn``)."""
        ...

    def add_document(self, mpi_id: str, document: IdentityDocument) -> bool:
        """False when this valid document already belongs to a patient."""
        ...

    def move_documents(
        self, from_mpi_id: str, to_mpi_id: str, documents: Sequence[tuple[str, str]]
    ) -> None:
        """Move the named (doc_type, number) documents to another patient (merge and split)."""
        ...

    def add_source_id(self, mpi_id: str, identifier: SourceIdentifier) -> bool:
        """False when the identifier already belongs to a patient."""
        ...

    def add_accounts(self, mpi_id: str, accounts: Sequence[SourceIdentifier]) -> int:
        """Record patient account numbers (PID-18) on a record; those it has are skipped.
        Returns how many were new."""
        ...

    def accounts_of(self, mpi_ids: Sequence[str]) -> dict[str, list[SourceIdentifier]]:
        """The account numbers of some records, each record's in the order recorded, with
        those of the records merged into it (§4.1.1 索引合并: they now answer for it)."""
        ...

    def find_by_account(self, value: str, system: str | None = None) -> list[str]:
        """The records holding this account number (``system`` None: in any system)."""
        ...

    def update(self, patient: PatientRecord, expected_version: int) -> bool:
        """Write demographics, status, EHC ID and flags if the stored version is unchanged."""
        ...

    def add_version(self, version: PatientVersion) -> None: ...

    def versions(self, mpi_id: str) -> list[PatientVersion]: ...

    def count(self) -> int: ...

    def active_records(self, after: str | None, limit: int) -> list[PatientRecord]:
        """Active records in mpi_id order after ``after``: a page for batch jobs."""
        ...


class EhcAccountRepository(Protocol):
    def add(self, account: EhcAccount) -> bool: ...

    def issue(self, account: EhcAccount) -> None:
        """``add`` when the caller has already decided the account is new; an account
        already there is kept.  Nothing is returned, so the write may be sent later."""
        ...

    def get(self, ehc_id: str) -> EhcAccount | None: ...

    def reassign(self, ehc_id: str, mpi_id: str) -> None:
        """Move an EHC account to another patient (it follows its document on merge/split)."""
        ...


class LinkRepository(Protocol):
    """Source records, their links, decisions, review tasks and merges (§4.1.1)."""

    def get_source(self, identifier: SourceIdentifier) -> SourceRecord | None: ...

    def sources_of(self, mpi_id: str) -> list[SourceRecord]: ...

    def linked_identifiers(self, mpi_id: str) -> list[tuple[SourceIdentifier, LinkState]]:
        """Just the identifiers and link states of ``sources_of`` (no demographics)."""
        ...

    def add_source(self, source: SourceRecord) -> bool:
        """Insert a new source record; False, writing nothing, if its identifier exists."""
        ...

    def update_source(self, source: SourceRecord, *, fresh: bool = False) -> None:
        """Store the demographics/documents and link (golden, state, origin, weight) given;
        ``fresh``: a row this transaction inserted (so the write may be sent later)."""
        ...

    def remove_source(self, identifier: SourceIdentifier) -> bool:
        """Delete a source record (ITI-8 A40, PIXm remove): its identifier then names nobody.

        False when there was no such source record.  Link history stays.
        """
        ...

    def add_event(self, event: LinkEvent) -> None: ...

    def events(
        self, *, mpi_id: str | None = None, source: SourceIdentifier | None = None
    ) -> list[LinkEvent]:
        """Link history, oldest first: of one source record, or touching one golden record."""
        ...

    def add_decision(self, decision: MatchDecision) -> None: ...

    def get_decision(self, decision_id: str) -> MatchDecision | None: ...

    def decisions_between(self, a: str, b: str) -> list[MatchDecision]:
        """Decisions about two golden records in either role, newest first."""
        ...

    def manual_no_match(self, a: str, b: str) -> bool:
        """True when an operator decided that these two golden records are different people."""
        ...

    def add_task(self, task: ReviewTask) -> bool:
        """False when an open task for the same pair (either order) already exists."""
        ...

    def get_task(self, task_id: str) -> ReviewTask | None: ...

    def open_tasks(self, limit: int = 50, offset: int = 0) -> list[ReviewTask]:
        """Open tasks, highest weight first."""
        ...

    def count_open_tasks(self) -> int: ...

    def resolve_task(
        self, task_id: str, resolution: LinkState, actor: str, at: dt.datetime
    ) -> bool:
        """Close an open task; False when it was not open (already decided by someone)."""
        ...

    def close_tasks_of(self, mpi_id: str, actor: str, at: dt.datetime) -> int:
        """Close the open tasks involving a golden record that no longer exists (merged)."""
        ...

    def add_merge(self, merge: MergeRecord) -> None: ...

    def get_merge(self, merge_id: str) -> MergeRecord | None: ...

    def merged_into(self, survivor: str) -> list[str]:
        """The records merged into ``survivor`` and not split off again (one level)."""
        ...

    def last_merge_into(self, survivor: str, retired: str) -> MergeRecord | None:
        """The latest unreversed merge of ``retired`` into ``survivor``."""
        ...

    def mark_merge_reversed(self, merge_id: str, at: dt.datetime) -> None: ...

    def replace_keys(self, mpi_id: str, keys: Sequence[str], *, fresh: bool = False) -> None:
        """The blocking keys of a golden record (stored as blind indexes, never plaintext)."""
        ...

    def candidates(self, keys: Sequence[str], cap: int) -> list[str]:
        """Golden records sharing any of ``keys``, at most ``cap`` per key, distinct."""
        ...

    def candidates_capped(self, keys: Sequence[tuple[str, int]]) -> list[str]:
        """The same for keys with caps of their own, in one query."""
        ...

    def expect_candidates(self, keys: Sequence[tuple[str, int]]) -> None:
        """``candidates_capped(keys)`` will be asked soon: its read may share the unit of
        work's next round trip (a hint; answers are the same either way)."""
        ...


class JobRepository(Protocol):
    """Schedules, the run lease and run records of scheduled jobs (§4.1.1 索引定时任务)."""

    def get_schedule(self, name: str) -> JobSchedule | None: ...

    def save_schedule(self, schedule: JobSchedule) -> None: ...

    def schedules(self) -> list[JobSchedule]: ...

    def acquire_lease(self, name: str, holder: str, now: dt.datetime, ttl_seconds: float) -> bool:
        """Take the job's lease if it is free or expired (or already ours): one runner only."""
        ...

    def release_lease(self, name: str, holder: str) -> None: ...

    def add_run(self, run: JobRun) -> None: ...

    def finish_run(self, run: JobRun) -> None: ...

    def runs(self, name: str, limit: int = 20) -> list[JobRun]:
        """The latest runs of a job, newest first."""
        ...


class AuditRepository(Protocol):
    def record(self, entries: Sequence[AuditEntry]) -> None: ...

    def recent(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]: ...


class OutboxRepository(Protocol):
    """Pending notifications (``core.outbox``)."""

    def add(self, consumer: str, mpi_id: str, at: dt.datetime) -> None: ...

    def claim(self, now: dt.datetime, limit: int, hold_seconds: float) -> list[OutboxItem]:
        """Due, undelivered items, oldest first, hidden from other senders for a while."""
        ...

    def delivered(self, item_id: int, at: dt.datetime) -> None: ...

    def failed(self, item_id: int, error: str, retry_at: dt.datetime) -> None: ...

    def release(self, item_ids: Sequence[int], at: dt.datetime) -> None:
        """Claimed items given back untried: due again at ``at``."""
        ...

    def pending(self, consumer: str | None = None) -> int: ...


class UnitOfWork(Protocol):
    """One database transaction; leaving the ``with`` block without ``commit`` rolls back."""

    @property
    def patients(self) -> PatientRepository: ...

    @property
    def accounts(self) -> EhcAccountRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def links(self) -> LinkRepository: ...

    @property
    def jobs(self) -> JobRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def cards(self) -> CardRepository: ...

    @property
    def terminals(self) -> TerminalRepository: ...

    @property
    def qr_records(self) -> QrRecordRepository: ...

    @property
    def media(self) -> MediaRepository: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = False) -> AbstractContextManager[UnitOfWork]: ...
