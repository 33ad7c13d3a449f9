"""gender (GB/T 2261.1), phone and address comparators (guideline §4.1.1 索引合并)."""

from __future__ import annotations

from typing import Any

import pytest

from ehcmpi.core.matching.comparator import Comparator
from ehcmpi.core.matching.comparators import COMPARATORS
from ehcmpi.core.matching.comparators.contact import normalize_phone
from ehcmpi.core.matching.record import MatchRecord

GENDER = COMPARATORS["gender"]({})
PHONE = COMPARATORS["phone"]({})
ADDRESS = COMPARATORS["address"]({})


def record(**fields: Any) -> MatchRecord:
    return MatchRecord(key="r", **fields)


def level(comparator: Comparator, a: MatchRecord, b: MatchRecord) -> str | int:
    fa, fb = comparator.features(a), comparator.features(b)
    assert fa is not None and fb is not None
    found = comparator.compare(fa, fb)
    assert found == comparator.compare(fb, fa), "comparison must be symmetric"
    return comparator.levels[found] if found >= 0 else found


# --- gender -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1", "1", "exact"),
        ("2", "2", "exact"),
        ("1", "5", "exact"),  # 5 女性改(变)为男性: male now
        ("2", "6", "exact"),  # 6 男性改(变)为女性: female now
        ("1", "M", "exact"),
        ("2", "female", "exact"),
        ("1", "男", "exact"),
        (" 2 ", "女", "exact"),
        ("1", "2", "different"),
        ("5", "6", "different"),
        ("m", "f", "different"),
    ],
)
def test_gender_levels(a: str, b: str, expected: str) -> None:
    assert level(GENDER, record(gender=a), record(gender=b)) == expected


@pytest.mark.parametrize("value", [None, "", "0", "9", "unknown", "other", "x"])
def test_unknown_or_unspecified_gender_is_missing(value: str | None) -> None:
    assert GENDER.features(record(gender=value)) is None


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("13800138000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("（010）6552-9988", "01065529988"),
        ("+86 10 6552 9988", "01065529988"),
        ("0086-21-12345678", "02112345678"),
        ("１３８００１３８０００", "13800138000"),
    ],
)
def test_phone_normalisation(raw: str, normalised: str) -> None:
    assert normalize_phone(raw) == normalised


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (("13800138000",), ("+86 138-0013-8000",), "exact"),
        (("010-65529988", "13800138000"), ("13912345678", "8613800138000"), "exact"),
        (("+86 10 6552 9988",), ("010 6552 9988",), "exact"),
        (("13800138000",), ("13800138001",), "typo"),
        (("13800138000",), ("13800183000",), "typo"),
        (("13800138000",), ("13912345678",), "different"),
        (("13800138000",), ("1380013800",), "different"),  # a digit missing
        (("13800138000",), ("13800138011",), "different"),
    ],
)
def test_phone_levels(a: tuple[str, ...], b: tuple[str, ...], expected: str) -> None:
    assert level(PHONE, record(phones=a), record(phones=b)) == expected


@pytest.mark.parametrize("phones", [(), ("",), ("--", "  ")])
def test_no_phone_number_is_missing(phones: tuple[str, ...]) -> None:
    assert PHONE.features(record(phones=phones)) is None


# --- address ----------------------------------------------------------------------------------

JIANGUO = "北京市朝阳区建国路88号"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (record(address=JIANGUO), record(address="北京市 朝阳区 建国路 88 号"), "exact"),
        (record(address=JIANGUO), record(address="北京市朝陽區建國路８８號"), "exact"),
        (record(address=JIANGUO), record(address="北京市，朝阳区、建国路88号。"), "exact"),
        (record(address=JIANGUO), record(address="北京市朝阳区建国路88号院"), "similar"),
        (record(address=JIANGUO), record(address="朝阳区建国路88号"), "similar"),
        (
            record(address="12 Smith Street, Sydney"),
            record(address="12 smith st sydney"),
            "similar",
        ),
        (
            record(address=JIANGUO, area_code="110105"),
            record(address="北京市朝阳区望京街道10号", area_code="110105"),
            "area",
        ),
        (record(area_code="110105"), record(area_code="110105"), "area"),
        (record(area_code="110105000000"), record(area_code="110105"), "area"),
        (
            record(address=JIANGUO, area_code="110105"),
            record(address="上海市浦东新区世纪大道100号", area_code="310115"),
            "different",
        ),
        (record(address=JIANGUO), record(address="上海市浦东新区世纪大道100号"), "different"),
        (record(area_code="110105"), record(area_code="310115"), "different"),
        (record(address=JIANGUO), record(area_code="110105"), -1),
    ],
)
def test_address_levels(a: MatchRecord, b: MatchRecord, expected: str | int) -> None:
    assert level(ADDRESS, a, b) == expected


def test_address_similar_threshold_is_a_param() -> None:
    strict = COMPARATORS["address"]({"similar": 0.95})
    a, b = record(address=JIANGUO), record(address="北京市朝阳区建国路88号院")
    assert level(strict, a, b) == "different"


@pytest.mark.parametrize(
    "fields", [{}, {"address": ""}, {"address": " ，"}, {"area_code": "11"}, {"area_code": ""}]
)
def test_no_address_and_no_area_code_is_missing(fields: dict[str, str]) -> None:
    assert ADDRESS.features(record(**fields)) is None


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("gender", {"codes": ["1"]}, "unknown param 'codes'"),
        ("phone", {"country": "86"}, "unknown param 'country'"),
        ("address", {"similar": "0.6"}, "'similar' must be a number"),
        ("address", {"similar": 0}, "'similar' must be in (0, 1]"),
        ("address", {"jaccard": 0.5}, "unknown param 'jaccard'"),
    ],
)
def test_bad_params_are_rejected(name: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=name) as error:
        COMPARATORS[name](params)
    assert message in str(error.value)


def test_no_tf_values() -> None:
    assert GENDER.tf_value("1") is None
    assert PHONE.tf_value(frozenset({"13800138000"})) is None
    assert ADDRESS.tf_value(ADDRESS.features(record(address=JIANGUO))) is None


# --- household: phone and address as one comparison ------------------------------------------

HOUSEHOLD = COMPARATORS["household"]({})
MOBILE = "13800138000"
NEAR_JIANGUO = "北京朝阳区建国路88号"  # the same place, written shorter


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (record(phones=(MOBILE,), address=JIANGUO), record(phones=(MOBILE,), address=JIANGUO),
         "both"),
        (record(phones=(MOBILE,), address=JIANGUO),
         record(phones=("+86 138 0013 8000",), address=NEAR_JIANGUO), "both"),
        (record(phones=(MOBILE,), address=JIANGUO), record(phones=(MOBILE,)), "phone"),
        (record(phones=(MOBILE,), address=JIANGUO),
         record(phones=(MOBILE,), address="上海市浦东新区世纪大道100号"), "phone"),
        (record(phones=(MOBILE,), address=JIANGUO),
         record(phones=("13900139000",), address=JIANGUO), "address"),
        (record(address=JIANGUO), record(phones=(MOBILE,), address=NEAR_JIANGUO), "address"),
        (record(phones=(MOBILE,), area_code="110105"),
         record(phones=("13900139000",), area_code="110105"), "area"),
        # a mistyped phone is not a shared phone
        (record(phones=(MOBILE,)), record(phones=("13800138006",)), "different"),
        (record(phones=(MOBILE,), address=JIANGUO),
         record(phones=("13900139000",), address="上海市浦东新区世纪大道100号"), "different"),
        # a phone on one side, only an address on the other: nothing to compare
        (record(phones=(MOBILE,)), record(address=JIANGUO), -1),
    ],
)  # fmt: skip
def test_household_levels(a: MatchRecord, b: MatchRecord, expected: str | int) -> None:
    assert level(HOUSEHOLD, a, b) == expected
    assert level(HOUSEHOLD, b, a) == expected


def test_no_phone_and_no_address_is_a_missing_household() -> None:
    assert HOUSEHOLD.features(record()) is None
    assert HOUSEHOLD.features(record(phones=(MOBILE,))) is not None


def test_household_takes_the_address_threshold() -> None:
    strict = COMPARATORS["household"]({"similar": 1.0})
    a = record(phones=("13900139000",), address=JIANGUO)
    b = record(phones=(MOBILE,), address=NEAR_JIANGUO)
    assert level(HOUSEHOLD, a, b) == "address"
    assert level(strict, a, b) == "different"
    with pytest.raises(ValueError, match="household"):
        COMPARATORS["household"]({"phone": True})
