"""Patient search criteria, protocol-neutral (guideline §4.1.2 索引查询 精准/模糊查询; IHE ITI-21
QPD-3 and PDQm ITI-78 search parameters, RULES.md 18 and 27; FHIR R4 search §3.1.1).

A ``PatientSearch`` is a conjunction of conditions and each ``Condition`` a disjunction of
values of one field — FHIR's repeated parameter (AND) and comma (OR).  A condition without
values never holds.  This module states what a value matches; ``storage.search`` turns it into
SQL that every backend evaluates on indexes, and ``ihe.pdq`` runs it for HL7 v2 and FHIR alike.

Names.  A Chinese name (one with a CJK character) is read as family name (姓, 复姓 included)
and given name (名), each also in pinyin; a name in Latin letters as words, whose first and
last word may each be the family or the given name (passports and Chinese order write the
family name first, Western text last).  A value in characters compares with characters, one
in Latin letters with pinyin and Latin words, ignoring case, spaces and tones:

- ``name`` — the whole name or the given name starts with the value (``zhang wei``, ``张伟``,
  ``wei`` and ``伟`` all find 张伟; ``Schmidt`` finds ``John Schmidt``);
- ``family`` — characters: the name starts with them (a Chinese family name begins the name,
  and a system that puts the whole name in the family component is served as well); letters:
  the family name's pinyin, or the first or last Latin word, starts with them;
- ``given`` — the given name (characters or pinyin), or the first or last Latin word;
- ``EXACT`` equals instead of starts with (``name``: the whole name), ``CONTAINS`` (``name``,
  ``mothers_maiden_name`` and addresses only) contains.

The mother's maiden name (母亲姓名; ITI-21 ``@PID.6``, PDQm ``mothersMaidenName``) is compared
as one string, not split into family and given names: characters with characters, letters
with its pinyin (or its Latin letters), ignoring case, spaces and tones — ``李``, ``li`` and
``Li Xiu`` all find 李秀英, ``秀英`` does not (``CONTAINS`` does).

Addresses: ``ADDRESS`` is any of text, line, city, district, state, postal code and country;
the other address fields one part each; prefix and contains ignore case, exact does not.
Dates: a ``DateRange`` is ``[start, end)`` (either end open), or outside it when negated; a
patient without a birth date matches no date.  ``GENDER`` is a GB/T 2261.1 code, ``TELECOM``
a phone number (exact), ``ID`` a master-index ID, ``ACTIVE`` True (status active) or False
(cancelled or merged).  ``IDENTIFIER`` (``system`` None: any system) is resolved to master-index
IDs by the PDQ supplier before the search reaches storage, and so is ``ACCOUNT``, a patient
account number (HL7 PID-18, ITI-21 ``@PID.18``; no identity: every record holding it).
``DOMAIN`` (identifier systems) holds for a patient with a published identifier in one of them
(ITI-21 QPD-8, PDQm ``system|``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ehcmpi.core.errors import InvalidInputError
from ehcmpi.core.model import PatientRecord


class Field(StrEnum):
    ID = "id"
    ACTIVE = "active"
    NAME = "name"
    FAMILY = "family"
    GIVEN = "given"
    IDENTIFIER = "identifier"
    TELECOM = "telecom"
    BIRTH_DATE = "birth_date"
    GENDER = "gender"
    ADDRESS = "address"
    CITY = "city"
    DISTRICT = "district"
    STATE = "state"
    POSTAL_CODE = "postal_code"
    COUNTRY = "country"
    DOMAIN = "domain"
    MOTHERS_MAIDEN_NAME = "mothers_maiden_name"
    ACCOUNT = "account"


class Match(StrEnum):
    PREFIX = "prefix"
    EXACT = "exact"
    CONTAINS = "contains"


#: The parts of an ``Address`` each address field compares with.
ADDRESS_PARTS: dict[Field, tuple[str, ...]] = {
    Field.ADDRESS: ("text", "line", "city", "district", "state", "postal_code", "country"),
    Field.CITY: ("city",),
    Field.DISTRICT: ("district",),
    Field.STATE: ("state",),
    Field.POSTAL_CODE: ("postal_code",),
    Field.COUNTRY: ("country",),
}
NAME_FIELDS = frozenset({Field.NAME, Field.FAMILY, Field.GIVEN})
TEXT_FIELDS = NAME_FIELDS | frozenset(ADDRESS_PARTS) | {Field.MOTHERS_MAIDEN_NAME}
CONTAINS_FIELDS = TEXT_FIELDS - {Field.FAMILY, Field.GIVEN}


@dataclass(frozen=True, slots=True)
class Text:
    value: str
    match: Match = Match.PREFIX


@dataclass(frozen=True, slots=True)
class DateRange:
    """``start <= date < end`` (None: open), or the opposite when ``negate``."""

    start: dt.date | None = None
    end: dt.date | None = None
    negate: bool = False

    @classmethod
    def day(cls, day: dt.date) -> DateRange:
        return cls(day, day + dt.timedelta(days=1))


@dataclass(frozen=True, slots=True)
class IdentifierValue:
    """``system|value``; ``system`` None matches the value in any system."""

    system: str | None
    value: str


Value = str | bool | Text | DateRange | IdentifierValue
_TYPES: dict[Field, type] = {f: Text for f in TEXT_FIELDS} | {
    Field.ID: str, Field.ACTIVE: bool, Field.IDENTIFIER: IdentifierValue, Field.TELECOM: str,
    Field.BIRTH_DATE: DateRange, Field.GENDER: str, Field.DOMAIN: str,
    Field.ACCOUNT: IdentifierValue,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Condition:
    """``field`` has one of ``any_of`` (none: never holds)."""

    field: Field
    any_of: tuple[Value, ...]

    def __post_init__(self) -> None:
        kind = _TYPES[self.field]
        for value in self.any_of:
            if type(value) is not kind:
                raise InvalidInputError(f"查询条件无效 (invalid {self.field} value): {value!r}")
            if isinstance(value, Text) and not value.value.strip():
                raise InvalidInputError(f"查询条件为空 (empty {self.field} value)")
            contains = isinstance(value, Text) and value.match is Match.CONTAINS
            if contains and self.field not in CONTAINS_FIELDS:
                raise InvalidInputError(
                    f"{self.field} 不支持包含匹配 (contains is not supported on {self.field})"
                )


@dataclass(frozen=True, slots=True)
class PatientSearch:
    """Every condition holds (an empty search is refused by the supplier)."""

    conditions: tuple[Condition, ...] = ()

    def is_empty(self) -> bool:
        return not self.conditions

    def has(self, field: Field) -> bool:
        return any(c.field is field for c in self.conditions)

    def to_plain(self) -> list[Any]:
        """JSON-ready form (a continuation pointer carries the query)."""
        return [[c.field.value, [_plain(v) for v in c.any_of]] for c in self.conditions]

    @classmethod
    def from_plain(cls, data: Any) -> PatientSearch:
        """The inverse of ``to_plain``; ValueError/TypeError/KeyError on anything else."""
        conditions = []
        for name, values in data:
            field = Field(name)
            conditions.append(Condition(field, tuple(_value(field, v) for v in values)))
        return cls(tuple(conditions))


@dataclass(frozen=True, slots=True)
class SearchRows:
    """A slice of the matches in master-index-ID order, with what paging needs to know.

    ``total`` counts every match; ``first_position`` is the 1-based position of
    ``patients[0]`` among them (0 when the slice is empty).
    """

    patients: list[PatientRecord]
    total: int
    first_position: int


def _plain(value: Value) -> Any:
    if isinstance(value, Text):
        return [value.value, value.match.value]
    if isinstance(value, DateRange):
        return [_iso(value.start), _iso(value.end), value.negate]
    if isinstance(value, IdentifierValue):
        return [value.system, value.value]
    return value


def _value(field: Field, raw: Any) -> Value:
    kind = _TYPES[field]
    if kind is Text:
        return Text(str(raw[0]), Match(raw[1]))
    if kind is DateRange:
        return DateRange(_date(raw[0]), _date(raw[1]), bool(raw[2]))
    if kind is IdentifierValue:
        return IdentifierValue(None if raw[0] is None else str(raw[0]), str(raw[1]))
    if type(raw) is not kind or not isinstance(raw, str | bool):
        raise TypeError(f"{field}: {raw!r}")
    return raw


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _date(text: Any) -> dt.date | None:
    return dt.date.fromisoformat(text) if text is not None else None
