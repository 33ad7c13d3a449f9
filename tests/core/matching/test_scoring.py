"""Fellegi–Sunter scoring (guideline §4.1.1 索引合并, rule-based automatic merge).

Pins what decides a link and what is shown to explain it: the match weight is the prior log
odds plus one level weight per field; a missing field neither helps nor hurts and shows as
level None; the thresholds give MATCH / POSSIBLE_MATCH / NO_MATCH at and around their
boundaries; an agreeing frequent name (王伟) weighs less than a rare one; a veto level (two
different valid ID numbers: twins) keeps a pair out of automatic linking whatever else agrees;
``reason()`` lists the deciding fields strongest first; ``probability()`` is the logistic of
the weight in base 2 and never overflows.

The rule set below uses m and u that are powers of two, so every level weight (log2 m/u) is
an integer and every expected weight is exact.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Any

import pytest

from ehcmpi.core.matching.record import MatchDocument, MatchRecord
from ehcmpi.core.matching.rules import load_rules
from ehcmpi.core.matching.scoring import MatchOutcome, Scorer, probability
from ehcmpi.terminology.gb11643 import mod11_2_check_char

# Level weights: document 9/8/6/-5 (different is a veto), name 7/6/4/1/-4, birth_date
# 6/4/2/0/-3, gender 1/-4, phone 8/5/-1; prior 0.2 → log2(0.2/0.8) = -2.
RULES_TEXT = """\
version = "pow2"
prior = 0.2

[thresholds]
match = 8.0
possible = 2.0

[[blocking]]
name = "phone"
keys = ["phone"]

[[comparisons]]
name = "document"
comparator = "document"
levels = [
  { name = "exact", m = 0.5, u = 0.0009765625 },
  { name = "legacy", m = 0.25, u = 0.0009765625 },
  { name = "typo", m = 0.125, u = 0.001953125 },
  { name = "different", m = 0.015625, u = 0.5, veto = true },
]

[[comparisons]]
name = "name"
comparator = "chinese_name"
levels = [
  { name = "exact", m = 0.5, u = 0.00390625, tf = true },
  { name = "pinyin", m = 0.25, u = 0.00390625, tf = true },
  { name = "near_pinyin", m = 0.125, u = 0.0078125 },
  { name = "one_char", m = 0.0625, u = 0.03125 },
  { name = "different", m = 0.03125, u = 0.5 },
]

[[comparisons]]
name = "birth_date"
comparator = "birth_date"
levels = [
  { name = "exact", m = 0.5, u = 0.0078125 },
  { name = "swapped", m = 0.0625, u = 0.00390625 },
  { name = "one_digit", m = 0.0625, u = 0.015625 },
  { name = "year", m = 0.0625, u = 0.0625 },
  { name = "different", m = 0.0625, u = 0.5 },
]

[[comparisons]]
name = "gender"
comparator = "gender"
levels = [
  { name = "exact", m = 0.5, u = 0.25 },
  { name = "different", m = 0.03125, u = 0.5 },
]

[[comparisons]]
name = "phone"
comparator = "phone"
levels = [
  { name = "exact", m = 0.5, u = 0.001953125 },
  { name = "typo", m = 0.0625, u = 0.001953125 },
  { name = "different", m = 0.25, u = 0.5 },
]
"""

#: Name frequencies 2^-6, 2^-7, 2^-9: exact weights log2(0.5/f) = 5, 6, 8.
TF_TEXT = """
[term_frequencies.name]
"王伟" = 0.015625
"张伟" = 0.0078125
"李娜" = 0.001953125
"""

RULES = load_rules(RULES_TEXT)
TF_RULES = load_rules(RULES_TEXT + TF_TEXT)
SCORER = Scorer(RULES)
NAMES = ("document", "name", "birth_date", "gender", "phone")


def citizen_id(first17: str) -> str:
    return first17 + mod11_2_check_char(first17)


# Twins born 2010-05-20 in 浦东新区: consecutive odd (male) sequence codes, both numbers valid.
TWIN_1 = MatchDocument("01", citizen_id("31011520100520011"))
TWIN_2 = MatchDocument("01", citizen_id("31011520100520013"))


def rec(**fields: Any) -> MatchRecord:
    return MatchRecord(key="r", **fields)


def score(a: MatchRecord, b: MatchRecord, scorer: Scorer = SCORER) -> float:
    return scorer.weight(scorer.features(a), scorer.features(b))


# (id, a, b, expected weight, expected outcome)
PAIRS = [
    (
        "everything-agrees",
        rec(name="张伟", birth_date="1985-06-12", gender="1", phones=("13800138000",),
            documents=(TWIN_1,)),
        rec(name="张伟", birth_date="1985-06-12", gender="1", phones=("+86 138 0013 8000",),
            documents=(TWIN_1,)),
        -2 + 9 + 7 + 6 + 1 + 8,
        MatchOutcome.MATCH,
    ),
    (
        "phone-and-one-digit-date-at-match-threshold",
        rec(birth_date="1985-06-12", phones=("13800138000",)),
        rec(birth_date="1985-06-13", phones=("13800138000",)),
        -2 + 8 + 2,
        MatchOutcome.MATCH,
    ),
    (
        "swapped-date-and-phone-typo-just-below-match",
        rec(birth_date="1990-03-07", phones=("13912345678",)),
        rec(birth_date="1990-07-03", phones=("13912345687",)),
        -2 + 4 + 5,
        MatchOutcome.POSSIBLE_MATCH,
    ),
    (
        "phone-and-year-only",
        rec(birth_date="1985", phones=("13800138000",)),
        rec(birth_date="1985-06-12", phones=("13800138000",)),
        -2 + 8 + 0,
        MatchOutcome.POSSIBLE_MATCH,
    ),
    (
        "near-homophone-name-at-possible-threshold",
        rec(name="陈明"),
        rec(name="程明"),
        -2 + 4,
        MatchOutcome.POSSIBLE_MATCH,
    ),
    (
        "homophone-name-different-date-below-possible",
        rec(name="张伟", birth_date="1985-06-12"),
        rec(name="章伟", birth_date="1962-11-30"),
        -2 + 6 - 3,
        MatchOutcome.NO_MATCH,
    ),
    (
        "one-character-and-gender",
        rec(name="陈明", gender="1"),
        rec(name="陈亮", gender="1"),
        -2 + 1 + 1,
        MatchOutcome.NO_MATCH,
    ),
    (
        "everything-disagrees",
        rec(name="张伟", birth_date="1985-06-12", gender="1", phones=("13800138000",)),
        rec(name="李娜", birth_date="1962-11-30", gender="2", phones=("13912345678",)),
        -2 - 4 - 3 - 4 - 1,
        MatchOutcome.NO_MATCH,
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("a", "b", "weight", "outcome"), [p[1:] for p in PAIRS], ids=[p[0] for p in PAIRS]
)
def test_weight_is_prior_plus_level_weights(
    a: MatchRecord, b: MatchRecord, weight: float, outcome: MatchOutcome
) -> None:
    assert score(a, b) == weight
    assert score(b, a) == weight
    assert SCORER.outcome(score(a, b)) is outcome


@pytest.mark.parametrize(("a", "b"), [p[1:3] for p in PAIRS], ids=[p[0] for p in PAIRS])
def test_explain_agrees_with_weight(a: MatchRecord, b: MatchRecord) -> None:
    fa, fb = SCORER.features(a), SCORER.features(b)
    result = SCORER.explain(fa, fb)
    assert result.weight == SCORER.weight(fa, fb)
    assert result.outcome is SCORER.outcome(result.weight)
    assert result.rules_version == "pow2"
    assert tuple(f.name for f in result.fields) == NAMES
    assert RULES.prior_weight + sum(f.weight for f in result.fields) == result.weight
    levels = SCORER.levels(fa, fb)
    for field, level, comparison in zip(result.fields, levels, RULES.comparisons, strict=True):
        assert field.level == (None if level < 0 else comparison.levels[level].name)
    assert SCORER.compare_records(a, b) == result
    assert result.probability == probability(result.weight)


def test_explain_names_each_field_level_and_weight() -> None:
    a = rec(name="张伟", birth_date="1985-06-12", phones=("13800138000",))
    b = rec(name="章伟", birth_date="1985-06-12", gender="1", phones=("13800138001",))
    result = SCORER.compare_records(a, b)
    assert [(f.name, f.level, f.weight) for f in result.fields] == [
        ("document", None, 0.0),
        ("name", "pinyin", 6.0),
        ("birth_date", "exact", 6.0),
        ("gender", None, 0.0),
        ("phone", "typo", 5.0),
    ]
    assert result.weight == -2 + 6 + 6 + 5
    assert result.outcome is MatchOutcome.MATCH


BASE_A = rec(name="张伟", birth_date="1985-06-12")
BASE_B = rec(name="张伟", birth_date="1985-06-12")


@pytest.mark.parametrize(
    ("extra_a", "extra_b", "missing"),
    [
        ({"phones": ("13800138000",)}, {}, "phone"),
        ({}, {"gender": "1"}, "gender"),
        ({"gender": "9"}, {"gender": "1"}, "gender"),  # 未说明的性别 says nothing
        ({"gender": "0"}, {"gender": "2"}, "gender"),  # 未知的性别 neither
        # a passport and an ID card cannot be compared: missing, not a disagreement
        ({"documents": (MatchDocument("03", "E12345678"),)}, {"documents": (TWIN_1,)}, "document"),
    ],
    ids=["phone-one-side", "gender-one-side", "gender-unstated", "gender-unknown", "doc-types"],
)
def test_a_missing_field_neither_helps_nor_hurts(
    extra_a: dict[str, Any], extra_b: dict[str, Any], missing: str
) -> None:
    a, b = replace(BASE_A, **extra_a), replace(BASE_B, **extra_b)
    assert score(a, b) == score(BASE_A, BASE_B) == -2 + 7 + 6
    fields = {f.name: f for f in SCORER.compare_records(a, b).fields}
    assert fields[missing].level is None
    assert fields[missing].weight == 0.0


def test_a_record_with_nothing_comparable_scores_the_prior() -> None:
    result = SCORER.compare_records(rec(name="张伟"), rec(birth_date="1985-06-12"))
    assert result.weight == RULES.prior_weight == -2
    assert all(f.level is None for f in result.fields)
    assert result.outcome is MatchOutcome.NO_MATCH


@pytest.mark.parametrize(
    ("weight", "outcome"),
    [
        (math.inf, MatchOutcome.MATCH),
        (100.0, MatchOutcome.MATCH),
        (8.0, MatchOutcome.MATCH),
        (math.nextafter(8.0, -math.inf), MatchOutcome.POSSIBLE_MATCH),
        (5.0, MatchOutcome.POSSIBLE_MATCH),
        (2.0, MatchOutcome.POSSIBLE_MATCH),
        (math.nextafter(2.0, -math.inf), MatchOutcome.NO_MATCH),
        (-50.0, MatchOutcome.NO_MATCH),
    ],
)
def test_thresholds_are_inclusive_lower_bounds(weight: float, outcome: MatchOutcome) -> None:
    assert SCORER.outcome(weight) is outcome


def test_equal_thresholds_leave_no_review_band() -> None:
    scorer = Scorer(replace(RULES, possible_threshold=8.0))
    assert scorer.outcome(8.0) is MatchOutcome.MATCH
    assert scorer.outcome(math.nextafter(8.0, -math.inf)) is MatchOutcome.NO_MATCH


# --- term frequencies -------------------------------------------------------------------------


def name_pair_weight(a: str, b: str, scorer: Scorer) -> float:
    return score(rec(name=a), rec(name=b), scorer)


def test_an_agreeing_frequent_name_weighs_less_than_a_rare_one() -> None:
    tf = Scorer(TF_RULES)
    frequent = name_pair_weight("王伟", "王伟", tf)
    middle = name_pair_weight("张伟", "张伟", tf)
    listed_rare = name_pair_weight("李娜", "李娜", tf)
    assert (frequent, middle, listed_rare) == (-2 + 5, -2 + 6, -2 + 8)
    assert frequent < middle < listed_rare


def test_a_name_missing_from_the_table_counts_as_the_rarest_listed() -> None:
    tf = Scorer(TF_RULES)
    assert name_pair_weight("欧阳娜娜", "欧阳娜娜", tf) == name_pair_weight("李娜", "李娜", tf)
    fields = {
        f.name: f for f in tf.compare_records(rec(name="欧阳娜娜"), rec(name="欧阳娜娜")).fields
    }
    assert fields["name"].weight == 8.0  # log2(0.5 / 2^-9), shown adjusted in explain too


def test_term_frequencies_also_adjust_the_pinyin_level() -> None:
    tf = Scorer(TF_RULES)
    # 王伟 typed as pinyin by a clerk: the pinyin level, u from 王伟's frequency 2^-6.
    assert name_pair_weight("王伟", "Wang Wei", tf) == -2 + 4  # log2(0.25 / 2^-6)
    assert name_pair_weight("王伟", "Wang Wei", SCORER) == -2 + 6  # no table: the file's u


def test_levels_without_tf_ignore_the_table() -> None:
    tf = Scorer(TF_RULES)
    # near_pinyin is not marked tf: a listed name that only nearly agrees keeps the file's u.
    assert (
        name_pair_weight("张伟", "詹伟", tf) == name_pair_weight("张伟", "詹伟", SCORER) == -2 + 4
    )
    assert name_pair_weight("王伟", "李娜", tf) == -2 - 4


def test_without_a_table_tf_levels_use_the_rule_file_u() -> None:
    assert name_pair_weight("王伟", "王伟", SCORER) == -2 + 7
    assert name_pair_weight("李娜", "李娜", SCORER) == -2 + 7


def test_a_tf_adjusted_pair_scores_the_same_in_either_order() -> None:
    # 王伟 and 王玮 agree at the pinyin level (tf).  The frequency is looked up for the first
    # record's name only: 王伟 (2^-6) gives log2(0.25/2^-6) = 4, 王玮 (not listed: 2^-9) gives
    # 7; with a swapped birth date (4) that is 6 (POSSIBLE_MATCH) one way, 9 (MATCH) the
    # other, so the outcome of an online match depends on which record arrived first.
    tf = Scorer(TF_RULES)
    a = rec(name="王伟", birth_date="1990-03-07")
    b = rec(name="王玮", birth_date="1990-07-03")
    assert score(a, b, tf) == score(b, a, tf)
    assert tf.compare_records(a, b).outcome is tf.compare_records(b, a).outcome


# --- veto -------------------------------------------------------------------------------------

TWIN_A = rec(
    name="刘洋", birth_date="2010-05-20", gender="1", phones=("13600000000",), documents=(TWIN_1,)
)
TWIN_B = replace(TWIN_A, documents=(TWIN_2,))


def test_twins_with_different_valid_ids_are_no_match() -> None:
    unvetoed = -2 - 5 + 7 + 6 + 1 + 8  # 15: would be a MATCH without the veto
    assert unvetoed >= RULES.match_threshold
    result = SCORER.compare_records(TWIN_A, TWIN_B)
    assert result.outcome is MatchOutcome.NO_MATCH  # not linked, and no review task either
    assert result.weight == math.nextafter(RULES.possible_threshold, -math.inf)
    assert result.weight == score(TWIN_A, TWIN_B) == score(TWIN_B, TWIN_A)
    assert dict((f.name, f.level) for f in result.fields)["document"] == "different"


def test_the_same_pair_without_the_conflicting_id_is_linked() -> None:
    no_id = replace(TWIN_B, documents=())
    assert score(TWIN_A, no_id) == -2 + 7 + 6 + 1 + 8
    assert SCORER.compare_records(TWIN_A, no_id).outcome is MatchOutcome.MATCH


@pytest.mark.parametrize(
    ("b", "weight"),
    [
        (replace(TWIN_B, name="王芳", birth_date="1978-11-02", gender="2", phones=("1390000",)),
         -2 - 5 - 4 - 3 - 4 - 1),
        (replace(TWIN_B, phones=()), math.nextafter(RULES.possible_threshold, -math.inf)),
    ],
    ids=["low-keeps-its-weight", "review-band-is-capped"],
)  # fmt: skip
def test_a_vetoed_pair_never_reaches_the_review_band(b: MatchRecord, weight: float) -> None:
    assert score(TWIN_A, b) == weight
    assert SCORER.compare_records(TWIN_A, b).weight == weight
    assert SCORER.compare_records(TWIN_A, b).outcome is MatchOutcome.NO_MATCH


# --- reason and probability -------------------------------------------------------------------


def test_reason_lists_the_deciding_fields_strongest_first() -> None:
    # A shared passport number (type 03 encodes no birth date or sex): gender stays missing
    # on the side that does not give it.
    passport = (MatchDocument("03", "E12345678"),)
    a = rec(name="张伟", birth_date="1985-06-12", phones=("13800138000",), documents=passport)
    b = rec(name="王芳", birth_date="1985-06-12", gender="1", phones=("13800138001",),
            documents=passport)  # fmt: skip
    result = SCORER.compare_records(a, b)
    assert result.reason() == (
        "MATCH weight 14.0: document=exact (+9.0), birth_date=exact (+6.0), "
        "phone=typo (+5.0), name=different (-4.0)"
    )
    assert "gender" not in result.reason()  # missing on one side: not a reason


def test_probability_is_one_half_at_weight_zero_and_follows_log2_odds() -> None:
    assert probability(0.0) == 0.5
    assert probability(1.0) == pytest.approx(2 / 3)
    assert probability(-1.0) == pytest.approx(1 / 3)
    assert probability(10.0) == pytest.approx(1024 / 1025)


def test_probability_is_monotone() -> None:
    grid = [w / 4 for w in range(-4000, 4001)]
    values = [probability(w) for w in grid]
    assert all(x <= y for x, y in itertools.pairwise(values))
    inner = [probability(w / 4) for w in range(-200, 201)]
    assert all(x < y for x, y in itertools.pairwise(inner))
    assert all(0.0 <= v <= 1.0 for v in values)


@pytest.mark.parametrize(
    ("weight", "expected"),
    [(-1e308, 0.0), (-1025.0, 0.0), (-math.inf, 0.0), (1025.0, 1.0), (1e308, 1.0), (math.inf, 1.0)],
)
def test_probability_does_not_overflow_at_extreme_weights(weight: float, expected: float) -> None:
    assert probability(weight) == expected
