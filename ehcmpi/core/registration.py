"""Registration: 索引注册 and 建档 (guideline §4.1.2, §4.4.1; flows §5.1.1, §5.1.4, §5.1.6).

Given demographics, documents and source identifiers, return the patient's master index and
electronic health card ID, creating them if needed; account numbers (HL7 PID-18) given are
recorded on that record.  Idempotent under concurrency: the valid
document's blind index and each source identifier are unique in the database, the new record
is inserted with insert-on-conflict, and a writer that loses the race rolls back and finds
the winner's record (never check-then-insert).

A patient without any valid document (§5.1.6 信息缺失) gets a unique temporary archive number;
when a valid document arrives later the same record gets its EHC ID, and the archive number
stays on record as a retired identifier.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace

from ehcmpi.core.audit import AuditCall, AuditLog
from ehcmpi.core.documents import (
    FLAG_NO_DOCUMENT,
    CheckedDocuments,
    check_demographics,
    check_documents,
    check_source_ids,
    derived_demographics,
    identifier_keys,
    with_primary,
)
from ehcmpi.core.errors import CancelledError, ConflictError, DomainError
from ehcmpi.core.linking import Linker, auto_link
from ehcmpi.core.links import LinkState
from ehcmpi.core.matching.online import Candidate, CandidateSearch
from ehcmpi.core.matching.scoring import MatchOutcome
from ehcmpi.core.model import (
    Actor,
    Demographics,
    EhcAccount,
    IdentityDocument,
    PatientRecord,
    PatientStatus,
    PatientVersion,
    RegistrationRequest,
    RegistrationResult,
    SourceIdentifier,
)
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.registration_turn import register_together
from ehcmpi.crypto.ports import CryptoProvider

MAX_ATTEMPTS = 8
Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_archive_no(now: dt.datetime) -> str:
    """唯一档案号 for a patient without documents: ``TA`` + date + 8 random digits.

    Uniqueness is enforced by the database; a collision makes the insert fail and retry.
    """
    return f"TA{now:%Y%m%d}{secrets.randbelow(10**8):08d}"


def _noted(call: AuditCall, result: RegistrationResult) -> None:
    """The call audit's target and detail of a registration."""
    call.target = result.patient.mpi_id
    call.detail = "created" if result.created else "existing"


class RegistrationService:
    """Register single patients and batches; add documents to an existing record."""

    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        crypto: CryptoProvider,
        audit: AuditLog,
        *,
        node_code: str,
        clock: Clock = utcnow,
        linker: Linker | None = None,
    ) -> None:
        self._linker = linker
        self._uow = uow
        self._crypto = crypto
        self._audit = audit
        self._node = node_code
        self._clock = clock

    @property
    def linker(self) -> Linker | None:
        return self._linker

    def unit_of_work(self) -> UnitOfWork:
        """A writing unit of work, as registration uses."""
        return self._uow(write=True)

    def register(self, request: RegistrationRequest, actor: Actor) -> RegistrationResult:
        with self._audit.call(actor, "register") as call:
            checked = self.check(request)
            result = self.register_checked(request, checked, actor)
            _noted(call, result)
            return result

    def register_each(
        self, requests: Sequence[tuple[RegistrationRequest, Actor]]
    ) -> list[RegistrationResult | Exception]:
        """``register`` for several callers at once, new records sharing one transaction
        (``core.registration_turn``): one answer each, in order, an exception in place of a
        refused or failed one; each its own audited call."""
        with self._audit.calls([actor for _, actor in requests], "register") as calls:
            answers = register_together(self, requests, calls)
            for call, answer in zip(calls, answers, strict=True):
                if isinstance(answer, RegistrationResult):
                    _noted(call, answer)
            return answers

    def register_batch(
        self, requests: Sequence[RegistrationRequest], actor: Actor
    ) -> list[RegistrationResult | DomainError]:
        """Batch registration: each item commits on its own; one bad item spoils no other."""
        results: list[RegistrationResult | DomainError] = []
        for request in requests:
            try:
                results.append(self.register(request, actor))
            except DomainError as exc:
                results.append(exc)
        return results

    @staticmethod
    def check(request: RegistrationRequest) -> CheckedDocuments:
        """The request's demographics, identifiers and documents checked (a refusal raises)."""
        check_demographics(request.demographics)
        check_source_ids(request.source_ids)
        return check_documents(request.documents, request.demographics, request.mode)

    def register_checked(
        self, request: RegistrationRequest, checked: CheckedDocuments, actor: Actor
    ) -> RegistrationResult:
        """Register a checked request in its own transaction, retried after a lost race."""
        demographics = derived_demographics(request.demographics, checked.documents)
        linker = self._linker
        search = linker.search(demographics, checked.documents) if linker else None
        for _ in range(MAX_ATTEMPTS):
            with self._uow(write=True) as uow:
                if linker and search:
                    linker.expect(uow, search)  # with the owners' lookup: one round trip
                owner = self._owner(uow, checked, request)
                best = linker.best(uow, search) if owner is None and linker and search else None
                args = (demographics, checked, request, actor)
                result = self.register_with(uow, owner, best, *args, search=search)
                if result is not None:
                    uow.commit()
                    return result
        raise ConflictError("并发注册冲突，请重试 (registration kept conflicting; retry)")

    def register_with(
        self,
        uow: UnitOfWork,
        owner: str | None,
        best: Candidate | None,
        demographics: Demographics,
        checked: CheckedDocuments,
        request: RegistrationRequest,
        actor: Actor,
        *,
        keys_free: bool = False,
        search: CandidateSearch | None = None,
    ) -> RegistrationResult | None:
        """The registration's writes, once its reads are done: added to ``owner`` (the
        record its identifiers name) or to the matcher's ``best`` if that is a MATCH, else a
        new record; then linked.  None: a key was taken or the record changed meanwhile.
        ``keys_free``: the caller found the new record's keys free and retries the whole
        transaction if that changed (``PatientRepository.insert_new``).  ``search``: the
        matcher's search for these data, whose keys a new record is indexed under."""
        matched = auto_link(best) if owner is None else None
        owner = owner or (matched.patient.mpi_id if matched else None)
        args = (demographics, checked, request, actor)
        if owner is None:
            result = self._create(uow, *args, keys_free=keys_free)
        else:
            result = self._attach_to(uow, owner, *args)
        if result is None:
            return None
        return self._finish(uow, result, best, *args, search=search)

    def _finish(
        self,
        uow: UnitOfWork,
        result: RegistrationResult,
        best: Candidate | None,
        demographics: Demographics,
        checked: CheckedDocuments,
        request: RegistrationRequest,
        actor: Actor,
        *,
        search: CandidateSearch | None = None,
    ) -> RegistrationResult:
        """What follows the record's own writes: with a matcher the matching decision, the
        source records and survivorship (§4.1.1); then the account numbers given (PID-18) on
        the record created or matched."""
        linker = self._linker
        if linker is not None:
            mpi_id = result.patient.mpi_id
            decision = None
            state = LinkState.MATCH
            if best is not None and best.outcome is not MatchOutcome.NO_MATCH:
                source = next(iter(request.source_ids), None)
                decision = linker.decide(
                    uow, mpi_id, best.patient.mpi_id, best.result, actor, source=source
                )
                if best.outcome is MatchOutcome.POSSIBLE_MATCH:
                    state = LinkState.POSSIBLE_MATCH
                    linker.queue_review(uow, decision, decision.source)
            sources = linker.save_sources(
                uow, mpi_id, request.source_ids, demographics, checked.documents, actor,
                state=state, decision=decision, fresh=result.created,
            )  # fmt: skip
            created = sources if result.created else None
            patient = linker.refresh(uow, result.patient, actor, created=created, search=search)
            result = replace(result, patient=patient)
        if request.accounts:
            uow.patients.add_accounts(result.patient.mpi_id, request.accounts)
        return result

    def _owner(
        self, uow: UnitOfWork, checked: CheckedDocuments, request: RegistrationRequest
    ) -> str | None:
        owners: dict[str, str] = {}
        labels = [f"证件 {d.doc_type}" for d in checked.valid] + [
            f"{s.system}|{s.value}" for s in request.source_ids
        ]
        found = uow.patients.find_each(identifier_keys(checked, request))
        for mpi_id, label in zip(found, labels, strict=True):
            if mpi_id:
                owners.setdefault(mpi_id, label)
        if not owners and not checked.valid:
            return self._same_invalid_record(uow, checked, request.demographics)
        if len(owners) > 1:
            raise ConflictError(
                "证件或标识属于不同的患者: "
                + ", ".join(owners.values())
                + " (identifiers belong to different patients)"
            )
        return next(iter(owners), None)

    def _same_invalid_record(
        self, uow: UnitOfWork, checked: CheckedDocuments, demographics: Demographics
    ) -> str | None:
        """A record kept earlier with the same failing number, name and birth date.

        A number that fails its check identifies nobody on its own (a typo can hit another
        person's number), but with the same name and birth date it is the same source record
        re-sent: re-importing a file must not duplicate it.  Deciding anything looser is the
        matching engine's job.
        """
        if not demographics.name:
            return None
        for doc in checked.documents:
            for mpi_id in uow.patients.holders_of_invalid_document(doc.doc_type, doc.number):
                held = uow.patients.get(mpi_id)
                if (
                    held is not None
                    and held.demographics.name == demographics.name
                    and held.demographics.birth_date == demographics.birth_date
                ):
                    return mpi_id
        return None

    def _create(
        self,
        uow: UnitOfWork,
        demographics: Demographics,
        checked: CheckedDocuments,
        request: RegistrationRequest,
        actor: Actor,
        *,
        keys_free: bool = False,
    ) -> RegistrationResult | None:
        now = self._clock()
        mpi_id = self._crypto.new_mpi_id(self._node)
        documents = with_primary(checked.documents)
        primary = next((d for d in documents if d.primary), None)
        ehc_id = self._ehc_id(mpi_id, primary)
        patient = PatientRecord(
            mpi_id=mpi_id,
            demographics=demographics,
            ehc_id=ehc_id,
            archive_no=None if primary else new_archive_no(now),
            documents=documents,
            source_ids=tuple(dict.fromkeys(request.source_ids)),
            data_quality=checked.flags,
            created_at=now,
            updated_at=now,
        )
        if keys_free:
            uow.patients.insert_new(patient)
        elif not uow.patients.insert(patient):
            return None
        if primary and ehc_id:
            uow.accounts.issue(EhcAccount(ehc_id, mpi_id, primary.doc_type, issued_at=now))
        uow.patients.add_version(PatientVersion(mpi_id, 1, "create", actor.name, now, patient))
        return RegistrationResult(patient, created=True, ehc_issued=ehc_id is not None)

    def _ehc_id(self, mpi_id: str, primary: IdentityDocument | None) -> str | None:
        if primary is None:
            return None
        return self._crypto.ehc_id(mpi_id, primary.doc_type, primary.number)

    def _attach_to(
        self,
        uow: UnitOfWork,
        mpi_id: str,
        demographics: Demographics,
        checked: CheckedDocuments,
        request: RegistrationRequest,
        actor: Actor,
    ) -> RegistrationResult | None:
        """Add what the request brings to an existing record; issue its EHC ID if due (None:
        the record changed meanwhile)."""
        current = uow.patients.get(mpi_id)
        if current is None:
            return None
        if current.status is PatientStatus.CANCELLED:
            raise CancelledError(
                f"患者索引 {mpi_id} 已注销，需管理员恢复 (index cancelled; an administrator "
                "may restore it)"
            )
        return self.attach(uow, current, demographics, checked, request.source_ids, actor)

    def attach(
        self,
        uow: UnitOfWork,
        current: PatientRecord,
        demographics: Demographics,
        checked: CheckedDocuments,
        source_ids: Sequence[SourceIdentifier],
        actor: Actor,
    ) -> RegistrationResult | None:
        now = self._clock()
        known = {(d.doc_type, d.number) for d in current.documents}
        new_docs = [d for d in checked.documents if (d.doc_type, d.number) not in known]
        issue = current.ehc_id is None and any(d.valid for d in new_docs)
        if issue:
            new_docs = list(with_primary(tuple(new_docs)))
        for doc in new_docs:
            if not uow.patients.add_document(current.mpi_id, doc):
                return None
        new_sids = [s for s in dict.fromkeys(source_ids) if s not in current.source_ids]
        for sid in new_sids:
            if not uow.patients.add_source_id(current.mpi_id, sid):
                return None
        primary = next((d for d in new_docs if d.primary), None)
        ehc_id = self._ehc_id(current.mpi_id, primary) if issue else current.ehc_id
        documents = current.documents + tuple(new_docs)
        has_valid = any(d.valid for d in documents)
        flags = [
            f
            for f in current.data_quality + checked.flags
            if not (f == FLAG_NO_DOCUMENT and has_valid)
        ]
        updated = current.with_changes(
            demographics=current.demographics.filled_from(demographics),
            ehc_id=ehc_id,
            documents=documents,
            source_ids=current.source_ids + tuple(new_sids),
            data_quality=tuple(dict.fromkeys(flags)),
            version=current.version + 1,
            updated_at=now,
        )
        if updated == current.with_changes(version=current.version + 1, updated_at=now):
            return RegistrationResult(current, created=False, ehc_issued=False)
        if not uow.patients.update(updated, current.version):
            return None
        if issue and primary and ehc_id:
            uow.accounts.issue(EhcAccount(ehc_id, current.mpi_id, primary.doc_type, issued_at=now))
        action = "issue-ehc" if issue else "attach"
        uow.patients.add_version(
            PatientVersion(current.mpi_id, updated.version, action, actor.name, now, updated)
        )
        return RegistrationResult(updated, created=False, ehc_issued=issue)
