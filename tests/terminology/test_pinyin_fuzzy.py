"""Pinyin syllables and near-homophone folding (ehcmpi.terminology.pinyin additions)."""

from __future__ import annotations

import pytest
from pypinyin import Style, lazy_pinyin

from ehcmpi.terminology.pinyin import (
    PINYIN_SYLLABLES,
    fold_syllable,
    fold_syllables,
    name_pinyin,
    name_readings,
    name_syllables,
    pinyin_key,
    pinyin_words,
    segment_pinyin,
)


@pytest.mark.parametrize(
    ("text", "syllables"),
    [
        ("zhangwei", ("zhang", "wei")),
        ("Zhang Wei", ("zhang", "wei")),
        ("ZHANG Weiming", ("zhang", "wei", "ming")),
        ("shantianfang", ("shan", "tian", "fang")),
        ("ouyangnana", ("ou", "yang", "na", "na")),
        ("yuchigong", ("yu", "chi", "gong")),
        ("xian", ("xian",)),  # one syllable, not xi'an
        ("xi'an", ("xi", "an")),  # the apostrophe splits
        ("mingan", ("min", "gan")),  # no syllable starts with a vowel inside a word
        ("changan", ("chan", "gan")),
        ("Lü Bu", ("lv", "bu")),
        ("LYU Bu", ("lv", "bu")),
        ("nüe", ("nve",)),
        ("smith", ("smith",)),  # not pinyin: kept whole
        ("zhangwie", ("zhang", "wie")),  # a typo: the recognisable syllables come off
        ("José", ("jose",)),
        ("", ()),
    ],
)
def test_segment_pinyin(text: str, syllables: tuple[str, ...]) -> None:
    assert segment_pinyin(text) == syllables


def test_pinyin_words_drop_case_accents_and_punctuation() -> None:
    assert pinyin_words("ZHANG-Wei, Lü") == ("zhang", "wei", "lv")
    assert pinyin_words("José García") == ("jose", "garcia")


@pytest.mark.parametrize(
    ("name", "readings"),
    [
        ("张伟", (("zhang", "wei"),)),
        ("張偉", (("zhang", "wei"),)),
        ("单田芳", (("shan", "tian", "fang"), ("dan", "tian", "fang"))),
        ("曾国藩", (("zeng", "guo", "fan"), ("ceng", "guo", "fan"))),
        ("解缙", (("xie", "jin"), ("jie", "jin"))),
        ("仇英", (("qiu", "ying"), ("chou", "ying"))),
        ("区志强", (("ou", "zhi", "qiang"), ("qu", "zhi", "qiang"))),
        ("查良镛", (("zha", "liang", "yong"), ("cha", "liang", "yong"))),
        ("朴槿惠", (("piao", "jin", "hui"), ("pu", "jin", "hui"))),
        ("尉迟恭", (("yu", "chi", "gong"),)),
        ("欧阳娜娜", (("ou", "yang", "na", "na"),)),
        ("Weiming Zhang", (("wei", "ming", "zhang"), ("zhang", "wei", "ming"))),
        ("zhangwei", (("zhang", "wei"), ("wei", "zhang"))),
        (
            "jialanhuang",
            (("jia", "lan", "huang"), ("huang", "jia", "lan"), ("lan", "huang", "jia")),
        ),
        ("", ()),
    ],
)
def test_name_readings(name: str, readings: tuple[tuple[str, ...], ...]) -> None:
    assert name_readings(name) == readings


def test_the_surname_table_is_needed() -> None:
    # pypinyin alone reads these surnames with their everyday reading.
    assert lazy_pinyin("单", style=Style.NORMAL) == ["dan"]
    assert name_syllables("单田芳") == ("shan", "tian", "fang")
    assert name_syllables("Shan Tianfang") == ("shan", "tian", "fang")
    assert name_syllables("") == ()


def test_existing_behaviour_is_unchanged() -> None:
    assert name_pinyin("单田芳") == "shan tian fang"
    assert name_pinyin("Zhang  Wei") == "zhang wei"
    assert pinyin_key("张伟") == "zhangwei"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("zhang", "zang"),
        ("zhang", "zhan"),
        ("chen", "cheng"),
        ("chen", "cen"),
        ("shi", "si"),
        ("lin", "ling"),
        ("liu", "niu"),
        ("nan", "lang"),
        ("huang", "fang"),
        ("hui", "fei"),
        ("hu", "fu"),
        ("ying", "yin"),
        ("lv", "lu"),
        ("nv", "lv"),
    ],
)
def test_near_homophones_fold_together(a: str, b: str) -> None:
    assert fold_syllable(a) == fold_syllable(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("wang", "wan"),  # uang / uan
        ("yang", "yan"),  # iang / ian
        ("liang", "lian"),
        ("guang", "guan"),
        ("he", "fe"),
        ("hao", "fao"),
        ("zhang", "jiang"),
        ("long", "lon"),
    ],
)
def test_other_syllables_stay_apart(a: str, b: str) -> None:
    assert fold_syllable(a) != fold_syllable(b)


def test_fold_syllables() -> None:
    assert fold_syllables(("zhang", "chen")) == fold_syllables(("zhan", "cheng")) == ("zan", "cen")


def test_the_syllable_table_covers_pypinyin_readings_of_common_name_characters() -> None:
    common = (
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
        "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
        "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
        "刚桂英华玉兰萍红"
    )
    for syllable in lazy_pinyin(common, style=Style.NORMAL):
        assert syllable in PINYIN_SYLLABLES, syllable
