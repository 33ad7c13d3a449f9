"""Read-only matching of a caller's record (guideline §4.1.2 模糊查询; IHE PDQm ITI-119).

``MatchLookup.find`` runs the very ``Matcher.candidates`` that registration runs (same
blocking index, same rules, same scores) on a record a client describes, and grades each
candidate (:mod:`ehcmpi.core.matching.grading`).  It writes nothing — no golden record, no
source record, no decision, no review task; only the call audit records that a lookup
happened (§6 安全审计).

Candidates the engine calls NO_MATCH are not returned (the match-grade value set: "usually
non-matching records are not returned"); neither are inactive golden records (merged or
cancelled: ITI-119 Case 8, second option).  With ``only_certain`` the answer is the one
``certain`` record, or nothing when there is none or more than one (ITI-119 Cases 3–5:
several certain records cannot be confirmed to be one person).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.documents import check_demographics, check_documents
from ehcmpi.core.errors import InvalidDocumentError
from ehcmpi.core.matching.convert import match_record
from ehcmpi.core.matching.grading import MatchGrade, grade, score
from ehcmpi.core.matching.online import Candidate, Matcher
from ehcmpi.core.matching.rules import RuleSet
from ehcmpi.core.matching.scoring import MatchOutcome, MatchResult
from ehcmpi.core.model import (
    Actor,
    Demographics,
    DocumentInput,
    PatientRecord,
    RegistrationMode,
)
from ehcmpi.core.ports import UnitOfWork

#: Results when the caller sets no limit (ITI-119: "the server decides how many").
DEFAULT_LIMIT = 20
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class GradedMatch:
    """A stored golden record, how it scored against the query, and its grade."""

    patient: PatientRecord
    result: MatchResult
    grade: MatchGrade
    score: float


def _graded(candidate: Candidate, rules: RuleSet) -> GradedMatch:
    weight = candidate.result.weight
    return GradedMatch(candidate.patient, candidate.result, grade(weight, rules), score(weight))


class MatchLookup:
    def __init__(self, uow: Callable[..., UnitOfWork], matcher: Matcher, audit: AuditLog) -> None:
        self._uow = uow
        self._matcher = matcher
        self._audit = audit

    def find(
        self,
        demographics: Demographics,
        documents: Sequence[DocumentInput],
        actor: Actor,
        *,
        only_certain: bool = False,
        limit: int | None = None,
    ) -> list[GradedMatch]:
        """Golden records that may be this person, most likely first.

        A document number that fails its check is refused (``InvalidDocumentError``), as in
        direct registration; a birth date or gender that contradicts the ID number is not —
        weighing contradictions is what matching is for.
        """
        with self._audit.call(actor, "match") as call:
            check_demographics(demographics)
            checked = check_documents(tuple(documents), demographics, RegistrationMode.FEED)
            bad = next((d for d in checked.documents if not d.valid), None)
            if bad is not None:
                raise InvalidDocumentError(str(bad.reason), location="document.number")
            record = match_record("query", demographics, checked.documents)
            with self._uow() as uow:
                found = self._matcher.candidates(uow, record)
            rules = self._matcher.rules
            graded = [_graded(c, rules) for c in found if c.outcome is not MatchOutcome.NO_MATCH]
            if only_certain:
                certain = [g for g in graded if g.grade is MatchGrade.CERTAIN]
                graded = certain if len(certain) == 1 else []
            graded = graded[: min(limit or DEFAULT_LIMIT, MAX_LIMIT)]
            call.detail = f"{len(graded)} of {len(found)} candidates"
            return graded
