"""Name comparators (guideline §4.1.1 索引合并 on 姓名, §4.1.2 模糊查询: 拼音, 同音字).

``chinese_name`` compares a name written in characters or typed in pinyin; its levels follow
the ways one person's name comes to be written differently:

* ``exact`` — the same characters after NFKC, without spaces and "·", traditional folded to
  simplified (張偉 = 张伟); for Latin script the same letters, ignoring case and spaces.
* ``pinyin`` — the same tone-less syllables: homophones from a pinyin input method (张伟 /
  章伟), a name typed in pinyin ("Zhang Wei", "zhangwei", "Wei Zhang" given name first),
  surnames read by the surname table (单田芳 = "Shan Tianfang", and the everyday reading
  "Dan Tianfang" too, since clerks type what they hear).  Equality is tested on the compact
  string of each reading, so the split of compact pinyin into syllables does not matter here.
* ``near_pinyin`` — the same after folding the regional-accent confusions (z/zh, c/ch, s/sh,
  l/n, hu-/f-, an/ang, en/eng, in/ing; see ``ehcmpi.terminology.pinyin.fold_syllable``):
  陈 chen / 程 cheng, 林 lin / 凌 ling, 刘 liu / 牛 niu, 张 zhang / 詹 zhan, 黄 huang / 方
  fang.  Equal folded tuples have the same number of syllables.
* ``one_char`` — the same number (≥ 2) of characters with exactly one position different
  (张伟 / 张华); when either side is in Latin script, one syllable different.
* ``different`` — otherwise.

``latin_name`` compares foreign (Latin-script) names as a whole with Jaro–Winkler (thresholds
``close`` and ``similar``), after testing for given and family names exchanged.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ehcmpi.core.matching.comparators._params import read_params, threshold
from ehcmpi.core.matching.record import MatchRecord
from ehcmpi.terminology.hanzi import to_simplified
from ehcmpi.terminology.pinyin import fold_syllables, has_cjk, name_readings, pinyin_words
from ehcmpi.terminology.similarity import jaro_winkler

_EXACT, _PINYIN, _NEAR, _ONE_CHAR, _DIFFERENT = range(5)


@dataclass(frozen=True, slots=True)
class ChineseNameFeatures:
    """``text`` is the folded name (simplified characters, or compact lower-case letters);
    ``readings`` its syllable sequences in Chinese order (``name_readings``), ``compact``
    and ``near`` the same joined and folded."""

    text: str
    cjk: bool
    readings: tuple[tuple[str, ...], ...]
    compact: frozenset[str]
    near: frozenset[tuple[str, ...]]


@lru_cache(maxsize=131072)
def chinese_name_features(name: str) -> ChineseNameFeatures | None:
    """Features of one name as written; None when it has no letters or characters."""
    value = unicodedata.normalize("NFKC", name)
    cjk = has_cjk(value)
    if cjk:
        # isalpha() keeps every CJK character (extension B included) and drops "·" and spaces.
        text = "".join(ch for ch in to_simplified(value).lower() if ch.isalpha())
    else:
        text = "".join(pinyin_words(value))
    readings = name_readings(value)
    if not text or not readings:
        return None
    return ChineseNameFeatures(
        text=text,
        cjk=cjk,
        readings=readings,
        compact=frozenset("".join(r) for r in readings),
        near=frozenset(fold_syllables(r) for r in readings),
    )


def record_name(record: MatchRecord) -> str | None:
    """``name``, or family and given names joined (family first) when only they are given."""
    if record.name and record.name.strip():
        return record.name
    parts = [p.strip() for p in (record.family_name, record.given_name) if p and p.strip()]
    if not parts:
        return None
    return "".join(parts) if has_cjk("".join(parts)) else " ".join(parts)


def _one_differs(a: tuple[str, ...] | str, b: tuple[str, ...] | str) -> bool:
    if len(a) != len(b) or len(a) < 2:
        return False
    return sum(x != y for x, y in zip(a, b, strict=True)) == 1


class ChineseNameComparator:
    """``chinese_name``: characters, homophones, pinyin, accent confusions, one character."""

    __slots__ = ()
    levels: tuple[str, ...] = ("exact", "pinyin", "near_pinyin", "one_char", "different")

    def features(self, record: MatchRecord) -> ChineseNameFeatures | None:
        name = record_name(record)
        return chinese_name_features(name) if name is not None else None

    def compare(self, a: ChineseNameFeatures, b: ChineseNameFeatures) -> int:
        if a.text == b.text:
            return _EXACT
        if not a.compact.isdisjoint(b.compact):
            return _PINYIN
        if not a.near.isdisjoint(b.near):
            return _NEAR
        if a.cjk and b.cjk:
            return _ONE_CHAR if _one_differs(a.text, b.text) else _DIFFERENT
        for x in a.readings:
            for y in b.readings:
                if _one_differs(x, y):
                    return _ONE_CHAR
        return _DIFFERENT

    def tf_value(self, features: ChineseNameFeatures) -> str | None:
        return features.text


def chinese_name(params: Mapping[str, Any]) -> ChineseNameComparator:
    """Factory for ``chinese_name``; takes no params."""
    read_params("chinese_name", params, {})
    return ChineseNameComparator()


# --- latin_name -----------------------------------------------------------------------------

_LATIN_WORD = re.compile(r"[^\W_]+")


def _words(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    value = unicodedata.normalize("NFKC", text).lower()
    value = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    return tuple(_LATIN_WORD.findall(value))


@dataclass(frozen=True, slots=True)
class LatinNameFeatures:
    """``compact``: lower-case letters without spaces, accents or punctuation (so "mary ann
    smith" = "maryann smith"); ``swaps``: the compact forms of the name with its parts
    exchanged (given ↔ family, or each rotation of the words of a whole name)."""

    compact: str
    swaps: frozenset[str]


def latin_name_features(record: MatchRecord) -> LatinNameFeatures | None:
    given, family = _words(record.given_name), _words(record.family_name)
    if given or family:
        swaps = {"".join(family + given)} if given and family else set()
        words = given + family
    else:
        words = _words(record.name)
        swaps = {"".join(words[k:] + words[:k]) for k in range(1, len(words))}
    compact = "".join(words)
    if not compact:
        return None
    return LatinNameFeatures(compact, frozenset(swaps - {compact}))


class LatinNameComparator:
    """``latin_name``: exact, swapped, then Jaro–Winkler ≥ ``close`` / ≥ ``similar``."""

    __slots__ = ("close", "similar")
    levels: tuple[str, ...] = ("exact", "swapped", "close", "similar", "different")

    def __init__(self, close: float, similar: float) -> None:
        self.close = close
        self.similar = similar

    def features(self, record: MatchRecord) -> LatinNameFeatures | None:
        return latin_name_features(record)

    def compare(self, a: LatinNameFeatures, b: LatinNameFeatures) -> int:
        if a.compact == b.compact:
            return 0
        if b.compact in a.swaps or a.compact in b.swaps:
            return 1
        score = jaro_winkler(a.compact, b.compact, cutoff=self.similar)
        if score >= self.close:
            return 2
        return 3 if score >= self.similar else 4

    def tf_value(self, features: LatinNameFeatures) -> str | None:
        return features.compact


def latin_name(params: Mapping[str, Any]) -> LatinNameComparator:
    """Factory for ``latin_name``: params ``close`` (0.95) and ``similar`` (0.88)."""
    values = read_params("latin_name", params, {"close": (float, 0.95), "similar": (float, 0.88)})
    close = threshold("latin_name", "close", values["close"])
    similar = threshold("latin_name", "similar", values["similar"])
    if similar > close:
        raise ValueError(
            f"comparator 'latin_name': param 'similar' ({similar}) must not exceed"
            f" param 'close' ({close})"
        )
    return LatinNameComparator(close, similar)
