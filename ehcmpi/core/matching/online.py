"""Matching one incoming record against the stored golden records (§4.1.1, §4.1.2).

Candidates come from the stored blocking-key index (``LinkRepository.candidates``), capped
per key, so a lookup never scans the table whatever its size; each candidate golden record
is scored with the rule set, best first.  Pairs an operator has declared different people
(MANUAL NO_MATCH) are never proposed again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ehcmpi.core.matching.blocking import record_keys
from ehcmpi.core.matching.convert import golden_match_record
from ehcmpi.core.matching.record import MatchRecord, with_document_facts
from ehcmpi.core.matching.rules import RuleSet
from ehcmpi.core.matching.scoring import MatchOutcome, MatchResult, Scorer
from ehcmpi.core.model import PatientRecord, PatientStatus
from ehcmpi.core.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class Candidate:
    patient: PatientRecord
    result: MatchResult

    @property
    def outcome(self) -> MatchOutcome:
        return self.result.outcome


@dataclass(frozen=True, slots=True)
class CandidateSearch:
    """What finding a record's candidates asks the key index: the record (its document facts
    filled in) and each blocking key with its rule's cap."""

    record: MatchRecord
    capped: tuple[tuple[str, int], ...]


class Matcher:
    """Scores records against stored golden records under one rule set."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.scorer = Scorer(rules)

    def keys(self, record: MatchRecord) -> list[str]:
        """Every blocking key of a record, under every rule (what the key index stores)."""
        record = with_document_facts(record)
        keys: list[str] = []
        for rule in self.rules.blocking:
            keys.extend(record_keys(record, rule.name, rule.keys))
        return list(dict.fromkeys(keys))

    def index(
        self,
        uow: UnitOfWork,
        patient: PatientRecord,
        *,
        fresh: bool = False,
        search: CandidateSearch | None = None,
    ) -> None:
        """Store a golden record's blocking keys (none once it is no longer active);
        ``fresh``: the record is new in this transaction and has no keys to replace;
        ``search``: one made for data the record may read exactly as (a new registration's):
        then its keys are the record's, not computed again."""
        keys: list[str] = []
        if patient.status is PatientStatus.ACTIVE:
            record = with_document_facts(golden_match_record(patient))
            if search is not None and replace(record, key=search.record.key) == search.record:
                keys = list(dict.fromkeys(key for key, _ in search.capped))
            else:
                keys = self.keys(record)
        uow.links.replace_keys(patient.mpi_id, keys, fresh=fresh)

    def search(self, record: MatchRecord) -> CandidateSearch:
        """The lookup ``candidates`` makes for ``record`` (computed once, asked maybe later)."""
        record = with_document_facts(record)
        capped = tuple(
            (key, rule.cap)
            for rule in self.rules.blocking
            for key in record_keys(record, rule.name, rule.keys)
        )
        return CandidateSearch(record, capped)

    def candidates(
        self,
        uow: UnitOfWork,
        record: MatchRecord | CandidateSearch,
        *,
        subject: str | None = None,
        exclude: Iterable[str] = (),
    ) -> list[Candidate]:
        """Active golden records that share a blocking key with ``record``, best first.

        ``subject`` is the golden record ``record`` belongs to, if any: it is not its own
        candidate, nor is one an operator has said is a different person.
        """
        search = record if isinstance(record, CandidateSearch) else self.search(record)
        capped = search.capped
        found = dict.fromkeys(uow.links.candidates_capped(capped)) if capped else {}
        skip = set(exclude) | ({subject} if subject else set())
        patients = [
            p
            for p in uow.patients.get_many([m for m in found if m not in skip])
            if p.status is PatientStatus.ACTIVE
            and not (subject and uow.links.manual_no_match(subject, p.mpi_id))
        ]
        return self._scored(search, patients)

    def candidates_each(
        self, uow: UnitOfWork, searches: Sequence[CandidateSearch]
    ) -> list[list[Candidate]]:
        """``candidates`` of several new records (registrations answered together): their
        candidates' golden records read together, not one search after another."""
        found = [
            list(dict.fromkeys(uow.links.candidates_capped(s.capped))) if s.capped else []
            for s in searches
        ]
        read = {
            p.mpi_id: p
            for p in uow.patients.get_many([m for f in found for m in f])
            if p.status is PatientStatus.ACTIVE
        }
        return [
            self._scored(search, [read[m] for m in ids if m in read])
            for search, ids in zip(searches, found, strict=True)
        ]

    def _scored(self, search: CandidateSearch, patients: list[PatientRecord]) -> list[Candidate]:
        """The patients as candidates for what was searched, best first."""
        if not patients:
            return []  # nothing to compare with: the record's own features are not needed
        features = self.scorer.features(search.record)
        scorer = self.scorer
        results = [
            Candidate(p, scorer.explain(features, scorer.features(golden_match_record(p))))
            for p in patients
        ]
        results.sort(key=lambda c: -c.result.weight)
        return results
