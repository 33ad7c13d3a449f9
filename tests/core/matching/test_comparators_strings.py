"""string comparator: any other field a rule names (guideline §4.1.1 索引合并)."""

from __future__ import annotations

from typing import Any

import pytest

from ehcmpi.core.matching.comparator import Comparator
from ehcmpi.core.matching.comparators import COMPARATORS
from ehcmpi.core.matching.record import MatchRecord

STRING = COMPARATORS["string"]


def record(**fields: Any) -> MatchRecord:
    return MatchRecord(key="r", **fields)


def level(comparator: Comparator, a: MatchRecord, b: MatchRecord) -> str:
    fa, fb = comparator.features(a), comparator.features(b)
    assert fa is not None and fb is not None
    found = comparator.compare(fa, fb)
    assert found == comparator.compare(fb, fa), "comparison must be symmetric"
    return comparator.levels[found]


def test_levels_follow_the_params() -> None:
    assert STRING({"field": "postcode"}).levels == ("exact", "different")
    assert STRING({"field": "postcode", "typo": True}).levels == ("exact", "typo", "different")
    full = STRING({"field": "given_name", "typo": True, "jaro_winkler": [0.92, 0.8]})
    assert full.levels == ("exact", "typo", "jw>=0.92", "jw>=0.8", "different")
    assert STRING({"field": "given_name", "jaro_winkler": [1, 0.9]}).levels[:2] == (
        "exact",
        "jw>=1",
    )


FULL = STRING({"field": "given_name", "typo": True, "jaro_winkler": [0.92, 0.8]})


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("Jonathan", "jonathan", "exact"),
        ("  Mary   Ann ", "mary ann", "exact"),
        ("ＭＡＲＹ", "mary", "exact"),  # NFKC
        ("jonathan", "jonahtan", "typo"),  # adjacent transposition
        ("jonathan", "jonathon", "typo"),  # substitution
        ("jonathan", "jonathn", "typo"),  # deletion
        ("jonathan", "jonathann", "typo"),  # insertion
        ("jonathan", "jonathanx y", "jw>=0.92"),
        ("katherine", "kathryn", "jw>=0.8"),
        ("jonathan", "peter", "different"),
    ],
)
def test_string_levels(a: str, b: str, expected: str) -> None:
    assert level(FULL, record(given_name=a), record(given_name=b)) == expected


def test_without_typo_a_typo_falls_to_the_jaro_winkler_levels() -> None:
    jw = STRING({"field": "given_name", "jaro_winkler": [0.9]})
    assert level(jw, record(given_name="jonathan"), record(given_name="jonathon")) == "jw>=0.9"
    plain = STRING({"field": "given_name"})
    assert level(plain, record(given_name="jonathan"), record(given_name="jonathon")) == (
        "different"
    )


def test_extra_fields_and_tf() -> None:
    suburb = STRING({"field": "extra.suburb", "tf": True})
    a = record(extra=(("suburb", "Kingston"),))
    b = record(extra=(("street_number", "12"), ("suburb", "KINGSTON")))
    assert level(suburb, a, b) == "exact"
    assert suburb.tf_value(suburb.features(a)) == "kingston"
    assert suburb.features(record(extra=(("street_number", "12"),))) is None
    assert STRING({"field": "postcode"}).tf_value("2600") is None


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_value(value: str | None) -> None:
    assert STRING({"field": "postcode"}).features(record(postcode=value)) is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "param 'field' is required"),
        ({"field": "documents"}, "param 'field' must be one of"),
        ({"field": "extra."}, "param 'field' must be one of"),
        ({"field": 3}, "param 'field' must be a string"),
        ({"field": "postcode", "typo": "yes"}, "param 'typo' must be a boolean"),
        ({"field": "postcode", "tf": 1}, "param 'tf' must be a boolean"),
        ({"field": "postcode", "jaro_winkler": 0.9}, "param 'jaro_winkler' must be a list"),
        ({"field": "postcode", "jaro_winkler": [0.8, 0.9]}, "must be strictly descending"),
        ({"field": "postcode", "jaro_winkler": [0.9, 0.9]}, "must be strictly descending"),
        ({"field": "postcode", "jaro_winkler": [1.2]}, "'jaro_winkler' must be in (0, 1]"),
        ({"field": "postcode", "jaro_winkler": [True]}, "'jaro_winkler' must be a number"),
        ({"field": "postcode", "fuzzy": True}, "unknown param 'fuzzy'"),
    ],
)
def test_bad_params_are_rejected(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="'string'") as error:
        STRING(params)
    assert message in str(error.value)
