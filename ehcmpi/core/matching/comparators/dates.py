"""Birth-date comparator (guideline §4.1.1 索引合并 on 出生日期).

Levels, best first:

* ``exact`` — the same full date.
* ``swapped`` — day and month exchanged (both ≤ 12 and not equal): 1990-03-07 / 1990-07-03,
  the usual mix-up between day-first and month-first forms.
* ``one_digit`` — one digit substituted or two adjacent digits transposed over the eight
  digits YYYYMMDD (a key-entry error; 1956 / 1965 included).
* ``year`` — the same year, and one side knows only the year or year and month, or month and
  day differ more.  Two equal partial dates ("1990-05" twice) are ``year`` too: they say less
  than a full date does, and ``exact`` must keep its weight.
* ``different`` — otherwise.

The value is text (``YYYY-MM-DD``, ``YYYYMMDD``, ``YYYY-MM``, ``YYYY``; "/" and "." are
accepted as separators) and is not checked against the calendar, so that a corrupted date
such as "19561309" still compares digit by digit.  Anything else is missing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ehcmpi.core.matching.comparators._params import read_params
from ehcmpi.core.matching.record import MatchRecord
from ehcmpi.terminology.similarity import one_typo_apart

_COMPACT = re.compile(r"(\d{4})(?:(\d{2})(\d{2})?)?")
_SEPARATED = re.compile(r"(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?")
_EXACT, _SWAPPED, _ONE_DIGIT, _YEAR, _DIFFERENT = range(5)


@dataclass(frozen=True, slots=True)
class BirthDate:
    """``digits`` is YYYYMMDD when the date is full, else None; month and day as two digits."""

    year: str
    month: str | None
    day: str | None
    digits: str | None


def parse_birth_date(text: str) -> BirthDate | None:
    """Split a birth date into its parts, without calendar checks; None when not a date."""
    value = unicodedata.normalize("NFKC", text).strip()
    value = value.split("T", 1)[0].split(" ", 1)[0]  # a FHIR dateTime or "1990-03-07 00:00"
    match = _COMPACT.fullmatch(value) or _SEPARATED.fullmatch(value)
    if match is None:
        return None
    year, month, day = match.groups()
    month = month.zfill(2) if month else None
    day = day.zfill(2) if day else None
    digits = year + month + day if month and day else None
    return BirthDate(year, month, day, digits)


class BirthDateComparator:
    """``birth_date``: exact, day/month swapped, one digit, same year, different."""

    __slots__ = ()
    levels: tuple[str, ...] = ("exact", "swapped", "one_digit", "year", "different")

    def features(self, record: MatchRecord) -> BirthDate | None:
        return parse_birth_date(record.birth_date) if record.birth_date else None

    def compare(self, a: BirthDate, b: BirthDate) -> int:
        if a.digits is not None and b.digits is not None:
            if a.digits == b.digits:
                return _EXACT
            if a.year == b.year and _swapped(a, b):
                return _SWAPPED
            if one_typo_apart(a.digits, b.digits):
                return _ONE_DIGIT
        return _YEAR if a.year == b.year else _DIFFERENT

    def tf_value(self, features: BirthDate) -> str | None:
        return None


def _swapped(a: BirthDate, b: BirthDate) -> bool:
    return (
        a.month == b.day
        and a.day == b.month
        and a.month != a.day
        and a.month is not None
        and a.day is not None
        and a.month <= "12"
        and a.day <= "12"
    )


def birth_date(params: Mapping[str, Any]) -> BirthDateComparator:
    """Factory for ``birth_date``; takes no params."""
    read_params("birth_date", params, {})
    return BirthDateComparator()
