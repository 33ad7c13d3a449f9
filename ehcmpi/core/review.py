"""The review queue and explanations (guideline §4.1.1 索引合并: 人工确认, 索引拆分).

POSSIBLE_MATCH pairs wait here as tasks.  An operator sees both records side by side with
the stored decision (per-field levels and weights) and decides: MATCH merges the newer
record into the one already on file; NO_MATCH is remembered as a MANUAL decision that the
matcher never overturns.  The decision, whoever makes it first, closes the task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.errors import ConflictError, InvalidInputError, NotFoundError
from ehcmpi.core.linking import Linker
from ehcmpi.core.links import LinkOrigin, LinkState, MatchDecision, ReviewTask
from ehcmpi.core.matching.convert import golden_match_record
from ehcmpi.core.matching.scoring import MatchResult
from ehcmpi.core.merge import MergeService
from ehcmpi.core.model import Actor, PatientRecord
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.registration import Clock, utcnow


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A task with both records and the decision that queued it, side by side."""

    task: ReviewTask
    record: PatientRecord
    candidate: PatientRecord
    decision: MatchDecision | None


class ReviewService:
    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        linker: Linker,
        merges: MergeService,
        audit: AuditLog,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._uow = uow
        self._linker = linker
        self._merges = merges
        self._audit = audit
        self._clock = clock

    def queue(self, actor: Actor, limit: int = 50, offset: int = 0) -> tuple[int, list[ReviewItem]]:
        """The open tasks, highest weight first, and how many are open in all."""
        with self._audit.call(actor, "review-list"), self._uow() as uow:
            tasks = uow.links.open_tasks(limit, offset)
            return uow.links.count_open_tasks(), [self._item(uow, t) for t in tasks]

    def get(self, task_id: str, actor: Actor) -> ReviewItem:
        with self._audit.call(actor, "review-show") as call, self._uow() as uow:
            call.target = task_id
            return self._item(uow, _task(uow, task_id))

    def decide(
        self, task_id: str, resolution: LinkState, actor: Actor, *, reason: str = ""
    ) -> PatientRecord:
        """Apply an operator's decision; returns the golden record the pair now rests in."""
        if resolution not in (LinkState.MATCH, LinkState.NO_MATCH):
            raise InvalidInputError("决定只能是 MATCH 或 NO_MATCH (decide MATCH or NO_MATCH)")
        with self._audit.call(actor, "review-decide") as call, self._uow(write=True) as uow:
            call.target, call.detail = task_id, resolution.value
            task = _task(uow, task_id)
            if not uow.links.resolve_task(task_id, resolution, actor.name, self._clock()):
                raise ConflictError(f"任务 {task_id} 已处理 (the task was already decided)")
            if task.mpi_id == task.candidate and task.source is not None:
                kept = self._source_doubt(uow, task, resolution, actor, reason)
            elif resolution is LinkState.MATCH:
                kept = self._merges.merge_in(
                    uow,
                    task.candidate,
                    task.mpi_id,
                    actor,
                    reason or f"review {task_id}",
                    LinkOrigin.MANUAL,
                )
            else:
                kept = self._keep_apart(uow, task, actor, reason)
            uow.commit()
            return kept

    def _source_doubt(
        self,
        uow: UnitOfWork,
        task: ReviewTask,
        resolution: LinkState,
        actor: Actor,
        reason: str,
    ) -> PatientRecord:
        """A re-evaluated AUTO link: MATCH confirms it (MANUAL), NO_MATCH splits it off."""
        assert task.source is not None
        source = uow.links.get_source(task.source)
        if source is None or source.mpi_id != task.mpi_id:
            raise ConflictError("来源记录已不在该索引下 (the source record has moved)")
        if resolution is LinkState.MATCH:
            uow.links.update_source(
                replace(source, state=LinkState.MATCH, origin=LinkOrigin.MANUAL)
            )
            return _patient(uow, task.mpi_id)
        return self._merges.split_in(
            uow, task.mpi_id, task.source, actor, reason or f"review {task.id}"
        )

    def _keep_apart(
        self, uow: UnitOfWork, task: ReviewTask, actor: Actor, reason: str
    ) -> PatientRecord:
        record, candidate = _patient(uow, task.mpi_id), _patient(uow, task.candidate)
        result = self._linker.matcher.scorer.compare_records(
            golden_match_record(record), golden_match_record(candidate)
        )
        self._linker.decide(
            uow,
            record.mpi_id,
            candidate.mpi_id,
            result,
            actor,
            origin=LinkOrigin.MANUAL,
            outcome=LinkState.NO_MATCH,
            reason=reason or f"review {task.id}: different people",
        )
        for source in uow.links.sources_of(record.mpi_id):
            if source.state is LinkState.POSSIBLE_MATCH:
                confirmed = replace(source, state=LinkState.MATCH, origin=LinkOrigin.MANUAL)
                uow.links.update_source(confirmed)
                self._linker.notifier.changed(uow, record.mpi_id)  # now published (ITI-10)
        return self._linker.refresh(uow, record, actor)

    def explain(self, a: str, b: str, actor: Actor) -> tuple[list[MatchDecision], MatchResult]:
        """Why were (or weren't) these linked: stored decisions, and the comparison today."""
        with self._audit.call(actor, "explain") as call, self._uow() as uow:
            call.target, call.detail = a, b
            first, second = _patient(uow, a), _patient(uow, b)
            now = self._linker.matcher.scorer.compare_records(
                golden_match_record(first), golden_match_record(second)
            )
            return uow.links.decisions_between(first.mpi_id, second.mpi_id), now

    def _item(self, uow: UnitOfWork, task: ReviewTask) -> ReviewItem:
        return ReviewItem(
            task,
            _patient(uow, task.mpi_id),
            _patient(uow, task.candidate),
            uow.links.get_decision(task.decision_id),
        )


def _task(uow: UnitOfWork, task_id: str) -> ReviewTask:
    task = uow.links.get_task(task_id)
    if task is None:
        raise NotFoundError(f"审核任务 {task_id} 不存在 (no such review task)")
    return task


def _patient(uow: UnitOfWork, mpi_id: str) -> PatientRecord:
    patient = uow.patients.get(mpi_id.upper())
    if patient is None:
        raise NotFoundError(f"患者索引 {mpi_id} 不存在 (no such patient)")
    return patient
