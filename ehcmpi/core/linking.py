"""Linking registrations to golden records (guideline §4.1.1 基于规则的自动合并, §5.1.4).

When a registration names no known document or source identifier, the matcher looks for
the person among the stored golden records: a MATCH links the source record to that golden
record (auto-link), a POSSIBLE_MATCH creates a new golden record and queues a review task,
a NO_MATCH creates a new golden record.  Every decision is stored with its comparison
vector.  After any change of links the golden record's demographics are recomputed from its
sources (survivorship) and its blocking keys re-indexed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence

from ehcmpi.core.links import (
    FieldComparison,
    LinkEvent,
    LinkOrigin,
    LinkState,
    MatchDecision,
    ReviewTask,
    SourceRecord,
    TaskStatus,
)
from ehcmpi.core.matching.convert import match_record
from ehcmpi.core.matching.online import Candidate, CandidateSearch, Matcher
from ehcmpi.core.matching.scoring import MatchOutcome, MatchResult
from ehcmpi.core.model import (
    Actor,
    Demographics,
    IdentityDocument,
    PatientRecord,
    PatientVersion,
    SourceIdentifier,
)
from ehcmpi.core.outbox import Notifier
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.survivorship import Trust, survive

Clock = Callable[[], dt.datetime]


def new_id() -> str:
    return uuid.uuid4().hex


class Linker:
    """Decides and records links; keeps golden records derived from their sources."""

    def __init__(
        self, matcher: Matcher, trust: Trust, clock: Clock, notifier: Notifier | None = None
    ) -> None:
        self.matcher = matcher
        self._trust = trust
        self._clock = clock
        self.notifier = notifier or Notifier((), clock)

    def search(
        self, demographics: Demographics, documents: Sequence[IdentityDocument]
    ) -> CandidateSearch:
        """What ``best`` will ask the key index for these data."""
        return self.matcher.search(match_record("incoming", demographics, documents))

    def expect(self, uow: UnitOfWork, search: CandidateSearch) -> None:
        """``best(uow, search)`` may follow: its lookup can go with the next round trip."""
        if search.capped:
            uow.links.expect_candidates(search.capped)

    def best(self, uow: UnitOfWork, search: CandidateSearch) -> Candidate | None:
        """The best-scoring golden record for the data searched, whatever its outcome."""
        found = self.matcher.candidates(uow, search)
        return found[0] if found else None

    def best_each(
        self, uow: UnitOfWork, searches: Sequence[CandidateSearch]
    ) -> list[Candidate | None]:
        """``best`` of several searches, their candidates read together."""
        return [c[0] if c else None for c in self.matcher.candidates_each(uow, searches)]

    def decide(
        self,
        uow: UnitOfWork,
        subject: str,
        candidate: str,
        result: MatchResult,
        actor: Actor,
        *,
        origin: LinkOrigin = LinkOrigin.AUTO,
        outcome: LinkState | None = None,
        source: SourceIdentifier | None = None,
        reason: str | None = None,
    ) -> MatchDecision:
        """Store a decision about two golden records with the vector that supports it."""
        decision = MatchDecision(
            id=new_id(),
            subject=subject,
            candidate=candidate,
            outcome=outcome or LinkState(result.outcome.value),
            origin=origin,
            weight=result.weight,
            fields=tuple(FieldComparison(f.name, f.level, f.weight) for f in result.fields),
            rules_version=result.rules_version,
            reason=reason or result.reason(),
            actor=actor.name,
            at=self._clock(),
            source=source,
        )
        uow.links.add_decision(decision)
        return decision

    def queue_review(
        self, uow: UnitOfWork, decision: MatchDecision, source: SourceIdentifier | None
    ) -> bool:
        task = ReviewTask(
            id=new_id(),
            mpi_id=decision.subject,
            candidate=decision.candidate,
            decision_id=decision.id,
            weight=decision.weight,
            status=TaskStatus.OPEN,
            created_at=decision.at,
            source=source,
        )
        return uow.links.add_task(task)

    def save_sources(
        self,
        uow: UnitOfWork,
        mpi_id: str,
        identifiers: Sequence[SourceIdentifier],
        demographics: Demographics,
        documents: Sequence[IdentityDocument],
        actor: Actor,
        *,
        state: LinkState = LinkState.MATCH,
        decision: MatchDecision | None = None,
        fresh: bool = False,
    ) -> list[SourceRecord]:
        """Store what each source system sent, linked to ``mpi_id`` (registration rows exist).

        ``fresh``: registration has just created ``mpi_id`` and inserted a bare row for each
        identifier, so there is nothing to read first.  Returns the source records as they
        now stand, so that such a caller knows every source it has without reading them back.
        """
        now = self._clock()
        saved: list[SourceRecord] = []
        for identifier in dict.fromkeys(identifiers):
            before = None if fresh else uow.links.get_source(identifier)
            if (
                before is not None
                and (before.mpi_id, before.state) == (mpi_id, state)
                and (before.demographics, before.documents) == (demographics, tuple(documents))
            ):
                saved.append(before)
                continue  # the same record sent again: nothing to store
            source = SourceRecord(
                identifier=identifier,
                mpi_id=mpi_id,
                demographics=demographics,
                documents=tuple(documents),
                state=state,
                origin=before.origin if before else LinkOrigin.AUTO,
                weight=decision.weight if decision else None,
                decision_id=decision.id if decision else None,
                updated_at=now,
            )
            saved.append(source)
            if before is None and not fresh:
                uow.links.add_source(source)
            else:
                uow.links.update_source(source, fresh=fresh)
            # A row registration has just written (no updated_at yet) is a new link too.
            if before is None or before.updated_at is None:
                self.notifier.changed(uow, mpi_id)  # ITI-10: cross-references changed
            elif before.mpi_id != mpi_id or before.state is not state:
                self.notifier.changed(uow, mpi_id, before.mpi_id)
                uow.links.add_event(
                    LinkEvent(
                        "LINK",
                        identifier,
                        before.mpi_id if before else None,
                        mpi_id,
                        state,
                        source.origin,
                        actor.name,
                        now,
                        decision.reason if decision else "registration",
                    )
                )
        return saved

    def refresh(
        self,
        uow: UnitOfWork,
        patient: PatientRecord,
        actor: Actor,
        *,
        created: Sequence[SourceRecord] | None = None,
        search: CandidateSearch | None = None,
    ) -> PatientRecord:
        """Recompute survivorship and the blocking keys of a golden record; the stored one.

        ``created``: the golden record was created in this transaction and these are all
        its sources — nothing else can be linked to an ID minted moments ago — so they are
        not read back and there are no old blocking keys to delete (two round trips fewer
        on every new registration).  ``search``: the matcher's search for the data it was
        created from (its keys, if the record still reads the same).
        """
        sources = uow.links.sources_of(patient.mpi_id) if created is None else created
        demographics = survive(patient.demographics, sources, self._trust)
        if demographics != patient.demographics:
            now = self._clock()
            updated = patient.with_changes(
                demographics=demographics, version=patient.version + 1, updated_at=now
            )
            if uow.patients.update(updated, patient.version):
                uow.patients.add_version(
                    PatientVersion(
                        patient.mpi_id, updated.version, "survivorship", actor.name, now, updated
                    )
                )
                patient = updated
        fresh = created is not None
        self.matcher.index(uow, patient, fresh=fresh, search=search if fresh else None)
        return patient


def auto_link(candidate: Candidate | None) -> Candidate | None:
    """The candidate to link to automatically: only a MATCH."""
    if candidate is not None and candidate.outcome is MatchOutcome.MATCH:
        return candidate
    return None
