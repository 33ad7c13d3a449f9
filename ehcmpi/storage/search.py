"""SQL of the patient search (``core.search``; PDQ ITI-21, PDQm ITI-78): one statement returns
a page of matches in master-index-ID order with their total and position.

Every name condition is an index range on a ``patients`` column (migration 0007):

============ ====================================== =========================================
column       Chinese name 张伟                       Latin-script name John Jacob Schmidt
============ ====================================== =========================================
name         张伟                                    John Jacob Schmidt
pinyin_key   zhangwei                                johnjacobschmidt
family_key   zhang                                   ~john  (first word)
given_name   伟                                      NULL
given_key    wei                                     ~schmidt  (last word, if there are two)
============ ====================================== =========================================

The mother's maiden name has its two columns, ``mothers_maiden_name`` as given and
``mothers_maiden_key`` its ``pinyin_key`` (李秀英: lixiuying; Mary Doe: marydoe), compared whole.

Latin words carry a leading ``~`` so that a pinyin family-name range never meets a Latin word
and the reverse.  Phone numbers are compared by their HMAC-SM3 blind index (§6.3), addresses
inside their JSON text (unindexed: a condition on them narrows what an indexed one found, or
scans).  Paging is keyset on ``mpi_id``: a patient registered before the cursor shifts no page.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ehcmpi.core.model import PatientStatus
from ehcmpi.core.search import (
    ADDRESS_PARTS,
    NAME_FIELDS,
    Condition,
    DateRange,
    Field,
    Match,
    PatientSearch,
    Text,
    Value,
)
from ehcmpi.storage.tables import patient_documents, patient_phones, patients, source_identifiers
from ehcmpi.terminology.pinyin import has_cjk, name_pinyin, pinyin_key, split_chinese_name
from ehcmpi.terminology.systems import (
    ARCHIVE_NUMBER_SYSTEM,
    EHC_ID_SYSTEM,
    MPI_ID_SYSTEM,
    document_type_for_system,
)

LATIN = "~"
# The highest code point: a prefix range [p, p + PREFIX_END) holds every string starting with
# p, 生僻字 outside the Basic Multilingual Plane included.
PREFIX_END = "\U0010ffff"
Bool = ColumnElement[bool]
_c = patients.c


# --- name keys (written with every patient row) ---------------------------------------------


def name_keys(name: str | None) -> dict[str, str | None]:
    """``family_key``, ``given_name`` and ``given_key`` of a name (see the module table)."""
    keys: dict[str, str | None] = {"family_key": None, "given_name": None, "given_key": None}
    text = (name or "").strip()
    if has_cjk(text):
        family, given = split_chinese_name(text)
        syllables = name_pinyin(text).split()
        n = len(name_pinyin(family).split())
        keys["family_key"] = pinyin_key(" ".join(syllables[:n])) or None
        keys["given_name"] = given or None
        keys["given_key"] = pinyin_key(" ".join(syllables[n:])) or None
        return keys
    words = [k for k in (pinyin_key(w) for w in unicodedata.normalize("NFKC", text).split()) if k]
    if words:
        keys["family_key"] = LATIN + words[0]
        keys["given_key"] = LATIN + words[-1] if len(words) > 1 else None
    return keys


def maiden_keys(maiden_name: str | None) -> dict[str, str | None]:
    """``mothers_maiden_name`` and ``mothers_maiden_key`` of a patient row (migration 0008)."""
    text = (maiden_name or "").strip()
    return {"mothers_maiden_name": text or None, "mothers_maiden_key": pinyin_key(text) or None}


# --- conditions -------------------------------------------------------------------------------


def _starts(column: Any, prefix: str) -> Bool:
    return sa.and_(column >= prefix, column < prefix + PREFIX_END)


def _chars(field: Field, value: str, match: Match) -> list[Bool]:
    """A name condition typed in characters (or in neither characters nor letters), as the
    index ranges it is any of."""
    if field is Field.NAME:
        if match is Match.EXACT:
            return [_c.name == value]
        if match is Match.CONTAINS:
            return [_c.name.contains(value, autoescape=True)]
        return [_starts(_c.name, value), _starts(_c.given_name, value)]
    if field is Field.GIVEN:
        return [_c.given_name == value if match is Match.EXACT else _starts(_c.given_name, value)]
    if match is Match.EXACT:  # the family name: the name without its given name
        family_length = sa.func.length(_c.name) - sa.func.coalesce(sa.func.length(_c.given_name), 0)
        return [sa.and_(_starts(_c.name, value), family_length == len(value))]
    return [_starts(_c.name, value)]


def _letters(field: Field, key: str, match: Match) -> list[Bool]:
    """A name condition typed in Latin letters (pinyin or a Latin-script name)."""
    latin = LATIN + key
    if field is Field.NAME:
        if match is Match.EXACT:
            return [_c.pinyin_key == key]
        if match is Match.CONTAINS:
            return [_c.pinyin_key.contains(key, autoescape=True)]
        return [
            _starts(_c.pinyin_key, key),
            _starts(_c.given_key, key),
            _starts(_c.given_key, latin),
        ]
    own = _c.family_key if field is Field.FAMILY else _c.given_key
    if match is Match.EXACT:
        return [own == key, _c.family_key == latin, _c.given_key == latin]
    return [_starts(own, key), _starts(_c.family_key, latin), _starts(_c.given_key, latin)]


def _name(field: Field, text: Text) -> list[Bool]:
    value = text.value.strip()
    key = "" if has_cjk(value) else pinyin_key(value)
    # Without letters to read as pinyin ("𠀾", "123") the value is compared as typed.
    return _letters(field, key, text.match) if key else _chars(field, value, text.match)


def _maiden(text: Text) -> Bool:
    """The mother's maiden name, whole: characters as typed, letters by their pinyin key."""
    value = text.value.strip()
    key = "" if has_cjk(value) else pinyin_key(value)
    column, probe = (_c.mothers_maiden_key, key) if key else (_c.mothers_maiden_name, value)
    if text.match is Match.EXACT:
        return column == probe
    if text.match is Match.CONTAINS:
        return column.contains(probe, autoescape=True)
    return _starts(column, probe)


def _address(field: Field, text: Text, dialect: str) -> Bool:
    """Some address has a part that matches (the addresses are a JSON array of objects)."""
    if dialect == "postgresql":
        element = sa.func.json_array_elements(sa.cast(_c.addresses, postgresql.JSON)).table_valued(
            "value"
        )

        def part(name: str) -> Any:
            return element.c.value.op("->>")(name)
    else:
        element = sa.func.json_each(_c.addresses).table_valued("value")

        def part(name: str) -> Any:
            return sa.func.json_extract(element.c.value, f"$.{name}")

    value = text.value.strip()
    tests = []
    for name in ADDRESS_PARTS[field]:
        if text.match is Match.EXACT:
            tests.append(part(name) == value)
        elif text.match is Match.CONTAINS:
            tests.append(sa.func.lower(part(name)).contains(value.lower(), autoescape=True))
        else:
            tests.append(sa.func.substr(sa.func.lower(part(name)), 1, len(value)) == value.lower())
    return sa.exists().select_from(element).where(sa.or_(*tests))


def _born(r: DateRange) -> Bool:
    inside = [
        *([_c.birth_date >= r.start] if r.start else []),
        *([_c.birth_date < r.end] if r.end else []),
    ]
    if not r.negate:
        return sa.and_(_c.birth_date.is_not(None), *inside)
    return sa.or_(*(sa.not_(test) for test in inside)) if inside else sa.false()


def _holds_identifier_in(system: str) -> Bool:
    """A published identifier of ``system`` (ITI-21 QPD-8 / PDQm ``system|``, RULES 19)."""
    if system == MPI_ID_SYSTEM:
        return sa.true()
    if system == EHC_ID_SYSTEM:
        return _c.ehc_id.is_not(None)
    if system == ARCHIVE_NUMBER_SYSTEM:
        return _c.archive_no.is_not(None)
    doc_type = document_type_for_system(system)
    if doc_type is not None:
        d = patient_documents.c
        return sa.exists().where(d.mpi_id == _c.mpi_id, d.doc_type == doc_type, d.valid)
    s = source_identifiers.c
    return sa.exists().where(s.mpi_id == _c.mpi_id, s.system == system, s.link_state == "MATCH")


class Conditions:
    """``PatientSearch`` → a WHERE clause for one dialect; phones by their blind index."""

    def __init__(self, dialect: str, phone_index: Callable[[str], bytes]) -> None:
        self._dialect = dialect
        self._phone_index = phone_index

    def where(self, search: PatientSearch) -> Bool:
        return sa.and_(sa.true(), *(self._condition(c) for c in search.conditions))

    def branches(self, search: PatientSearch) -> list[Bool]:
        """The search as alternatives whose union is its matches: the first name condition
        that is several index ranges gives one alternative per range.

        An OR of ranges makes PostgreSQL read every matching table row (a bitmap scan); one
        range per alternative lets each read its index alone (a family name in pinyin with a
        gender: 11,000 of 1 M patients, 113 ms as an OR).
        """
        for i, condition in enumerate(search.conditions):
            if condition.field not in NAME_FIELDS:
                continue
            texts = [v for v in condition.any_of if isinstance(v, Text)]
            ranges = [r for text in texts for r in _name(condition.field, text)]
            if len(ranges) > 1:
                others = [self._condition(c) for j, c in enumerate(search.conditions) if j != i]
                return [sa.and_(r, *others) for r in ranges]
        return [self.where(search)]

    def _condition(self, condition: Condition) -> Bool:
        if condition.field is Field.IDENTIFIER:
            raise ValueError("identifiers are resolved to master-index IDs before the search")
        if condition.field is Field.TELECOM and condition.any_of:
            indexes = [self._phone_index(str(v).strip()) for v in condition.any_of]
            phones = sa.select(patient_phones.c.mpi_id).where(
                patient_phones.c.phone_bidx.in_(indexes)
            )
            return _c.mpi_id.in_(phones)
        if condition.field is Field.ID:
            return _c.mpi_id.in_([str(v) for v in condition.any_of])
        return sa.or_(sa.false(), *(self._value(condition.field, v) for v in condition.any_of))

    def _value(self, field: Field, value: Value) -> Bool:
        if isinstance(value, Text) and field in NAME_FIELDS:
            return sa.or_(*_name(field, value))
        if isinstance(value, Text) and field is Field.MOTHERS_MAIDEN_NAME:
            return _maiden(value)
        if isinstance(value, Text):
            return _address(field, value, self._dialect)
        if isinstance(value, DateRange):
            return _born(value)
        if field is Field.ACTIVE:
            active = _c.status == PatientStatus.ACTIVE.value
            return active if value else sa.not_(active)
        if field is Field.GENDER:
            return _c.gender == value
        if field is Field.DOMAIN:
            return _holds_identifier_in(str(value))
        raise ValueError(f"no SQL for {field}")  # pragma: no cover - every field is handled


# --- the statement ----------------------------------------------------------------------------


def _matching_ids(branches: list[Bool]) -> Any:
    """The master-index IDs of the matches: one SELECT, or the UNION of the alternatives."""
    if len(branches) == 1:
        return sa.select(_c.mpi_id).where(branches[0]).subquery("found")
    return sa.union(*(sa.select(_c.mpi_id).where(b) for b in branches)).subquery("found")


def page_statement(
    branches: list[Bool], after: str | None, before: str | None, limit: int | None
) -> sa.Select[Any]:
    """Patient rows with ``total`` (all matches) and ``pos`` (1-based, in mpi_id order).

    The window functions see every match before the keyset narrows the page, so one round
    trip answers the page, the total and where the page stands (ITI-21 QAK-4..6).
    """
    found = _matching_ids(branches)
    matches = sa.select(
        found.c.mpi_id,
        sa.func.count().over().label("total"),
        sa.func.row_number().over(order_by=found.c.mpi_id).label("pos"),
    ).subquery("matches")
    m = matches.c
    stmt = sa.select(patients, m.total, m.pos).join_from(
        matches, patients, patients.c.mpi_id == m.mpi_id
    )
    if after is not None:
        stmt = stmt.where(m.mpi_id > after)
    if before is not None:
        stmt = stmt.where(m.mpi_id < before)
    stmt = stmt.order_by(m.mpi_id.desc() if before is not None else m.mpi_id)
    return stmt.limit(limit) if limit is not None else stmt


_IDS: sa.BindParameter[list[str]] = sa.bindparam("ids", expanding=True)
_ACTIVE = _c.status == PatientStatus.ACTIVE.value
#: A search by master-index IDs alone (what identifiers resolve to), by ``active``: prebuilt.
BY_IDS = {
    None: patients.select().where(_c.mpi_id.in_(_IDS)),
    True: patients.select().where(_c.mpi_id.in_(_IDS), _ACTIVE),
    False: patients.select().where(_c.mpi_id.in_(_IDS), sa.not_(_ACTIVE)),
}


def ids_only(search: PatientSearch) -> tuple[set[str], set[bool]] | None:
    """The master-index IDs and ``active`` values a search is limited to when it names nothing
    else — an identifier lookup, the most frequent search — else None."""
    ids: set[str] | None = None
    active = {True, False}
    for condition in search.conditions:
        values = set(condition.any_of)
        if condition.field is Field.ID:
            ids = {str(v) for v in values} if ids is None else ids & {str(v) for v in values}
        elif condition.field is Field.ACTIVE:
            active &= {bool(v) for v in values}
        else:
            return None
    return None if ids is None else (ids, active)


def _by_ids(conn: Connection, search: PatientSearch) -> list[Any] | None:
    """Every match in mpi_id order when the search is master-index IDs (and ``active``) only,
    else None."""
    only = ids_only(search)
    if only is None:
        return None
    ids, active = only
    if not ids or not active:
        return []
    status = None if len(active) == 2 else active.pop()
    return sorted(conn.execute(BY_IDS[status], {"ids": sorted(ids)}), key=lambda r: str(r.mpi_id))


def keyset(
    rows: list[Any], after: str | None, before: str | None, limit: int | None
) -> tuple[list[Any], int, int]:
    """A page of ``rows`` (all matches, in mpi_id order), their total and its position."""
    if after is not None:
        skipped = sum(1 for r in rows if r.mpi_id <= after)
        page = rows[skipped:][:limit]
    elif before is not None:
        below = [r for r in rows if r.mpi_id < before]
        page = below[-limit:] if limit is not None else below
        skipped = len(below) - len(page)
    else:
        skipped, page = 0, rows[:limit]
    return page, len(rows), skipped + 1 if page else 0


def search_rows(
    conn: Connection,
    phone_index: Callable[[str], bytes],
    search: PatientSearch,
    after: str | None,
    before: str | None,
    limit: int | None,
) -> tuple[list[Any], int, int]:
    """``patients`` rows of one page in mpi_id order, the total and the first row's position.

    A count runs only when a keyset page is empty (past the last match): the window
    functions answer it otherwise.
    """
    found = _by_ids(conn, search)
    if found is not None:
        return keyset(found, after, before, limit)
    branches = Conditions(conn.dialect.name, phone_index).branches(search)
    rows = list(conn.execute(page_statement(branches, after, before, limit)))
    if before is not None:
        rows.reverse()
    if rows:
        return rows, int(rows[0].total), int(rows[0].pos)
    if after is None and before is None:
        return [], 0, 0
    count = sa.select(sa.func.count()).select_from(_matching_ids(branches))
    return [], int(conn.execute(count).scalar_one()), 0
