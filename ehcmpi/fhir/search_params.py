"""FHIR R4 search parameters of Patient → ``core.search.PatientSearch`` (FHIR R4 search
§3.1.1.4 parameter types, §3.1.1.5 modifiers and prefixes, §3.1.1.6 combining; IHE PDQm
ITI-78 2:3.78.4.1.2.1–2:3.78.4.1.2.3, RULES.md 27).

- A repeated parameter ANDs, commas inside one value OR (``\\,`` is a literal comma).
- Strings (``name``, ``family``, ``given``, ``mothersMaidenName``, ``address``,
  ``address-city|state|postalcode|country``) match by prefix, ``:exact`` exactly,
  ``:contains`` anywhere (not on ``family`` and ``given``).  What each matches is stated in
  ``core.search``; names, the mother's maiden name included, in characters or pinyin.
- Tokens: ``identifier`` ``system|value``, ``value`` (any system), ``|value`` (no system: no
  identifier here is without one) and ``system|`` — the PDQm domain restriction (Case 2);
  ``telecom`` ``[phone|sms|]number``; ``gender`` an AdministrativeGender code, or a GB/T 2261.1
  code with its CodeSystem; ``active`` true|false; ``_id`` master-index IDs.
- ``birthdate`` ``[eq|ne|lt|gt|le|ge|sa|eb|ap]YYYY[-MM[-DD]]``: a partial date is the range it
  spans; ``ap`` widens it by 10 % of its distance from today (FHIR's recommendation).
- ``_count`` (1…``MAX_COUNT``; more is served as ``MAX_COUNT``), ``_page`` (our page
  pointer), ``_format`` (content negotiation, ``responses``).

An unsupported modifier is refused (FHIR: servers SHALL reject it).  An unknown parameter is
ignored and left out of the ``self`` link, as FHIR lets a server do and PDQm asks ("should be
ignored"), unless the client sends ``Prefer: handling=strict``: then it is refused with 400.
An empty value is no criterion.  A value that cannot be read is refused with 400.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ehcmpi.core.search import Condition, DateRange, Field, IdentifierValue, Match, Text, Value
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.terminology.gender import GENDERS, gender_from_fhir
from ehcmpi.terminology.systems import GENDER_CODESYSTEM

DEFAULT_COUNT = 50
MAX_COUNT = 200
ADMINISTRATIVE_GENDER = "http://hl7.org/fhir/administrative-gender"
STRINGS = {
    "name": Field.NAME, "family": Field.FAMILY, "given": Field.GIVEN,
    "mothersMaidenName": Field.MOTHERS_MAIDEN_NAME,
    "address": Field.ADDRESS, "address-city": Field.CITY, "address-state": Field.STATE,
    "address-postalcode": Field.POSTAL_CODE, "address-country": Field.COUNTRY,
}  # fmt: skip
MODIFIERS = {"": Match.PREFIX, "exact": Match.EXACT, "contains": Match.CONTAINS}
OTHERS = ("_id", "active", "identifier", "telecom", "birthdate", "gender")
CONTROL = ("_count", "_page", "_format")
_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap")
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_UNESCAPED_BAR = re.compile(r"(?<!\\)\|")


@dataclass
class ParsedSearch:
    """The conditions, the domains to return (``identifier=system|``), the page asked for
    and the parameters applied, in order (for the ``self`` link)."""

    conditions: list[Condition] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    page: str | None = None
    used: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def bad(message: str, where: str) -> FhirError:
    return FhirError(400, "invalid", message, expression=where)


def parse(pairs: Sequence[tuple[str, str]], *, strict: bool) -> ParsedSearch:
    """Read ``(name, value)`` pairs of a query string or ``_search`` form body."""
    parsed = ParsedSearch()
    for key, raw in pairs:
        name, _, modifier = key.partition(":")
        value = raw.strip()
        if name in STRINGS or name in OTHERS:
            _check_modifier(key, name, modifier)
            if value and _read(parsed, name, modifier, value):
                parsed.used.append((key, value))
        elif name in CONTROL and not modifier:
            _control(parsed, name, value)
        else:
            parsed.ignored.append(key)
    if strict and parsed.ignored:
        raise FhirError(
            400, "not-supported",
            f"不支持的查询参数 (unsupported search parameter): {', '.join(parsed.ignored)}",
            expression=parsed.ignored[0],
        )  # fmt: skip
    return parsed


def _check_modifier(key: str, name: str, modifier: str) -> None:
    allowed = ("", "exact") if name in ("family", "given") else tuple(MODIFIERS)
    if modifier and (name not in STRINGS or modifier not in allowed):
        raise FhirError(
            400, "not-supported", f"不支持的修饰符 (unsupported modifier): {key}", expression=key
        )


def _control(parsed: ParsedSearch, name: str, value: str) -> None:
    if name == "_count" and value:
        if not value.isdigit() or int(value) < 1:
            raise bad(f"_count 须为正整数 (a positive integer is expected): {value}", "_count")
        parsed.count = min(int(value), MAX_COUNT)
    elif name == "_page" and value:
        parsed.page = value
    elif name == "_format" and value:
        parsed.used.append((name, value))


def _read(parsed: ParsedSearch, name: str, modifier: str, value: str) -> bool:
    """Add the parameter's condition; False when its value names nothing (``name=,``)."""
    items = [_unescape(v).strip() for v in _UNESCAPED_COMMA.split(value)]
    if not any(items):
        return False
    if name in STRINGS:
        match = MODIFIERS[modifier]
        texts = tuple(Text(v, match) for v in items if v)
        parsed.conditions.append(Condition(STRINGS[name], texts))
    elif name == "identifier":
        _identifier(parsed, value)
    else:
        field, reader = _READERS[name]
        values = tuple(v for i in items if i for v in reader(i))
        parsed.conditions.append(Condition(field, values))
    return True


def _identifier(parsed: ParsedSearch, value: str) -> None:
    """``system|value`` tokens are a criterion; ``system|`` tokens name domains to return."""
    tokens = [_token(t) for t in _UNESCAPED_COMMA.split(value) if t.strip()]
    domains = [system for system, code in tokens if system and not code]
    if domains and len(domains) < len(tokens):
        raise bad(
            "identifier 不能同时含 system| 与 system|value (domains and identifiers in one "
            f"parameter): {value}",
            "identifier",
        )
    if domains:
        parsed.targets.extend(d for d in domains if d not in parsed.targets)
        return
    values = []
    for system, code in tokens:
        if not code:
            raise bad(f"identifier 缺少值 (identifier without a value): {value}", "identifier")
        values.append(IdentifierValue(system, code))
    parsed.conditions.append(Condition(Field.IDENTIFIER, tuple(values)))


def _token(text: str) -> tuple[str | None, str]:
    """``system|code`` → (system, code); ``code`` → (None, code); ``|code`` → ("", code)."""
    parts = _UNESCAPED_BAR.split(text, maxsplit=1)
    if len(parts) == 1:
        return None, _unescape(parts[0]).strip()
    return _unescape(parts[0]).strip(), _unescape(parts[1]).strip()


def _unescape(text: str) -> str:
    return re.sub(r"\\([\\,|$])", r"\1", text)


# --- one value of a token or date parameter ------------------------------------------------


def _ids(text: str) -> list[Value]:
    return [text.strip().upper()]


def _active(text: str) -> list[Value]:
    if text.strip() not in ("true", "false"):
        raise bad(f"active 须为 true 或 false (true or false expected): {text}", "active")
    return [text.strip() == "true"]


def _telecom(text: str) -> list[Value]:
    """Phones only: the index holds no e-mail address, so another system matches nobody."""
    system, number = _token(text)
    if not number:
        raise bad(f"telecom 缺少号码 (telecom without a number): {text}", "telecom")
    return [number] if system in (None, "phone", "sms") else []


def _gender(text: str) -> list[Value]:
    system, code = _token(text)
    if system == GENDER_CODESYSTEM and code in GENDERS:
        return [code]
    if system in (None, ADMINISTRATIVE_GENDER) and code in ("male", "female", "other", "unknown"):
        # The GB/T 2261.1 codes that read as this AdministrativeGender, and the one it maps to.
        codes = {c for c, g in GENDERS.items() if g.fhir == code} | {gender_from_fhir(code)}
        return [*sorted(codes)]
    raise bad(f"gender 无效 (invalid gender): {text}", "gender")


def _birthdate(text: str, today: Callable[[], dt.date] = dt.date.today) -> list[Value]:
    text = text.strip()
    prefix, date = (text[:2], text[2:]) if text[:2] in _PREFIXES else ("eq", text)
    m = _DATE.fullmatch(date)
    try:
        if m is None:
            raise ValueError(date)
        year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
        start = dt.date(year, month, day)
        end = (
            start + dt.timedelta(days=1) if m[3]
            else dt.date(year + (month == 12), month % 12 + 1, 1) if m[2]
            else dt.date(year + 1, 1, 1)
        )  # fmt: skip
    except ValueError:
        raise bad(
            f"birthdate 须为 [前缀]YYYY[-MM[-DD]] ([prefix]YYYY[-MM[-DD]] expected): {text}",
            "birthdate",
        ) from None
    return [_range(prefix, start, end, today())]


def _range(prefix: str, start: dt.date, end: dt.date, today: dt.date) -> DateRange:
    """The birth dates a prefixed value selects (FHIR R4 search §3.1.1.5.3, date ranges)."""
    if prefix == "ap":
        slack = dt.timedelta(days=abs((today - start).days) // 10)
        return DateRange(start - slack, end + slack)
    return {
        "eq": DateRange(start, end), "ne": DateRange(start, end, negate=True),
        "lt": DateRange(None, start), "eb": DateRange(None, start), "le": DateRange(None, end),
        "gt": DateRange(end, None), "sa": DateRange(end, None), "ge": DateRange(start, None),
    }[prefix]  # fmt: skip


_READERS: dict[str, tuple[Field, Callable[[str], list[Value]]]] = {
    "_id": (Field.ID, _ids),
    "active": (Field.ACTIVE, _active),
    "telecom": (Field.TELECOM, _telecom),
    "gender": (Field.GENDER, _gender),
    "birthdate": (Field.BIRTH_DATE, _birthdate),
}
