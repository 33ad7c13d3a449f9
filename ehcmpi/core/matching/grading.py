"""From a Fellegi–Sunter weight to what a FHIR client reads: a score in 0..1 and a match grade
(IHE PDQm ITI-119 2:3.119.4.2.2.4 Quality of Match; FHIR ``search.score`` and the
``http://hl7.org/fhir/StructureDefinition/match-grade`` extension).

**Score.** The weight ``w`` a :class:`~ehcmpi.core.matching.scoring.Scorer` returns already
starts from the prior log odds ``log2(prior / (1 - prior))`` and adds ``log2(m/u)`` of every
compared field, so it is the log2 of the posterior odds that the pair is one person.  The
score is that posterior probability::

    score = 1 / (1 + 2 ** -w)

strictly increasing in ``w`` (a higher weight never scores lower), 0.5 at ``w = 0``, rounded
to six decimals.  Under the shipped rules (match threshold 10, possible threshold 0) a
certain match scores at least 0.999024 and a possible one at least 0.5.

**Grade.** From the rule set's thresholds, the same ones that decide auto-link and review:

=================  ===============================================  ==================
grade              weight                                           engine outcome
=================  ===============================================  ==================
``certain``        ``w >= match``                                   MATCH (auto-link)
``probable``       ``(match + possible) / 2 <= w < match``          POSSIBLE_MATCH
``possible``       ``possible <= w < (match + possible) / 2``       POSSIBLE_MATCH
``certainly-not``  ``w < possible`` (and every vetoed pair)         NO_MATCH
=================  ===============================================  ==================

The POSSIBLE_MATCH band is halved so that a reviewer sees the upper half (``probable``: shipped
rules, score ≥ 0.97) apart from the lower one.
"""

from __future__ import annotations

from enum import StrEnum

from ehcmpi.core.matching.rules import RuleSet
from ehcmpi.core.matching.scoring import probability

MATCH_GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"


class MatchGrade(StrEnum):
    """The FHIR match-grade codes (ValueSet ``match-grade``)."""

    CERTAIN = "certain"
    PROBABLE = "probable"
    POSSIBLE = "possible"
    CERTAINLY_NOT = "certainly-not"


def score(weight: float) -> float:
    """The posterior probability of a match, 0..1, rounded to six decimals."""
    return round(probability(weight), 6)


def grade(weight: float, rules: RuleSet) -> MatchGrade:
    if weight >= rules.match_threshold:
        return MatchGrade.CERTAIN
    if weight >= (rules.match_threshold + rules.possible_threshold) / 2:
        return MatchGrade.PROBABLE
    if weight >= rules.possible_threshold:
        return MatchGrade.POSSIBLE
    return MatchGrade.CERTAINLY_NOT
