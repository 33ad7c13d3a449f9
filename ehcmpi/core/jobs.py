"""Scheduled jobs (guideline §4.1.1 索引定时任务): the periodic batch auto-merge.

The schedule lives in the database and can be edited (``ehcmpi match schedule``); any
replica may notice that a run is due, but only the one holding the job's lease (a row in
the database, taken with a conditional update, renewed while running) runs it.  Each run is
recorded with its counts: records examined, pairs merged, pairs queued for review.

A run loads the active golden records page by page, deduplicates them with the batch
engine (the same blocking, comparators and rule set as online matching), then applies the
decisions one transaction each: MATCH merges the newer record into the older one (AUTO
origin) unless an operator has kept the pair apart; POSSIBLE_MATCH queues a review task.
With ``reevaluate`` it also re-scores source records that were linked AUTOmatically: one that
no longer reaches the match threshold under the current rules is marked POSSIBLE_MATCH and
queued for review.  MANUAL links are never touched.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.errors import DomainError, InvalidInputError, NotFoundError
from ehcmpi.core.linking import Linker, new_id
from ehcmpi.core.links import JobRun, JobSchedule, LinkOrigin, LinkState, SourceRecord
from ehcmpi.core.matching.batch import run_batch
from ehcmpi.core.matching.convert import golden_match_record, match_record
from ehcmpi.core.matching.record import MatchRecord
from ehcmpi.core.matching.scoring import MatchOutcome
from ehcmpi.core.merge import MergeService
from ehcmpi.core.model import Actor, Demographics, PatientRecord, PatientStatus
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.registration import Clock, utcnow

log = logging.getLogger(__name__)
AUTO_MERGE = "auto-merge"
JOBS = (AUTO_MERGE,)
DEFAULT_INTERVAL = 24 * 3600
PAGE = 2000
RENEW_EVERY = 200


@dataclass(slots=True)
class _Counts:
    examined: int = 0
    merged: int = 0
    queued: int = 0


class JobService:
    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        linker: Linker,
        merges: MergeService,
        audit: AuditLog,
        *,
        holder: str,
        clock: Clock = utcnow,
        lease_seconds: float = 600.0,
    ) -> None:
        self._uow = uow
        self._linker = linker
        self._merges = merges
        self._audit = audit
        self.holder = holder
        self._clock = clock
        self._lease = lease_seconds

    def schedule(self, name: str) -> JobSchedule:
        _known(name)
        with self._uow() as uow:
            stored = uow.jobs.get_schedule(name)
        return stored or JobSchedule(name, DEFAULT_INTERVAL, enabled=False)

    def set_schedule(
        self, name: str, interval_seconds: int, enabled: bool, actor: Actor
    ) -> JobSchedule:
        _known(name)
        if interval_seconds < 60:
            raise InvalidInputError("间隔至少 60 秒 (the interval must be at least 60 s)")
        with self._audit.call(actor, "job-schedule") as call, self._uow(write=True) as uow:
            call.target, call.detail = name, f"every {interval_seconds}s enabled={enabled}"
            now = self._clock()
            schedule = JobSchedule(
                name,
                interval_seconds,
                enabled,
                now + dt.timedelta(seconds=interval_seconds),
                actor.name,
            )
            uow.jobs.save_schedule(schedule)
            uow.commit()
            return schedule

    def runs(self, name: str, limit: int = 20) -> list[JobRun]:
        _known(name)
        with self._uow() as uow:
            return uow.jobs.runs(name, limit)

    def run_due(self, actor: Actor) -> list[JobRun]:
        """Run every enabled job whose time has come (the server's scheduler calls this)."""
        now = self._clock()
        with self._uow() as uow:
            due = [
                s
                for s in uow.jobs.schedules()
                if s.enabled and (s.next_run_at is None or s.next_run_at <= now)
            ]
        runs = []
        for schedule in due:
            run = self.run(schedule.name, actor)
            if run is not None:
                runs.append(run)
        return runs

    def run(
        self, name: str, actor: Actor, *, reevaluate: bool = True, workers: int = 1
    ) -> JobRun | None:
        """Run a job now; None when another process holds its lease (it is running there).

        ``workers`` > 1 forks processes for the batch (the command line; not the server's
        scheduler thread, where forking is unsafe)."""
        _known(name)
        with self._audit.call(actor, "job-run") as call:
            call.target = name
            run = self._start(name)
            if run is None:
                call.detail = "lease held elsewhere"
                return None
            counts = _Counts()
            status, error = "done", None
            try:
                self._auto_merge(counts, actor, reevaluate, workers)
            except DomainError as exc:
                status, error = "failed", exc.message
            finally:
                run = replace(
                    run,
                    finished_at=self._clock(),
                    status=status,
                    error=error,
                    examined=counts.examined,
                    merged=counts.merged,
                    queued=counts.queued,
                )
                self._finish(run)
            call.detail = (
                f"examined {counts.examined} merged {counts.merged} queued {counts.queued}"
            )
            return run

    def _start(self, name: str) -> JobRun | None:
        with self._uow(write=True) as uow:
            if not uow.jobs.acquire_lease(name, self.holder, self._clock(), self._lease):
                return None
            run = JobRun(new_id(), name, self.holder, self._clock())
            uow.jobs.add_run(run)
            uow.commit()
            return run

    def _finish(self, run: JobRun) -> None:
        with self._uow(write=True) as uow:
            uow.jobs.finish_run(run)
            schedule = uow.jobs.get_schedule(run.job)
            if schedule is not None:
                next_at = self._clock() + dt.timedelta(seconds=schedule.interval_seconds)
                uow.jobs.save_schedule(replace(schedule, next_run_at=next_at))
            uow.jobs.release_lease(run.job, self.holder)
            uow.commit()

    def _renew(self, name: str) -> None:
        with self._uow(write=True) as uow:
            if uow.jobs.acquire_lease(name, self.holder, self._clock(), self._lease):
                uow.commit()

    def _auto_merge(self, counts: _Counts, actor: Actor, reevaluate: bool, workers: int) -> None:
        patients = load_active(self._uow)
        counts.examined = len(patients)
        records = [golden_match_record(p) for p in patients]
        result = run_batch(records, self._linker.matcher.rules, workers=workers)
        pairs = [(m, True) for m in sorted(result.matches, key=lambda m: -m[2])]
        pairs += [(m, False) for m in result.possible]
        for done, ((i, j, _), merge) in enumerate(pairs):
            if done % RENEW_EVERY == 0:
                self._renew(AUTO_MERGE)  # a long run keeps its lease
            older, newer = sorted((patients[i], patients[j]), key=_age)
            applied = self._apply(older.mpi_id, newer.mpi_id, actor, merge=merge)
            if merge:
                counts.merged += applied
            else:
                counts.queued += applied
        if reevaluate:
            self._renew(AUTO_MERGE)
            counts.queued += self._reevaluate(patients, actor)

    def _apply(self, older: str, newer: str, actor: Actor, *, merge: bool) -> int:
        """Merge or queue one pair in its own transaction; 1 when something was done."""
        with self._uow(write=True) as uow:
            a, b = uow.patients.get(older), uow.patients.get(newer)
            if a is None or b is None or not _both_active(a, b):
                return 0  # an earlier merge of this run already took one of them
            if uow.links.manual_no_match(older, newer):
                return 0
            result = self._linker.matcher.scorer.compare_records(
                golden_match_record(a), golden_match_record(b)
            )
            if merge and result.outcome is MatchOutcome.MATCH:
                self._merges.merge_in(uow, older, newer, actor, result.reason(), LinkOrigin.AUTO)
            elif result.outcome is not MatchOutcome.NO_MATCH:
                decision = self._linker.decide(
                    uow, newer, older, result, actor, outcome=LinkState.POSSIBLE_MATCH
                )
                if not self._linker.queue_review(uow, decision, None):
                    return 0
            else:
                return 0
            uow.commit()
            return 1

    def _reevaluate(self, patients: list[PatientRecord], actor: Actor) -> int:
        """Re-score each source the matcher linked (AUTO, with a decision) against its siblings.

        The source that created a golden record defines it and is not re-scored; MANUAL links
        and sources without demographics on file are left alone.
        """
        queued = 0
        scorer = self._linker.matcher.scorer
        for patient in patients:
            with self._uow(write=True) as uow:
                sources = [
                    s for s in uow.links.sources_of(patient.mpi_id)
                    if s.demographics != Demographics()
                ]  # fmt: skip
                for source in sources:
                    others = [o for o in sources if o.identifier != source.identifier]
                    auto = source.origin is LinkOrigin.AUTO and source.decision_id is not None
                    if not others or not auto or source.state is not LinkState.MATCH:
                        continue
                    mine = _source_record(source)
                    best = max(
                        (scorer.compare_records(mine, _source_record(o)) for o in others),
                        key=lambda r: r.weight,
                    )
                    if best.weight >= scorer.rules.match_threshold:
                        continue
                    uow.links.update_source(replace(source, state=LinkState.POSSIBLE_MATCH))
                    decision = self._linker.decide(
                        uow, patient.mpi_id, patient.mpi_id, best, actor,
                        outcome=LinkState.POSSIBLE_MATCH, source=source.identifier,
                        reason=f"re-evaluated under {best.rules_version}: {best.reason()}",
                    )  # fmt: skip
                    queued += self._linker.queue_review(uow, decision, source.identifier)
                uow.commit()
        return queued


def _source_record(source: SourceRecord) -> MatchRecord:
    return match_record(source.identifier.value, source.demographics, source.documents)


def load_active(uow_factory: Callable[..., UnitOfWork]) -> list[PatientRecord]:
    """Every active golden record, read page by page (batch matching and training)."""
    patients: list[PatientRecord] = []
    after = None
    while True:
        with uow_factory() as uow:
            page = uow.patients.active_records(after, PAGE)
        if not page:
            return patients
        patients.extend(page)
        after = page[-1].mpi_id


def _age(patient: PatientRecord) -> tuple[dt.datetime, str]:
    return (patient.created_at or dt.datetime.max.replace(tzinfo=dt.UTC), patient.mpi_id)


def _both_active(a: PatientRecord, b: PatientRecord) -> bool:
    return a.status is PatientStatus.ACTIVE and b.status is PatientStatus.ACTIVE


def _known(name: str) -> None:
    if name not in JOBS:
        raise NotFoundError(f"未知的定时任务 '{name}' (unknown job; known: {', '.join(JOBS)})")


class JobScheduler:
    """A server thread that runs due jobs every ``seconds``; the lease keeps it one runner."""

    def __init__(self, jobs: JobService, actor: Actor, seconds: float) -> None:
        self._jobs = jobs
        self._actor = actor
        self._seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="ehcmpi-jobs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self._seconds):
            try:
                self._jobs.run_due(self._actor)
            except Exception:  # keep the scheduler alive; the failure is logged
                log.exception("scheduled job failed")
