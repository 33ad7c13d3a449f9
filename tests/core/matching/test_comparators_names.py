"""chinese_name and latin_name comparators (guideline §4.1.1 索引合并, §4.1.2 模糊查询)."""

from __future__ import annotations

from typing import Any

import pytest

from ehcmpi.core.matching.comparator import Comparator
from ehcmpi.core.matching.comparators import COMPARATORS
from ehcmpi.core.matching.record import MatchRecord

CHINESE = COMPARATORS["chinese_name"]({})
LATIN = COMPARATORS["latin_name"]({})


def level(comparator: Comparator, a: MatchRecord, b: MatchRecord) -> str:
    fa, fb = comparator.features(a), comparator.features(b)
    assert fa is not None and fb is not None
    found = comparator.compare(fa, fb)
    assert found == comparator.compare(fb, fa), "comparison must be symmetric"
    return comparator.levels[found]


def named(name: str | None = None, **fields: Any) -> MatchRecord:
    return MatchRecord(key="r", name=name, **fields)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # exact: NFKC, spaces and "·" dropped, traditional folded to simplified
        ("张伟", "张伟", "exact"),
        ("张伟", "張偉", "exact"),
        ("单田芳", "單田芳", "exact"),
        ("欧阳娜娜", "歐陽娜娜", "exact"),
        ("张 伟", "张伟", "exact"),
        ("阿卜杜·热合曼", "阿卜杜热合曼", "exact"),
        ("ZHANG Wei", "zhangwei", "exact"),
        ("Zhang Wei", "ZHANG WEI", "exact"),
        # pinyin: homophones, typed pinyin, given name first, missing spaces
        ("张伟", "章伟", "pinyin"),
        ("张伟", "张玮", "pinyin"),
        ("张伟", "Zhang Wei", "pinyin"),
        ("张伟", "zhangwei", "pinyin"),
        ("张伟", "ZHANG WEI", "pinyin"),
        ("张伟", "Wei Zhang", "pinyin"),
        ("张伟明", "Weiming Zhang", "pinyin"),
        ("张伟明", "Zhang Weiming", "pinyin"),
        ("Wei Zhang", "zhangwei", "pinyin"),
        ("張偉", "Zhang Wei", "pinyin"),
        # surname readings from the surname table
        ("单田芳", "Shan Tianfang", "pinyin"),
        ("曾国藩", "Zeng Guofan", "pinyin"),
        ("解缙", "Xie Jin", "pinyin"),
        ("仇英", "Qiu Ying", "pinyin"),
        ("区志强", "Ou Zhiqiang", "pinyin"),
        ("查良镛", "Zha Liangyong", "pinyin"),
        ("朴槿惠", "Piao Jinhui", "pinyin"),
        ("尉迟恭", "Yuchi Gong", "pinyin"),
        ("尉迟恭", "Gong Yuchi", "pinyin"),
        # ... and the everyday reading a clerk may type
        ("单田芳", "Dan Tianfang", "pinyin"),
        # compound surnames
        ("欧阳娜娜", "Ouyang Nana", "pinyin"),
        ("欧阳娜娜", "Nana Ouyang", "pinyin"),
        ("欧阳娜娜", "ouyangnana", "pinyin"),
        ("司马光", "Sima Guang", "pinyin"),
        ("司马光", "Guang Sima", "pinyin"),
        # ü typed as v or yu (passports)
        ("吕布", "Lv Bu", "pinyin"),
        ("吕布", "LYU Bu", "pinyin"),
        # near_pinyin: z/zh, c/ch, s/sh, l/n, hu/f, an/ang, en/eng, in/ing
        ("陈明", "程明", "near_pinyin"),
        ("林峰", "凌峰", "near_pinyin"),
        ("刘洋", "牛洋", "near_pinyin"),
        ("张伟", "詹伟", "near_pinyin"),
        ("张伟", "臧伟", "near_pinyin"),
        ("陈伟", "岑伟", "near_pinyin"),
        ("苏伟", "舒伟", "near_pinyin"),
        ("黄伟", "方伟", "near_pinyin"),
        ("胡伟", "符伟", "near_pinyin"),
        ("张晨", "詹程", "near_pinyin"),
        ("陈明", "Cheng Ming", "near_pinyin"),
        ("吕布", "Lu Bu", "near_pinyin"),
        # one_char: same length, one position different
        ("张伟", "张华", "one_char"),
        ("张伟明", "张伟强", "one_char"),
        ("张伟明", "张伟民", "near_pinyin"),  # ming / min
        ("王伟", "万伟", "one_char"),  # uang / uan are not folded
        ("杨伟", "严伟", "one_char"),  # iang / ian are not folded
        ("张伟", "Zhang Hua", "one_char"),
        ("Zhang Wei", "Zhang Hua", "one_char"),
        # different
        ("张伟", "李娜", "different"),
        ("张伟", "张伟明", "different"),
        ("张", "李", "different"),  # one character: no one_char level
        ("张伟", "Li Na", "different"),
        ("欧阳娜娜", "Ouyang Lili", "different"),
    ],
)
def test_chinese_name_levels(a: str, b: str, expected: str) -> None:
    assert level(CHINESE, named(a), named(b)) == expected


def test_chinese_name_joins_family_and_given_names_when_the_name_is_missing() -> None:
    split = named(family_name="张", given_name="伟明")
    split_latin = named(family_name="Zhang", given_name="Weiming")
    assert level(CHINESE, split, named("张伟明")) == "exact"
    assert level(CHINESE, split_latin, named("张伟明")) == "pinyin"
    assert level(CHINESE, split_latin, named("Zhang Weiming")) == "exact"


@pytest.mark.parametrize(
    "record",
    [
        named(),
        named(""),
        named("   "),
        named("·"),
        named("123"),
        named(None, family_name=" ", given_name=""),
    ],
)
def test_chinese_name_missing(record: MatchRecord) -> None:
    assert CHINESE.features(record) is None


@pytest.mark.parametrize(
    ("name", "tf"),
    [("張偉", "张伟"), ("张 伟", "张伟"), ("ZHANG Wei", "zhangwei"), ("Lü Bu", "lvbu")],
)
def test_chinese_name_tf_value_is_the_folded_name(name: str, tf: str) -> None:
    features = CHINESE.features(named(name))
    assert CHINESE.tf_value(features) == tf


def test_chinese_name_features_are_hashable_and_shared() -> None:
    a, b = CHINESE.features(named("张伟")), CHINESE.features(named("张伟"))
    assert a is b  # cached per name
    assert hash(a) == hash(b)


# --- latin_name -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (named("John Smith"), named("john  smith"), "exact"),
        (named("Mary Ann Smith"), named("MaryAnn Smith"), "exact"),
        (named("Mary-Ann O'Brien"), named("maryann obrien"), "exact"),
        (named("José García"), named("Jose Garcia"), "exact"),
        (named(given_name="John", family_name="Smith"), named("John Smith"), "exact"),
        (named("John Smith"), named("Smith John"), "swapped"),
        (named(given_name="John", family_name="Smith"), named("Smith John"), "swapped"),
        (
            named(given_name="John", family_name="Smith"),
            named(given_name="Smith", family_name="John"),
            "swapped",
        ),
        (named("Mary Ann Smith"), named("Smith Mary Ann"), "swapped"),
        (named("Jonathan Smith"), named("Jonathon Smith"), "close"),
        (named("Katherine Johnson"), named("Kathryn Johnston"), "similar"),
        (named("John Smith"), named("Peter Brown"), "different"),
    ],
)
def test_latin_name_levels(a: MatchRecord, b: MatchRecord, expected: str) -> None:
    assert level(LATIN, a, b) == expected


def test_latin_name_thresholds_are_params() -> None:
    strict = COMPARATORS["latin_name"]({"close": 0.99, "similar": 0.98})
    assert level(strict, named("Jonathan Smith"), named("Jonathon Smith")) == "different"
    loose = COMPARATORS["latin_name"]({"close": 0.8, "similar": 0.5})
    assert level(loose, named("Katherine Johnson"), named("Kathryn Johnston")) == "close"


@pytest.mark.parametrize("record", [named(), named(" "), named("-"), named(given_name="")])
def test_latin_name_missing(record: MatchRecord) -> None:
    assert LATIN.features(record) is None


def test_latin_name_tf_value_is_the_compact_name() -> None:
    assert LATIN.tf_value(LATIN.features(named("Mary Ann SMITH"))) == "maryannsmith"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"close": "high"}, "'close' must be a number"),
        ({"similar": True}, "'similar' must be a number"),
        ({"close": 1.5}, "'close' must be in (0, 1]"),
        ({"close": 0.8, "similar": 0.9}, "'similar' (0.9) must not exceed"),
        ({"threshold": 0.9}, "unknown param 'threshold'"),
    ],
)
def test_latin_name_rejects_bad_params(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="latin_name") as error:
        COMPARATORS["latin_name"](params)
    assert message in str(error.value)


def test_chinese_name_takes_no_params() -> None:
    with pytest.raises(ValueError, match="unknown param 'fuzzy'"):
        COMPARATORS["chinese_name"]({"fuzzy": True})
