"""Weight → FHIR score and match grade (IHE ITI-119 2:3.119.4.2.2.4; ``grading`` docstring).

Pins the documented mapping: the score is the posterior probability ``1 / (1 + 2**-w)``,
never lower for a higher weight, inside 0..1; the grades follow the rule set's own thresholds
(MATCH is certain, the POSSIBLE_MATCH band split in half, NO_MATCH certainly-not).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ehcmpi.core.matching.grading import MatchGrade, grade, score
from ehcmpi.core.matching.rules import load_rules

RULES = load_rules()  # shipped: match 10, possible 0


@pytest.mark.parametrize(
    ("weight", "expected"),
    [(0.0, 0.5), (1.0, 0.666667), (-1.0, 0.333333), (10.0, 0.999024), (60.0, 1.0), (-80, 0.0)],
)
def test_the_score_is_the_posterior_probability(weight: float, expected: float) -> None:
    assert score(weight) == expected


def test_a_higher_weight_never_scores_lower() -> None:
    weights = [w / 4 for w in range(-200, 200)]
    scores = [score(w) for w in weights]
    assert scores == sorted(scores)
    assert all(0.0 <= s <= 1.0 for s in scores)


@pytest.mark.parametrize(
    ("weight", "expected"),
    [
        (25.0, MatchGrade.CERTAIN),
        (10.0, MatchGrade.CERTAIN),
        (9.99, MatchGrade.PROBABLE),
        (5.0, MatchGrade.PROBABLE),
        (4.99, MatchGrade.POSSIBLE),
        (0.0, MatchGrade.POSSIBLE),
        (-0.01, MatchGrade.CERTAINLY_NOT),
    ],
)
def test_grades_follow_the_shipped_thresholds(weight: float, expected: MatchGrade) -> None:
    assert grade(weight, RULES) is expected


def test_grades_follow_a_sites_own_thresholds() -> None:
    site = replace(RULES, match_threshold=20.0, possible_threshold=4.0)
    assert [grade(w, site) for w in (20, 12, 11.9, 4, 3.9)] == [
        MatchGrade.CERTAIN,
        MatchGrade.PROBABLE,
        MatchGrade.POSSIBLE,
        MatchGrade.POSSIBLE,
        MatchGrade.CERTAINLY_NOT,
    ]
    assert [g.value for g in MatchGrade] == ["certain", "probable", "possible", "certainly-not"]
