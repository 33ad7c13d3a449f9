"""Gender, phone and address comparators (guideline §4.1.1 索引合并 on 性别, 联系电话, 地址).

* ``gender`` — GB/T 2261.1-2003 codes: 1 and 5 (女性改(变)为男性) are male, 2 and 6
  (男性改(变)为女性) female, as the gender changed *to* (``terminology.gender``); 0 (未知的性别)
  and 9 (未说明的性别) say nothing and are missing.  "m"/"f"/"male"/"female"/男/女 accepted.
* ``phone`` — numbers reduced to digits, the +86 / 0086 country prefix removed (a mobile keeps
  its 11 digits, a landline gets its trunk "0" back: +86 10 … → 010 …); ``exact`` when any
  number is shared, ``typo`` when two numbers of the same length are one substituted digit or
  one adjacent transposition apart.
* ``address`` — ``exact`` same normalised text; ``similar`` token Jaccard ≥ ``similar``
  (character bigrams for Chinese, which has no spaces between words; words for Latin
  script); ``area`` same 6-digit GB/T 2260 area code; ``different`` otherwise.  A pair where
  one side has only text and the other only an area code cannot be compared (-1).
* ``household`` — phone and address as one comparison, because they are not independent:
  family members share both (a child's record carries a parent's phone), so counting a
  shared phone and a shared address as two pieces of evidence would make twins look like
  one person twice over.  Levels ``both`` (a shared phone and the same or a similar
  address), ``phone``, ``address`` (exact or similar), ``area``, ``different``; missing when
  either side has neither a phone nor an address.
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
from ehcmpi.terminology.pinyin import has_cjk
from ehcmpi.terminology.similarity import one_typo_apart

# --- gender -----------------------------------------------------------------------------------

_GENDER = {
    "1": "1", "5": "1", "m": "1", "male": "1", "男": "1", "男性": "1",
    "2": "2", "6": "2", "f": "2", "female": "2", "女": "2", "女性": "2",
}  # fmt: skip


def gender_feature(value: str | None) -> str | None:
    """ "1" male or "2" female; None for 0, 9, other or unknown values."""
    if value is None:
        return None
    return _GENDER.get(unicodedata.normalize("NFKC", value).strip().lower())


class GenderComparator:
    """``gender``: exact or different."""

    __slots__ = ()
    levels: tuple[str, ...] = ("exact", "different")

    def features(self, record: MatchRecord) -> str | None:
        return gender_feature(record.gender)

    def compare(self, a: str, b: str) -> int:
        return 0 if a == b else 1

    def tf_value(self, features: str) -> str | None:
        return None


def gender(params: Mapping[str, Any]) -> GenderComparator:
    """Factory for ``gender``; takes no params."""
    read_params("gender", params, {})
    return GenderComparator()


# --- phone ------------------------------------------------------------------------------------

_NOT_DIGIT = re.compile(r"\D")


def normalize_phone(raw: str) -> str:
    """Digits only, country code 86 removed: "+86 138-0013-8000" → "13800138000"."""
    value = unicodedata.normalize("NFKC", raw).strip()
    digits = _NOT_DIGIT.sub("", value)
    international = value.startswith("+86") or digits.startswith("0086")
    if digits.startswith("0086"):
        digits = digits[4:]
    elif international or (len(digits) == 13 and digits.startswith("861")):
        digits = digits[2:]
    else:
        return digits
    if len(digits) == 11 and digits.startswith("1"):
        return digits  # mobile
    return "0" + digits if international and digits else digits


class PhoneComparator:
    """``phone``: a shared number, one typo apart, or different."""

    __slots__ = ()
    levels: tuple[str, ...] = ("exact", "typo", "different")

    def features(self, record: MatchRecord) -> frozenset[str] | None:
        numbers = frozenset(n for n in map(normalize_phone, record.phones) if n)
        return numbers or None

    def compare(self, a: frozenset[str], b: frozenset[str]) -> int:
        if not a.isdisjoint(b):
            return 0
        for x in a:
            for y in b:
                if one_typo_apart(x, y):
                    return 1
        return 2

    def tf_value(self, features: frozenset[str]) -> str | None:
        return None


def phone(params: Mapping[str, Any]) -> PhoneComparator:
    """Factory for ``phone``; takes no params."""
    read_params("phone", params, {})
    return PhoneComparator()


# --- address ----------------------------------------------------------------------------------

_AREA = re.compile(r"\d{6}")


@dataclass(frozen=True, slots=True)
class AddressFeatures:
    """``text``: NFKC, simplified, lower-case, letters and digits only; ``tokens``: bigrams
    (Chinese) or words (Latin); ``area``: the 6-digit area code."""

    text: str | None
    tokens: frozenset[str]
    area: str | None


_NOT_ALNUM = re.compile(r"[\W_]+")


def address_features(address: str | None, area_code: str | None) -> AddressFeatures | None:
    value = to_simplified(address).lower() if address else ""
    text = _NOT_ALNUM.sub("", value)
    area = _area(area_code) if area_code else None
    if not text and area is None:
        return None
    if has_cjk(text):
        tokens = frozenset(text[i : i + 2] for i in range(len(text) - 1)) or frozenset({text})
    else:
        tokens = frozenset(re.findall(r"[^\W_]+", value))
    return AddressFeatures(text or None, tokens, area)


@lru_cache(maxsize=65536)
def _area(area_code: str) -> str | None:
    digits = _NOT_DIGIT.sub("", unicodedata.normalize("NFKC", area_code))
    return digits[:6] if _AREA.match(digits) else None


class AddressComparator:
    """``address``: exact text, similar tokens, same area code, different."""

    __slots__ = ("similar",)
    levels: tuple[str, ...] = ("exact", "similar", "area", "different")

    def __init__(self, similar: float) -> None:
        self.similar = similar

    def features(self, record: MatchRecord) -> AddressFeatures | None:
        return address_features(record.address, record.area_code)

    def compare(self, a: AddressFeatures, b: AddressFeatures) -> int:
        if a.text is not None and b.text is not None:
            if a.text == b.text:
                return 0
            common = len(a.tokens & b.tokens)
            if common and common >= self.similar * (len(a.tokens) + len(b.tokens) - common):
                return 1
        if a.area is not None and b.area is not None:
            return 2 if a.area == b.area else 3
        if a.text is None or b.text is None:
            return -1  # text on one side, only an area code on the other
        return 3

    def tf_value(self, features: AddressFeatures) -> str | None:
        return None


def address(params: Mapping[str, Any]) -> AddressComparator:
    """Factory for ``address``: param ``similar`` (token Jaccard threshold, default 0.6)."""
    values = read_params("address", params, {"similar": (float, 0.6)})
    return AddressComparator(threshold("address", "similar", values["similar"]))


# --- household --------------------------------------------------------------------------------


class HouseholdComparator:
    """``household``: phone and address together (see the module docstring)."""

    __slots__ = ("_address", "_phone")
    levels: tuple[str, ...] = ("both", "phone", "address", "area", "different")

    def __init__(self, similar: float) -> None:
        self._phone = PhoneComparator()
        self._address = AddressComparator(similar)

    def features(
        self, record: MatchRecord
    ) -> tuple[frozenset[str] | None, AddressFeatures | None] | None:
        phones, place = self._phone.features(record), self._address.features(record)
        return None if phones is None and place is None else (phones, place)

    def compare(
        self,
        a: tuple[frozenset[str] | None, AddressFeatures | None],
        b: tuple[frozenset[str] | None, AddressFeatures | None],
    ) -> int:
        phone = a[0] is not None and b[0] is not None and self._phone.compare(a[0], b[0]) == 0
        place = -1
        if a[1] is not None and b[1] is not None:
            place = self._address.compare(a[1], b[1])
        same_place = place in (0, 1)
        if phone:
            return 0 if same_place else 1
        if same_place:
            return 2
        if place == 2:
            return 3
        if place == -1 and (a[0] is None or b[0] is None):
            return -1  # nothing comparable on either part
        return 4

    def tf_value(self, features: object) -> str | None:
        return None


def household(params: Mapping[str, Any]) -> HouseholdComparator:
    """Factory for ``household``; param ``similar`` as for ``address``."""
    values = read_params("household", params, {"similar": (float, 0.6)})
    return HouseholdComparator(threshold("household", "similar", values["similar"]))
