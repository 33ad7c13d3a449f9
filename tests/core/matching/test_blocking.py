"""Blocking keys (guideline §4.1.1 自动合并): which records are compared at all.

A pair is only scored when the two records share a blocking key, so a key function that
misses a spelling of the same value silently loses the duplicate.  Pinned here, on realistic
Chinese records: a 15-digit 居民身份证 blocks with its 18-digit form; a phone blocks with and
without +86; pinyin keys meet characters, pinyin typed either name order, and both readings of
a surname such as 单 (Shàn / Dān); near-pinyin keys meet regional-accent confusions (陈/程);
dates, area codes, generic ``field:`` keys, swapped given/family names and prefixes; and
``record_keys`` yields nothing when any part of a rule is missing, and names the rule in every
key so that two rules never meet by accident.
"""

from __future__ import annotations

from typing import Any

import pytest

from ehcmpi.core.matching.blocking import KEY_FUNCTIONS, record_keys
from ehcmpi.core.matching.comparators import COMPARATORS
from ehcmpi.core.matching.record import MatchDocument, MatchRecord
from ehcmpi.terminology.gb11643 import mod11_2_check_char

#: 北京市西城区, born 1949-12-31, sequence 002 (female): the 1989 form and its 18-digit upgrade.
ID_15 = "110105491231002"
ID_18 = "11010519491231002X"


def rec(**fields: Any) -> MatchRecord:
    return MatchRecord(key="r", **fields)


def keys(function: str, record: MatchRecord) -> list[str]:
    name, _, argument = function.partition(":")
    return KEY_FUNCTIONS[name](record, argument)


def meet(function: str, a: MatchRecord, b: MatchRecord) -> bool:
    """True when the two records share a key of ``function`` (so blocking pairs them)."""
    return not set(keys(function, a)).isdisjoint(keys(function, b))


def test_every_key_function_is_registered() -> None:
    assert set(KEY_FUNCTIONS) == {
        "document",
        "phone",
        "pinyin",
        "near_pinyin",
        "birth_date",
        "birth_year",
        "area_code",
        "gender",
        "field",
        "name_set",
        "prefix",
    }


# --- document ---------------------------------------------------------------------------------


def test_document_keys_upgrade_a_15_digit_resident_id_to_18_digits() -> None:
    legacy = rec(documents=(MatchDocument("01", ID_15),))
    current = rec(documents=(MatchDocument("01", ID_18),))
    assert mod11_2_check_char(ID_18[:17]) == "X"  # the fixture is a real, valid number
    assert keys("document", legacy) == keys("document", current) == [f"01:{ID_18}"]


def test_document_keys_normalise_the_number_as_typed() -> None:
    typed = rec(documents=(MatchDocument("01", " １１０１０５ １９４９１２３１ ００２x "),))
    assert keys("document", typed) == [f"01:{ID_18}"]


def test_document_keys_keep_the_type_apart() -> None:
    # The same characters as a passport number and as an ID number are two documents.
    passport = rec(documents=(MatchDocument("03", ID_18),))
    card = rec(documents=(MatchDocument("01", ID_18),))
    assert not meet("document", passport, card)


def test_document_keys_cover_every_document_of_a_record() -> None:
    both = rec(documents=(MatchDocument("01", ID_18), MatchDocument("03", "E12345678")))
    assert sorted(keys("document", both)) == [f"01:{ID_18}", "03:E12345678"]
    assert keys("document", rec()) == []
    assert keys("document", rec(documents=(MatchDocument("01", "  "),))) == []


@pytest.mark.parametrize("doc_type", ["01", "02"], ids=["resident-id", "household-register"])
def test_documents_the_comparator_calls_legacy_block_together(doc_type: str) -> None:
    # The document comparator treats a 15-digit number of type 01 and 02 (居民户口簿 carries
    # the same 公民身份号码) as the legacy form of the 18-digit one; blocking must pair them.
    legacy = rec(documents=(MatchDocument(doc_type, ID_15),))
    current = rec(documents=(MatchDocument(doc_type, ID_18),))
    comparator = COMPARATORS["document"]({})
    level = comparator.compare(comparator.features(legacy), comparator.features(current))
    assert comparator.levels[level] == "legacy"
    assert meet("document", legacy, current)


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written", ["13800138000", "+86 138-0013-8000", "+8613800138000", "138 0013 8000"]
)
def test_phone_keys_strip_the_country_code_and_punctuation(written: str) -> None:
    assert keys("phone", rec(phones=(written,))) == ["13800138000"]


def test_phone_keys_cover_every_number_and_skip_short_ones() -> None:
    record = rec(phones=("13800138000", "010-6512 3456", "120"))
    assert keys("phone", record) == ["13800138000", "01065123456"]


@pytest.mark.parametrize(
    ("a", "b"),
    [("0086 138 0013 8000", "13800138000"), ("+86 10 6512 3456", "010-6512-3456")],
    ids=["0086-mobile", "plus86-landline"],
)
def test_numbers_the_phone_comparator_calls_equal_block_together(a: str, b: str) -> None:
    # The phone comparator removes +86 and 0086 (and restores a landline's trunk 0); the
    # phone key only drops "86" from 13-digit numbers, so these pairs are never proposed.
    comparator = COMPARATORS["phone"]({})
    ra, rb = rec(phones=(a,)), rec(phones=(b,))
    assert comparator.compare(comparator.features(ra), comparator.features(rb)) == 0
    assert meet("phone", ra, rb)


# --- pinyin and near_pinyin -------------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        rec(name="Wei Zhang"),
        rec(name="Zhang Wei"),
        rec(name="ZHANGWEI"),
        rec(name="張偉"),  # traditional characters
        rec(name="章伟"),  # a homophone picked from the input method
        rec(family_name="张", given_name="伟"),
        rec(family_name="Zhang", given_name="Wei"),
    ],
    ids=["given-first", "family-first", "compact", "traditional", "homophone", "split", "latin"],
)
def test_pinyin_keys_are_order_and_script_insensitive(other: MatchRecord) -> None:
    assert meet("pinyin", rec(name="张伟"), other)


def test_a_surname_with_two_readings_meets_both_spellings() -> None:
    # 单 is Shàn as a surname, Dān in everyday reading; clerks type either.
    shan_tianfang = rec(name="单田芳")
    assert meet("pinyin", shan_tianfang, rec(name="Shan Tianfang"))
    assert meet("pinyin", shan_tianfang, rec(name="Dan Tianfang"))
    assert not meet("pinyin", rec(name="Shan Tianfang"), rec(name="Dan Tianfang"))


def test_pinyin_keys_keep_different_names_apart() -> None:
    assert not meet("pinyin", rec(name="张伟"), rec(name="王伟"))
    assert not meet("pinyin", rec(name="陈明"), rec(name="程明"))
    assert keys("pinyin", rec()) == []
    assert keys("pinyin", rec(name="  ")) == []


@pytest.mark.parametrize(
    ("a", "b"),
    [("陈明", "程明"), ("张晨", "詹程"), ("林娜", "凌娜"), ("陈明", "Cheng Ming")],
    ids=["c-ch-en-eng", "zh-z-an-ang", "in-ing", "characters-and-pinyin"],
)
def test_near_pinyin_keys_meet_accent_confusions(a: str, b: str) -> None:
    assert not meet("pinyin", rec(name=a), rec(name=b))
    assert meet("near_pinyin", rec(name=a), rec(name=b))


def test_near_pinyin_keys_keep_wang_and_wan_apart() -> None:
    # uan/uang are not folded: 王 and 万 are different surnames, not an accent.
    assert not meet("near_pinyin", rec(name="王明"), rec(name="万明"))


# --- dates, area, gender ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "date", "year"),
    [
        ("1990-03-07", ["19900307"], ["1990"]),
        ("19900307", ["19900307"], ["1990"]),
        ("1990-03", [], ["1990"]),
        ("1990", [], ["1990"]),
        (None, [], []),
    ],
)
def test_birth_date_needs_a_full_date_birth_year_only_the_year(
    written: str | None, date: list[str], year: list[str]
) -> None:
    record = rec(birth_date=written)
    assert keys("birth_date", record) == date
    assert keys("birth_year", record) == year


def test_area_code_comes_from_the_record_or_else_from_the_id_number() -> None:
    assert keys("area_code", rec(area_code="310115")) == ["310115"]
    from_id = rec(documents=(MatchDocument("01", ID_18),))
    from_legacy_id = rec(documents=(MatchDocument("01", ID_15),))
    assert keys("area_code", from_id) == keys("area_code", from_legacy_id) == ["110105"]
    # The address's own area wins over the ID's (people move; the ID keeps the birth county).
    moved = rec(area_code="310115", documents=(MatchDocument("01", ID_18),))
    assert keys("area_code", moved) == ["310115"]
    assert keys("area_code", rec(documents=(MatchDocument("03", "E12345678"),))) == []


@pytest.mark.parametrize(("code", "expected"), [("1", ["1"]), ("2", ["2"]), ("9", []), ("0", [])])
def test_gender_keys_only_for_male_and_female(code: str, expected: list[str]) -> None:
    assert keys("gender", rec(gender=code)) == expected


# --- field, name_set, prefix ------------------------------------------------------------------


def test_field_keys_read_extra_fields_and_normalise_case_and_space() -> None:
    a = rec(extra=(("street_number", "12"), ("suburb", "  North   SYDNEY ")))
    b = rec(extra=(("suburb", "north sydney"),))
    assert keys("field:extra.suburb", a) == keys("field:extra.suburb", b) == ["north sydney"]
    assert keys("field:extra.suburb", rec()) == []
    assert keys("field:extra.suburb", rec(extra=(("suburb", "   "),))) == []


def test_field_keys_read_record_attributes_with_nfkc() -> None:
    assert keys("field:given_name", rec(given_name=" ＷＥＩ ")) == ["wei"]
    assert keys("field:postcode", rec(postcode="100022")) == ["100022"]
    assert keys("field:given_name", rec()) == []


def test_name_set_meets_swapped_given_and_family_names() -> None:
    original = rec(given_name="Wei", family_name="Zhang")
    swapped = rec(given_name="zhang", family_name="WEI")
    assert meet("name_set", original, swapped)
    assert not meet("name_set", original, rec(given_name="Wei", family_name="Wang"))
    assert keys("name_set", rec(given_name="Wei")) == []
    assert keys("name_set", rec(family_name="Zhang")) == []


def test_prefix_keys_cut_another_key() -> None:
    beijing_a, beijing_b = rec(postcode="100022"), rec(postcode="100085")
    shanghai = rec(postcode="200120")
    assert keys("prefix:3:field:postcode", beijing_a) == ["100"]
    assert meet("prefix:3:field:postcode", beijing_a, beijing_b)
    assert not meet("prefix:3:field:postcode", beijing_a, shanghai)
    assert keys("prefix:3:field:postcode", rec()) == []
    # several values of the inner key: one prefix each, deduplicated
    phones = rec(phones=("13800138000", "13812345678", "13912345678"))
    assert keys("prefix:3:phone", phones) == ["138", "139"]


# --- record_keys ------------------------------------------------------------------------------


def test_record_keys_combine_the_parts_and_name_the_rule() -> None:
    record = rec(name="张伟", birth_date="1985-06-12")
    assert record_keys(record, "pinyin_year", ["pinyin", "birth_year"]) == [
        "pinyin_year=weizhang|1985"
    ]


def test_record_keys_are_the_product_of_every_part() -> None:
    record = rec(name="单田芳", birth_date="1935-01-01", phones=("13800138000", "13912345678"))
    got = record_keys(record, "r", ["pinyin", "phone"])
    assert len(got) == 4  # two readings x two phones
    assert {k.split("=", 1)[0] for k in got} == {"r"}


@pytest.mark.parametrize(
    "record",
    [rec(name="张伟"), rec(birth_date="1985-06-12"), rec(name="张伟", birth_date="1985")],
    ids=["no-date", "no-name", "partial-date"],
)
def test_record_keys_are_empty_when_any_part_is_missing(record: MatchRecord) -> None:
    assert record_keys(record, "near_pinyin_date", ["near_pinyin", "birth_date"]) == []


def test_two_rules_with_equal_values_do_not_meet() -> None:
    # A phone number and a postcode could be the same digits; the rule name keeps them apart.
    a = rec(phones=("1008611",))
    b = rec(postcode="1008611")
    assert keys("phone", a) == keys("field:postcode", b)
    assert record_keys(a, "phone", ["phone"]) != record_keys(b, "postcode", ["field:postcode"])
