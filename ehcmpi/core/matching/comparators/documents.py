"""Identity-document comparator (guideline §4.1.1 索引合并: 证件类型 + 证件号码 as the strongest
evidence; Appendix A document types; GB 11643-1999 公民身份号码).

Levels, best first:

* ``exact`` — the same normalised number (NFKC, no spaces, upper-case) in the same form.
* ``legacy`` — a 15-digit GB 11643-1989 number equal to an 18-digit one once upgraded (century
  "19" inserted, MOD 11-2 check character appended): the same person, re-issued card.
* ``typo`` — one substituted digit or two adjacent digits transposed, *and* at least one of
  the two numbers does not pass a check character.  Two numbers that both pass MOD 11-2 and
  differ by one digit are two people: twins born the same day in the same district get
  sequence codes one apart, so a one-digit difference between valid numbers is evidence
  *against* a match, not for it.  (MOD 11-2 catches every single substitution and adjacent
  transposition, so two valid 18-character numbers are never one typo apart in full: the
  twins differ in the check character too.  The rule matters where a side has no check
  character.)  A 15-digit number, and numbers whose type has no check character (passports,
  other schemes' identifiers such as a benchmark's "SSN"), count a one-typo difference as a
  typo, since nothing shows which one is right.
* ``different`` — the same document type, none of the above.

A number shared by both records that failed its check (kept from a feed, §5.2.1) is a
``typo``, not ``exact``: a bad number alone identifies nobody — the same slip of the keyboard
can hit another person's number — so it supports a match without deciding it.  Two failing
numbers that differ by more than a typo are not compared (-1): each may be a slip of either
number.  A failing number more than a typo away from a good one is ``different``: had it been
a slip of that number, it would be one typo away.

Twins get numbers one 顺序码 (sequence code, digits 15–17) apart: a difference confined
there between two numbers that passed their checks (an 18-digit one and an old 15-digit one
included) is ``different``, not ``typo``.

The best level over every pair of documents of the same type is returned; two records with no
document type in common cannot be compared (-1, counted as missing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ehcmpi.core.matching.comparators._params import read_params
from ehcmpi.core.matching.record import MatchDocument, MatchRecord
from ehcmpi.terminology.gb11643 import mod11_2_check_char
from ehcmpi.terminology.similarity import one_typo_apart
from ehcmpi.terminology.validators import id_number_15_to_18, normalize_number

#: Types whose number is a 公民身份号码 that may still be in its 15-digit 1989 form.
_CITIZEN_NUMBER_TYPES = frozenset({"01", "02"})
#: Types whose 18-character numbers end in a GB 11643 MOD 11-2 check character.
_CHECK_CHARACTER_TYPES = frozenset({"01", "02", "05", "09", "10"})
_GB11643_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_EXACT, _LEGACY, _TYPO, _DIFFERENT = range(4)


@dataclass(frozen=True, slots=True)
class DocumentFeature:
    """One document, normalised for comparison.

    ``key`` is the number in its current form (a 15-digit 公民身份号码 upgraded to 18 digits,
    ``legacy`` then True); ``checked`` is True when the number passes a check character (it
    then cannot be the mistyped one of a pair).
    """

    doc_type: str
    number: str
    key: str
    legacy: bool
    checked: bool
    invalid: bool = False


def document_feature(document: MatchDocument) -> DocumentFeature | None:
    """Normalise one document; None when its number is empty."""
    number = normalize_number(document.number)
    if not number:
        return None
    doc_type = document.doc_type.strip()
    legacy = doc_type in _CITIZEN_NUMBER_TYPES and len(number) == 15 and number.isdigit()
    key = id_number_15_to_18(number) if legacy else number
    checked = document.valid and not legacy and _checked(doc_type, number)
    return DocumentFeature(doc_type, number, key, legacy, checked, not document.valid)


def _checked(doc_type: str, number: str) -> bool:
    """True when ``number`` carries a MOD 11-2 check character and passes it: 18-character
    numbers of types 01, 02, 05 (a licence carrying the holder's 公民身份号码), 09 and 10
    (2023 version).  Only the check character: the caller's ``valid`` flag carries the rest
    of the type's rules, and this runs for every record of a batch."""
    if doc_type not in _CHECK_CHARACTER_TYPES or not _GB11643_SHAPE.fullmatch(number):
        return False
    return mod11_2_check_char(number[:17]) == number[17]


class DocumentComparator:
    """``document``: the best agreement between documents of the same type."""

    __slots__ = ()
    levels: tuple[str, ...] = ("exact", "legacy", "typo", "different")

    def features(self, record: MatchRecord) -> tuple[DocumentFeature, ...] | None:
        found = (document_feature(d) for d in record.documents)
        kept = tuple(dict.fromkeys(f for f in found if f is not None))
        return kept or None

    def compare(self, a: tuple[DocumentFeature, ...], b: tuple[DocumentFeature, ...]) -> int:
        best = -1
        for x in a:
            for y in b:
                if x.doc_type == y.doc_type:
                    level = _level(x, y)
                    if level == _EXACT:
                        return _EXACT
                    if level >= 0 and (best < 0 or level < best):
                        best = level
        return best

    def tf_value(self, features: tuple[DocumentFeature, ...]) -> str | None:
        return None  # document numbers are unique: no term-frequency adjustment


def _level(x: DocumentFeature, y: DocumentFeature) -> int:
    if x.number == y.number:
        return _TYPO if x.invalid or y.invalid else _EXACT
    if x.key == y.key:
        return _LEGACY
    if x.legacy or y.legacy:
        # An upgraded check character is computed, not typed: compare the first 17 digits
        # (equal ones mean the 18-digit number's own check character was mistyped).
        typo = x.key[:17] == y.key[:17] or one_typo_apart(x.key[:17], y.key[:17])
    else:
        typo = one_typo_apart(x.key, y.key)
    if typo and not (x.checked and y.checked) and not _siblings(x, y):
        return _TYPO
    if x.invalid and y.invalid:
        return -1  # two numbers that failed their checks say little when they differ
    return _DIFFERENT


def _siblings(x: DocumentFeature, y: DocumentFeature) -> bool:
    """Two 公民身份号码 that differ only in the 顺序码 (GB 11643 digits 15–17), one of them an
    18-digit number that passes its check and the other passing too or an old 15-digit one:
    two people born the same day in the same place — twins — rather than a slip in the old
    number, whose typos would fall anywhere."""
    if x.doc_type not in _CITIZEN_NUMBER_TYPES or not (x.checked or y.checked):
        return False
    if not all(f.checked or (f.legacy and not f.invalid) for f in (x, y)):
        return False
    return x.key[:14] == y.key[:14] and x.key[14:17] != y.key[14:17]


def document(params: Mapping[str, Any]) -> DocumentComparator:
    """Factory for ``document``; takes no params."""
    read_params("document", params, {})
    return DocumentComparator()
