"""birth_date comparator (guideline §4.1.1 索引合并 on 出生日期)."""

from __future__ import annotations

import pytest

from ehcmpi.core.matching.comparators import COMPARATORS
from ehcmpi.core.matching.comparators.dates import BirthDate, parse_birth_date
from ehcmpi.core.matching.record import MatchRecord

BIRTH_DATE = COMPARATORS["birth_date"]({})


def born(value: str | None) -> MatchRecord:
    return MatchRecord(key="r", birth_date=value)


def level(a: str, b: str) -> str:
    fa, fb = BIRTH_DATE.features(born(a)), BIRTH_DATE.features(born(b))
    assert fa is not None and fb is not None
    found = BIRTH_DATE.compare(fa, fb)
    assert found == BIRTH_DATE.compare(fb, fa), "comparison must be symmetric"
    return BIRTH_DATE.levels[found]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1990-03-07", "1990-03-07", "exact"),
        ("1990-03-07", "19900307", "exact"),
        ("1990-3-7", "1990/03/07", "exact"),
        ("1990-03-07", "1990-03-07T00:00:00+08:00", "exact"),
        ("１９９０-０３-０７", "1990-03-07", "exact"),  # full-width digits
        # day and month exchanged
        ("1990-03-07", "1990-07-03", "swapped"),
        ("1990-12-01", "1990-01-12", "swapped"),
        # one digit substituted or two adjacent digits transposed
        ("1990-03-07", "1990-03-08", "one_digit"),
        ("1990-03-07", "1990-08-07", "one_digit"),
        ("1956-03-07", "1965-03-07", "one_digit"),
        ("1990-03-17", "1990-03-71", "one_digit"),
        ("19561309", "19560309", "one_digit"),  # a corrupted date still compares
        ("1990-03-07", "1980-03-07", "one_digit"),
        # same year only
        ("1990-03-07", "1990", "year"),
        ("1990-03-07", "1990-03", "year"),
        ("1990-03", "1990-03", "year"),  # equal partial dates say less than a full one
        ("1990", "1990", "year"),
        ("1990-03-07", "1990-11-21", "year"),
        ("1990-03-15", "1990-15-03", "year"),  # not swapped: 15 is no month
        ("1990-05-05", "1990-05-06", "one_digit"),
        # different
        ("1990-03-07", "1991-05-08", "different"),
        ("1990-03-07", "1989-07-03", "different"),
        ("1990", "1991", "different"),
        ("1990-03-07", "2001-03-07", "different"),
    ],
)
def test_birth_date_levels(a: str, b: str, expected: str) -> None:
    assert level(a, b) == expected


@pytest.mark.parametrize(
    "value", [None, "", "  ", "unknown", "90-03-07", "1990-03-07-01", "1990030", "1990-003"]
)
def test_unparseable_or_empty_is_missing(value: str | None) -> None:
    assert BIRTH_DATE.features(born(value)) is None


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("1990-03-07", BirthDate("1990", "03", "07", "19900307")),
        ("19561309", BirthDate("1956", "13", "09", "19561309")),
        ("1990-3", BirthDate("1990", "03", None, None)),
        ("199003", BirthDate("1990", "03", None, None)),  # HL7 v2 DTM precision
        ("1990", BirthDate("1990", None, None, None)),
    ],
)
def test_parse_keeps_the_digits_without_calendar_checks(value: str, parsed: BirthDate) -> None:
    assert parse_birth_date(value) == parsed


def test_no_tf_and_no_params() -> None:
    assert BIRTH_DATE.tf_value(parse_birth_date("1990-03-07")) is None
    with pytest.raises(ValueError, match="unknown param 'swap'"):
        COMPARATORS["birth_date"]({"swap": True})
