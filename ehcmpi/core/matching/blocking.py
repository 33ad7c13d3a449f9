"""Blocking keys: which pairs are worth comparing at all (guideline §4.1.1 自动合并).

Comparing every record with every other is quadratic; blocking compares only records that
share a key — a document number, a phone, the pinyin of the name with the birth year, …
A rule file combines key functions (``["near_pinyin", "birth_date"]``); a record's keys for a
rule are the product of each function's values.  Key functions are pure and cheap; the
stored candidate index (storage) holds the same keys, so the online matcher and the batch
engine block alike.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

from ehcmpi.core.matching.comparators.contact import normalize_phone
from ehcmpi.core.matching.comparators.documents import document_feature
from ehcmpi.core.matching.record import MatchRecord
from ehcmpi.terminology.pinyin import fold_syllables, name_readings

KeyFunction = Callable[[MatchRecord, str], list[str]]


def _documents(record: MatchRecord, _: str) -> list[str]:
    """Each number as the document comparator normalises it (15 digits upgraded to 18)."""
    features = (document_feature(doc) for doc in record.documents)
    return [f"{f.doc_type}:{f.key}" for f in features if f is not None]


def _phones(record: MatchRecord, _: str) -> list[str]:
    """Each number as the phone comparator normalises it (+86 / 0086 removed)."""
    return list(dict.fromkeys(p for p in map(normalize_phone, record.phones) if len(p) >= 7))


def _full_name(record: MatchRecord) -> str | None:
    if record.name:
        return record.name
    parts = [p for p in (record.family_name, record.given_name) if p]
    return " ".join(parts) if parts else None


def _pinyin(record: MatchRecord, _: str) -> list[str]:
    """Order-insensitive syllables of every reading, so "Wei Zhang" and 单 read dān meet 张伟
    and 单 read shàn."""
    name = _full_name(record)
    return list(_pinyin_keys(name)) if name else []


def _near_pinyin(record: MatchRecord, _: str) -> list[str]:
    name = _full_name(record)
    return list(_near_pinyin_keys(name)) if name else []


@lru_cache(maxsize=262144)
def _pinyin_keys(name: str) -> tuple[str, ...]:
    return tuple(sorted({"".join(sorted(r)) for r in name_readings(name) if r}))


@lru_cache(maxsize=262144)
def _near_pinyin_keys(name: str) -> tuple[str, ...]:
    return tuple(sorted({"".join(sorted(fold_syllables(r))) for r in name_readings(name) if r}))


def _digits(value: str | None) -> str:
    return "".join(filter(str.isdigit, value)) if value else ""


def _birth_date(record: MatchRecord, _: str) -> list[str]:
    digits = _digits(record.birth_date)
    return [digits] if len(digits) == 8 else []


def _birth_year(record: MatchRecord, _: str) -> list[str]:
    digits = _digits(record.birth_date)
    return [digits[:4]] if len(digits) >= 4 else []


def _area_code(record: MatchRecord, _: str) -> list[str]:
    if record.area_code:
        return [record.area_code[:6]]
    codes = {d.number[:6] for d in record.documents if d.doc_type == "01" and len(d.number) >= 6}
    return sorted(codes)


def _gender(record: MatchRecord, _: str) -> list[str]:
    return [record.gender] if record.gender in ("1", "2") else []


def _field(record: MatchRecord, name: str) -> list[str]:
    """``field:<attribute>`` or ``field:extra.<name>``: the normalised value itself."""
    if name.startswith("extra."):
        value = record.extra_value(name.removeprefix("extra."))
    else:
        raw = getattr(record, name, None)
        value = raw if isinstance(raw, str) else None
    if not value:
        return []
    text = " ".join(unicodedata.normalize("NFKC", value).lower().split())
    return [text] if text else []


def _name_set(record: MatchRecord, _: str) -> list[str]:
    """Given and family name in either order (a swapped pair meets its original)."""
    parts = [_field(record, "given_name"), _field(record, "family_name")]
    if not all(parts):
        return []
    return ["|".join(sorted(p[0] for p in parts))]


def _prefix(record: MatchRecord, argument: str) -> list[str]:
    """``prefix:<n>:<key>``: the first n characters of another key's values."""
    size, _, inner = argument.partition(":")
    function, _, rest = inner.partition(":")
    return sorted({v[: int(size)] for v in KEY_FUNCTIONS[function](record, rest)})


KEY_FUNCTIONS: dict[str, KeyFunction] = {
    "document": _documents,
    "phone": _phones,
    "pinyin": _pinyin,
    "near_pinyin": _near_pinyin,
    "birth_date": _birth_date,
    "birth_year": _birth_year,
    "area_code": _area_code,
    "gender": _gender,
    "field": _field,
    "name_set": _name_set,
    "prefix": _prefix,
}


_NAME_FIELDS = frozenset({"name", "given_name", "family_name"})
_KEY_FIELDS: dict[str, frozenset[str]] = {
    "document": frozenset({"documents"}),
    "phone": frozenset({"phones"}),
    "pinyin": _NAME_FIELDS,
    "near_pinyin": _NAME_FIELDS,
    "birth_date": frozenset({"birth_date"}),
    "birth_year": frozenset({"birth_date"}),
    "area_code": frozenset({"area_code"}),
    "gender": frozenset({"gender"}),
    "name_set": frozenset({"given_name", "family_name"}),
}


def key_fields(key: str) -> frozenset[str]:
    """The ``MatchRecord`` fields a (checked) blocking key reads."""
    function, _, argument = key.partition(":")
    if function == "field":
        return frozenset({argument})
    if function == "prefix":
        return key_fields(argument.partition(":")[2])
    return _KEY_FIELDS[function]


def check_key(key: str) -> None:
    """Raise ``ValueError`` naming the problem when a blocking key cannot be computed."""
    function, _, argument = key.partition(":")
    if function not in KEY_FUNCTIONS:
        raise ValueError(f"unknown blocking key '{key}' (known: {sorted(KEY_FUNCTIONS)})")
    if function == "field" and not argument:
        raise ValueError(f"'{key}': field needs an attribute, e.g. field:postcode")
    if function == "prefix":
        size, _, inner = argument.partition(":")
        if not size.isdigit() or int(size) < 1 or not inner:
            raise ValueError(f"'{key}': expected prefix:<length>:<key>, e.g. prefix:3:phone")
        check_key(inner)


@lru_cache(maxsize=256)
def _parsed(keys: tuple[str, ...]) -> tuple[tuple[KeyFunction, str], ...]:
    """A rule's keys as (key function, argument) pairs."""
    return tuple(
        (KEY_FUNCTIONS[function], argument)
        for function, _, argument in (key.partition(":") for key in keys)
    )


def record_keys(record: MatchRecord, rule_name: str, keys: Sequence[str]) -> list[str]:
    """This record's keys under one blocking rule (empty when any part is missing)."""
    parts = []
    single = True
    for function, argument in _parsed(tuple(keys)):
        values = function(record, argument)
        if not values:
            return []
        single = single and len(values) == 1
        parts.append(values)
    if single:  # the usual case: one value per part, one key
        return [rule_name + "=" + "|".join([values[0] for values in parts])]
    return [rule_name + "=" + "|".join(combo) for combo in itertools.product(*parts)]
