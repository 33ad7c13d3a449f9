"""Merge and split of golden records (guideline §4.1.1 索引合并, 索引拆分).

- **Merge** folds a retired golden record into a survivor: its source records, documents and
  EHC accounts move over (the EHC ID follows the person holding the document), the retired
  record stays on file as MERGED with ``parent_id`` pointing at the survivor, and a
  ``MergeRecord`` keeps what moved.
- **Split** takes one source record out of a golden record.  When that source came in by a
  merge, the merge is undone: the retired record comes back with everything the merge moved.
  Otherwise the source gets a new golden record of its own, with the documents only it sent.
  Either way an operator's split is remembered as a MANUAL NO_MATCH, so automatic matching
  never joins the two again; merging them again undoes a split.

Every step is recorded (link events, versions, the merge record) in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.errors import ConflictError, NotFoundError
from ehcmpi.core.linking import Linker, new_id
from ehcmpi.core.links import LinkEvent, LinkOrigin, LinkState, MergeRecord, SourceRecord
from ehcmpi.core.maintenance import save_version
from ehcmpi.core.matching.convert import golden_match_record, match_record
from ehcmpi.core.model import (
    Actor,
    EhcAccount,
    PatientRecord,
    PatientStatus,
    PatientVersion,
    SourceIdentifier,
)
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.registration import Clock, new_archive_no, utcnow
from ehcmpi.crypto.ports import CryptoProvider


class MergeService:
    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        linker: Linker,
        crypto: CryptoProvider,
        audit: AuditLog,
        *,
        node_code: str,
        clock: Clock = utcnow,
    ) -> None:
        self._uow = uow
        self._linker = linker
        self._crypto = crypto
        self._audit = audit
        self._node = node_code
        self._clock = clock

    # -- merge ---------------------------------------------------------------------------

    def merge(
        self,
        survivor_id: str,
        retired_id: str,
        actor: Actor,
        *,
        reason: str = "",
        origin: LinkOrigin = LinkOrigin.MANUAL,
    ) -> PatientRecord:
        """索引合并: fold ``retired_id`` into ``survivor_id``; returns the survivor."""
        with self._audit.call(actor, "merge") as call, self._uow(write=True) as uow:
            call.target, call.detail = survivor_id, f"retired {retired_id}"
            survivor = self.merge_in(uow, survivor_id, retired_id, actor, reason, origin)
            uow.commit()
            return survivor

    def merge_in(
        self,
        uow: UnitOfWork,
        survivor_id: str,
        retired_id: str,
        actor: Actor,
        reason: str,
        origin: LinkOrigin,
    ) -> PatientRecord:
        """The merge inside the caller's transaction (the review queue and jobs use it)."""
        survivor, retired = _active(uow, survivor_id), _active(uow, retired_id)
        if survivor.mpi_id == retired.mpi_id:
            raise ConflictError("不能将索引与自身合并 (cannot merge a record into itself)")
        now = self._clock()
        merge_id = new_id()
        result = self._linker.matcher.scorer.compare_records(
            golden_match_record(survivor), golden_match_record(retired)
        )
        decision = self._linker.decide(
            uow,
            retired.mpi_id,
            survivor.mpi_id,
            result,
            actor,
            origin=origin,
            outcome=LinkState.MATCH,
            reason=reason or None,
        )
        sources = uow.links.sources_of(retired.mpi_id)
        documents = tuple((d.doc_type, d.number) for d in retired.documents)
        ehc_ids = (retired.ehc_id,) if retired.ehc_id else ()
        retired_after = self._save(
            uow,
            retired,
            retired.with_changes(
                status=PatientStatus.MERGED, parent_id=survivor.mpi_id, ehc_id=None
            ),
            "merged",
            actor,
        )
        self._move(
            uow,
            sources,
            retired.mpi_id,
            survivor.mpi_id,
            "MERGE",
            origin,
            actor,
            merge_id,
            reason,
            decision.id,
        )
        uow.patients.move_documents(retired.mpi_id, survivor.mpi_id, documents)
        for ehc_id in ehc_ids:
            uow.accounts.reassign(ehc_id, survivor.mpi_id)
        merged = self._save(
            uow,
            survivor,
            survivor.with_changes(
                ehc_id=survivor.ehc_id or retired.ehc_id,
                documents=survivor.documents + retired.documents,
                source_ids=survivor.source_ids + retired.source_ids,
                demographics=survivor.demographics.filled_from(retired.demographics),
            ),
            "merge",
            actor,
        )
        uow.links.add_merge(
            MergeRecord(
                merge_id,
                survivor.mpi_id,
                retired.mpi_id,
                tuple(s.identifier for s in sources),
                documents,
                ehc_ids,
                actor.name,
                now,
                reason,
            )
        )
        uow.links.close_tasks_of(retired.mpi_id, actor.name, now)
        self._linker.notifier.changed(uow, survivor.mpi_id, retired.mpi_id)
        self._linker.matcher.index(uow, retired_after)
        return self._linker.refresh(uow, merged, actor)

    # -- split ---------------------------------------------------------------------------

    def split(
        self, mpi_id: str, identifier: SourceIdentifier, actor: Actor, *, reason: str = ""
    ) -> PatientRecord:
        """索引拆分: take a source record out of a golden record; returns its new golden record."""
        with self._audit.call(actor, "split") as call, self._uow(write=True) as uow:
            call.target, call.detail = mpi_id, f"{identifier.system}|{identifier.value}"
            split_off = self.split_in(uow, mpi_id, identifier, actor, reason)
            uow.commit()
            return split_off

    def split_in(
        self,
        uow: UnitOfWork,
        mpi_id: str,
        identifier: SourceIdentifier,
        actor: Actor,
        reason: str,
    ) -> PatientRecord:
        """The split inside the caller's transaction (the review queue uses it)."""
        golden = _active(uow, mpi_id)
        source = uow.links.get_source(identifier)
        if source is None or source.mpi_id != golden.mpi_id:
            raise NotFoundError(
                f"来源记录 {identifier.system}|{identifier.value} 不属于索引 {mpi_id} "
                "(the source record is not linked to this index)"
            )
        merge = next(
            (m for m in self._merges_into(uow, golden.mpi_id) if identifier in m.sources),
            None,
        )
        if merge is not None:
            split_off = self._unmerge(uow, golden, merge, actor, reason)
        else:
            split_off = self._split_source(uow, golden, source, actor, reason)
        return split_off

    def _merges_into(self, uow: UnitOfWork, survivor: str) -> list[MergeRecord]:
        merges = []
        for event in uow.links.events(mpi_id=survivor):
            if event.kind == "MERGE" and event.merge_id and event.to_mpi_id == survivor:
                merge = uow.links.get_merge(event.merge_id)
                if merge and merge.reversed_at is None and merge not in merges:
                    merges.append(merge)
        return merges[::-1]

    def _unmerge(
        self,
        uow: UnitOfWork,
        golden: PatientRecord,
        merge: MergeRecord,
        actor: Actor,
        reason: str,
    ) -> PatientRecord:
        retired = uow.patients.get(merge.retired)
        if retired is None or retired.status is not PatientStatus.MERGED:
            raise ConflictError(f"合并 {merge.id} 无法撤销 (the merge can no longer be undone)")
        now = self._clock()
        moved = [s for s in uow.links.sources_of(golden.mpi_id) if s.identifier in merge.sources]
        kept_ehc = golden.ehc_id if golden.ehc_id not in merge.ehc_ids else None
        golden = self._save(uow, golden, golden.with_changes(ehc_id=kept_ehc), "split", actor)
        self._move(
            uow,
            moved,
            golden.mpi_id,
            retired.mpi_id,
            "SPLIT",
            LinkOrigin.MANUAL,
            actor,
            merge.id,
            reason,
        )
        uow.patients.move_documents(golden.mpi_id, retired.mpi_id, merge.documents)
        for ehc_id in merge.ehc_ids:
            uow.accounts.reassign(ehc_id, retired.mpi_id)
        restored = self._save(
            uow,
            retired,
            retired.with_changes(
                status=PatientStatus.ACTIVE,
                parent_id=None,
                ehc_id=merge.ehc_ids[0] if merge.ehc_ids else None,
            ),
            "unmerge",
            actor,
        )
        uow.links.mark_merge_reversed(merge.id, now)
        self._linker.notifier.changed(uow, golden.mpi_id, retired.mpi_id)
        self._no_match(uow, golden, restored, actor, reason)
        self._linker.refresh(uow, self._reload(uow, golden.mpi_id), actor)
        return self._linker.refresh(uow, self._reload(uow, restored.mpi_id), actor)

    def _split_source(
        self,
        uow: UnitOfWork,
        golden: PatientRecord,
        source: SourceRecord,
        actor: Actor,
        reason: str,
    ) -> PatientRecord:
        others = [
            s for s in uow.links.sources_of(golden.mpi_id) if s.identifier != source.identifier
        ]
        if not others:
            raise ConflictError(
                "索引只有这一条来源记录，无需拆分 (the only source record of this index)"
            )
        now = self._clock()
        kept = {(d.doc_type, d.number) for s in others for d in s.documents}
        leaving = tuple(
            (d.doc_type, d.number)
            for d in source.documents
            if (d.doc_type, d.number) not in kept
            and any((g.doc_type, g.number) == (d.doc_type, d.number) for g in golden.documents)
        )
        primary = golden.primary_document
        ehc_leaves = primary is not None and (primary.doc_type, primary.number) in leaving
        mpi_id = self._crypto.new_mpi_id(self._node)
        has_valid = any(d.valid for d in golden.documents if (d.doc_type, d.number) in leaving)
        new = PatientRecord(
            mpi_id=mpi_id,
            demographics=source.demographics,
            archive_no=None if has_valid else new_archive_no(now),
            created_at=now,
            updated_at=now,
        )
        moving_ehc = golden.ehc_id if ehc_leaves else None
        if moving_ehc:
            golden = self._save(uow, golden, golden.with_changes(ehc_id=None), "split", actor)
        if not uow.patients.insert(new):
            raise ConflictError("拆分冲突，请重试 (split conflicted; retry)")
        uow.patients.add_version(PatientVersion(mpi_id, 1, "split", actor.name, now, new))
        self._move(
            uow, [source], golden.mpi_id, mpi_id, "SPLIT", LinkOrigin.MANUAL, actor, None, reason
        )
        uow.patients.move_documents(golden.mpi_id, mpi_id, leaving)
        if moving_ehc:
            # The EHC ID follows the person holding the document it was issued for.
            uow.accounts.reassign(moving_ehc, mpi_id)
            self._save(uow, new, new.with_changes(ehc_id=moving_ehc), "split", actor)
        for record_id in (golden.mpi_id, mpi_id):
            self._reissue(uow, self._reload(uow, record_id), actor)
        created = self._reload(uow, mpi_id)
        self._linker.notifier.changed(uow, golden.mpi_id, mpi_id)
        self._no_match(uow, golden, created, actor, reason)
        self._linker.refresh(uow, self._reload(uow, golden.mpi_id), actor)
        return self._linker.refresh(uow, created, actor)

    def _reissue(self, uow: UnitOfWork, patient: PatientRecord, actor: Actor) -> None:
        """Without an EHC ID after a split: one from a valid document, else an archive number."""
        if patient.ehc_id is not None:
            return
        now = self._clock()
        doc = next((d for d in patient.documents if d.valid), None)
        if doc is None:
            if patient.archive_no is None:
                changed = patient.with_changes(archive_no=new_archive_no(now))
                self._save(uow, patient, changed, "split", actor)
            return
        ehc_id = self._crypto.ehc_id(patient.mpi_id, doc.doc_type, doc.number)
        uow.accounts.add(EhcAccount(ehc_id, patient.mpi_id, doc.doc_type, issued_at=now))
        self._save(uow, patient, patient.with_changes(ehc_id=ehc_id), "issue-ehc", actor)

    # -- shared steps --------------------------------------------------------------------

    def _move(
        self,
        uow: UnitOfWork,
        sources: list[SourceRecord],
        from_id: str,
        to_id: str,
        kind: str,
        origin: LinkOrigin,
        actor: Actor,
        merge_id: str | None,
        reason: str,
        decision_id: str | None = None,
    ) -> None:
        now = self._clock()
        for source in sources:
            uow.links.update_source(
                replace(
                    source,
                    mpi_id=to_id,
                    state=LinkState.MATCH,
                    origin=origin,
                    decision_id=decision_id,
                    updated_at=source.updated_at,
                )
            )
            uow.links.add_event(
                LinkEvent(
                    kind,
                    source.identifier,
                    from_id,
                    to_id,
                    LinkState.MATCH,
                    origin,
                    actor.name,
                    now,
                    reason,
                    merge_id,
                )
            )

    def _no_match(
        self, uow: UnitOfWork, a: PatientRecord, b: PatientRecord, actor: Actor, reason: str
    ) -> None:
        result = self._linker.matcher.scorer.compare_records(
            golden_match_record(a), match_record(b.mpi_id, b.demographics, b.documents)
        )
        self._linker.decide(
            uow,
            b.mpi_id,
            a.mpi_id,
            result,
            actor,
            origin=LinkOrigin.MANUAL,
            outcome=LinkState.NO_MATCH,
            reason=reason or "manual split",
        )

    def _save(
        self,
        uow: UnitOfWork,
        current: PatientRecord,
        updated: PatientRecord,
        action: str,
        actor: Actor,
    ) -> PatientRecord:
        return save_version(uow, current, updated, action, actor, self._clock())

    @staticmethod
    def _reload(uow: UnitOfWork, mpi_id: str) -> PatientRecord:
        patient = uow.patients.get(mpi_id)
        if patient is None:
            raise NotFoundError(f"患者索引 {mpi_id} 不存在 (no such patient)")
        return patient


def _active(uow: UnitOfWork, mpi_id: str) -> PatientRecord:
    patient = uow.patients.get(mpi_id.upper())
    if patient is None:
        raise NotFoundError(f"患者索引 {mpi_id} 不存在 (no such patient)")
    if patient.status is not PatientStatus.ACTIVE:
        raise ConflictError(
            f"患者索引 {mpi_id} 状态为 {patient.status}，不能合并或拆分 "
            "(only active records can be merged or split)"
        )
    return patient
