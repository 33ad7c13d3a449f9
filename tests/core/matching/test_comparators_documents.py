"""document comparator (guideline §4.1.1 索引合并, Appendix A, GB 11643-1999)."""

from __future__ import annotations

import datetime as dt

import pytest

from ehcmpi.core.matching.comparators import COMPARATORS
from ehcmpi.core.matching.record import MatchDocument, MatchRecord
from ehcmpi.terminology.validators import check_document, id_number_15_to_18
from tests.core.support import citizen_id

DOCUMENT = COMPARATORS["document"]({})

ZHANG = citizen_id("110105", dt.date(1990, 3, 7), 1)  # 11010519900307001?
TWIN = citizen_id("110105", dt.date(1990, 3, 7), 3)  # the twin: sequence 003
LEGACY_15 = "110105490307002"  # GB 11643-1989 form, born 1949-03-07
LEGACY_18 = id_number_15_to_18(LEGACY_15)
LEGACY_TWIN = citizen_id("110105", dt.date(1949, 3, 7), 4)  # valid, sequence 004


def substitute(number: str, position: int, digit: str) -> str:
    assert number[position] != digit
    return number[:position] + digit + number[position + 1 :]


def transpose(number: str, position: int) -> str:
    assert number[position] != number[position + 1]
    return number[:position] + number[position + 1] + number[position] + number[position + 2 :]


TYPO = substitute(ZHANG, 10, "5" if ZHANG[10] != "5" else "6")  # month digit, check kept
SWAPPED = transpose(ZHANG, 3)


def docs(*documents: tuple[str, str] | MatchDocument) -> MatchRecord:
    built = tuple(d if isinstance(d, MatchDocument) else MatchDocument(*d) for d in documents)
    return MatchRecord(key="r", documents=built)


def level(a: MatchRecord, b: MatchRecord) -> str | int:
    fa, fb = DOCUMENT.features(a), DOCUMENT.features(b)
    assert fa is not None and fb is not None
    found = DOCUMENT.compare(fa, fb)
    assert found == DOCUMENT.compare(fb, fa), "comparison must be symmetric"
    return DOCUMENT.levels[found] if found >= 0 else found


def test_the_fixtures_are_what_they_claim() -> None:
    assert check_document("01", ZHANG).valid and check_document("01", TWIN).valid
    assert sum(x != y for x, y in zip(ZHANG[:17], TWIN[:17], strict=True)) == 1
    assert not check_document("01", TYPO).valid
    assert not check_document("01", SWAPPED).valid
    assert len(LEGACY_15) == 15 and len(LEGACY_18) == 18
    assert check_document("01", LEGACY_18).valid and check_document("01", LEGACY_TWIN).valid


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # exact: same normalised number, same length form
        (docs(("01", ZHANG)), docs(("01", ZHANG)), "exact"),
        (docs(("01", "11010519491231002X")), docs(("01", "11010519491231002x")), "exact"),
        (docs(("01", ZHANG)), docs(("01", f" {ZHANG[:6]} {ZHANG[6:]} ")), "exact"),
        (docs(("01", LEGACY_15)), docs(("01", LEGACY_15)), "exact"),
        (docs(("03", "E12345678")), docs(("03", "e12345678")), "exact"),
        # legacy: 15 digits equal to 18 digits once upgraded
        (docs(("01", LEGACY_15)), docs(("01", LEGACY_18)), "legacy"),
        (docs(("02", LEGACY_15)), docs(("02", LEGACY_18)), "legacy"),
        # typo: one digit or one transposition, and one number fails its check
        (docs(("01", ZHANG)), docs(("01", TYPO)), "typo"),
        (docs(("01", ZHANG)), docs(("01", SWAPPED)), "typo"),
        (
            docs(("01", ZHANG)),
            docs(("01", ZHANG[:17] + ("0" if ZHANG[17] != "0" else "1"))),
            "typo",
        ),
        (docs(("01", LEGACY_15)), docs(("01", substitute(LEGACY_18, 16, "4"))), "typo"),
        (docs(("01", LEGACY_15)), docs(("01", LEGACY_18[:17] + "0")), "typo"),
        # a good 18-digit number and an old 15-digit one apart only in the 顺序码: twins
        (docs(("01", LEGACY_15)), docs(("01", LEGACY_TWIN)), "different"),
        # two old 15-digit numbers apart in the 顺序码: neither vouched for, maybe a slip
        (docs(("01", LEGACY_15)), docs(("01", LEGACY_TWIN[:6] + LEGACY_TWIN[8:17])), "typo"),
        # no check character (passport): one typo cannot be told from another person
        (docs(("03", "E12345678")), docs(("03", "E12345679")), "typo"),
        (docs(("03", "E12345678")), docs(("03", "E12345687")), "typo"),
        # different: twins (both valid, one digit of the body apart), or just another number
        (docs(("01", ZHANG)), docs(("01", TWIN)), "different"),
        (docs(("01", ZHANG)), docs(MatchDocument("01", TWIN, valid=False)), "different"),
        (docs(("01", ZHANG)), docs(("01", "11010519491231002X")), "different"),
        (docs(("01", LEGACY_15)), docs(("01", ZHANG)), "different"),
        (docs(("03", "E12345678")), docs(("03", "G87654321")), "different"),
        (docs(("03", "E12345678")), docs(("03", "E123456789")), "different"),
    ],
)
def test_document_levels(a: MatchRecord, b: MatchRecord, expected: str) -> None:
    assert level(a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (docs(("SSN", "123-45-6789")), docs(("SSN", "123-45-6789")), "exact"),
        (docs(("SSN", "1234567")), docs(("SSN", "1234576")), "typo"),
        (docs(("SSN", "1234567")), docs(("SSN", "1234568")), "typo"),
        (docs(("SSN", "1234567")), docs(("SSN", "7654321")), "different"),
    ],
)
def test_other_schemes_compare_as_plain_strings(
    a: MatchRecord, b: MatchRecord, expected: str
) -> None:
    assert level(a, b) == expected


def test_the_best_level_over_same_type_pairs_wins() -> None:
    a = docs(("01", ZHANG), ("03", "E12345678"))
    b = docs(("01", TWIN), ("03", "E12345678"))
    assert level(a, b) == "exact"
    assert level(docs(("01", ZHANG), ("01", LEGACY_15)), docs(("01", LEGACY_18))) == "legacy"
    assert level(docs(("01", TWIN), ("01", TYPO)), docs(("01", ZHANG))) == "typo"


def test_no_document_type_in_common_cannot_be_compared() -> None:
    assert level(docs(("01", ZHANG)), docs(("03", "E12345678"))) == -1
    assert level(docs(("01", ZHANG)), docs(("02", ZHANG))) == -1


@pytest.mark.parametrize(
    "record", [docs(), docs(("01", "")), docs(("01", "  ")), docs(("03", "\u200b"))]
)
def test_no_document_number_is_missing(record: MatchRecord) -> None:
    assert DOCUMENT.features(record) is None


def test_features_are_hashable_and_tf_is_not_used() -> None:
    features = DOCUMENT.features(docs(("01", ZHANG), ("01", ZHANG)))
    assert features is not None and len(features) == 1  # duplicates folded
    assert hash(features) == hash(DOCUMENT.features(docs(("01", ZHANG))))
    assert DOCUMENT.tf_value(features) is None


def test_document_takes_no_params() -> None:
    with pytest.raises(ValueError, match="unknown param 'strict'"):
        COMPARATORS["document"]({"strict": True})
