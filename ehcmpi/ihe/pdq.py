"""PDQ Supplier semantics, protocol-neutral (IHE ITI TF-2 3.21; PDQm ITI-78).

The HL7 v2 adapter (ITI-21 ``QBP^Q22``, RULES 17–21) calls ``PdqSupplier.search`` with
``PdqCriteria``; the FHIR adapter (PDQm ITI-78 ``GET /Patient?…``, RULES 27) calls
``PdqSupplier.query`` with a ``core.search.PatientSearch``.  Both run ``_run``: one SQL
statement per page (``storage.search``), the same criteria, domains and paging.

- criteria (RULES 18, 27): ``core.search`` states what each field matches; every condition
  must hold, and every exact match is returned.  Identifiers are resolved first, to the
  record that holds them and, for an ID of a record merged away, to its survivor; a patient
  account number (ITI-21 ``@PID.18``) to every record holding it and the survivors of those
  merged away.  Unless
  the query asks about ``active``, only active records are returned (PDQm Case 6: a
  deprecated record is left out; ``active=false`` finds cancelled and merged ones);
- What Domains Returned (QPD-8, PDQm ``identifier=system|``; RULES 19, 27): a patient
  without an identifier in those domains is omitted (Case 2) and the published identifiers
  are restricted to them; an unknown domain is an error listing its ordinals (Case 3 / 4);
- continuation (RULES 21; FHIR R4 http paging): the cursor is an opaque string that carries
  the query and the master-index ID the page starts after (or ends before), so no server
  keeps state (DESIGN.md: replicas behind a load balancer) and ``cancel`` (``QCN^J01``) has
  nothing to release.  Keyset paging: a patient registered or merged between two increments
  shifts no other, so each matching patient is returned exactly once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import orjson

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.errors import InvalidInputError
from ehcmpi.core.model import SYSTEM_ACTOR, Actor, PatientRecord, SourceIdentifier
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.search import (
    Condition,
    DateRange,
    Field,
    IdentifierValue,
    Match,
    PatientSearch,
    Text,
    Value,
)
from ehcmpi.ihe.identifiers import (
    Identifier,
    check_targets,
    current_patient,
    locate,
    published_identifiers,
    recognised_systems,
    restricted,
)
from ehcmpi.ihe.results import CrossReferences, PdqCriteria, PdqPage, PixError
from ehcmpi.terminology.systems import ARCHIVE_NUMBER_SYSTEM, EHC_ID_SYSTEM, MPI_ID_SYSTEM

#: A query without a page size returns every match at once, up to this many.
MAX_MATCHES = 1000
CURSOR_VERSION = 2
#: Identifiers that stay on a record merged away (the others move to the survivor).
_STAYING = frozenset({MPI_ID_SYSTEM, ARCHIVE_NUMBER_SYSTEM, EHC_ID_SYSTEM})


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of a search (PDQm ITI-78 Bundle, ITI-21 increment).

    ``published`` holds each patient's identifiers restricted to ``targets`` when asked for
    (ITI-21 PID-3), ``accounts`` their account numbers (PID-18); ``cursor`` is the pointer
    this page was read with.
    """

    patients: list[PatientRecord]
    total: int
    targets: tuple[str, ...] | None
    page_size: int | None
    cursor: str | None = None
    next_cursor: str | None = None
    previous_cursor: str | None = None
    remaining: int = 0
    published: list[list[Identifier]] | None = None
    #: each patient's account numbers (ITI-21 PID-18), with ``published``
    accounts: list[tuple[SourceIdentifier, ...]] | None = None


@dataclass(frozen=True, slots=True)
class _Position:
    """Where a page starts: after (or before) a master-index ID."""

    key: str
    before: bool = False


class PdqSupplier:
    """Patient Demographics Supplier (ITI TF-1 8; TF-2 3.21; PDQm ITI-78)."""

    def __init__(
        self, uow: Callable[..., UnitOfWork], domains: DomainRegistry, audit: AuditLog
    ) -> None:
        self._uow = uow
        self._domains = domains
        self._audit = audit

    def search(
        self,
        criteria: PdqCriteria | None,
        target_systems: Sequence[str] | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
        *,
        actor: Actor = SYSTEM_ACTOR,
    ) -> PdqPage:
        """One increment of an ITI-21 query (RULES 18–21).

        With a ``cursor`` the next increment of the query it encodes is returned; ``criteria``
        may then be None, or must repeat the query (an HL7 continuation resends QPD).
        ``page_size`` None returns every match at once.
        """
        search = criteria_search(criteria) if criteria is not None else None
        page = self._run(search, target_systems, page_size, cursor, actor, publish=True)
        published, accounts = page.published or [], page.accounts or []
        return PdqPage(
            patients=[
                CrossReferences(p, ids, True, acc)
                for p, ids, acc in zip(page.patients, published, accounts, strict=True)
            ],
            next_cursor=page.next_cursor,
            total=page.total,
            remaining=page.remaining,
        )

    def query(
        self,
        search: PatientSearch | None,
        target_systems: Sequence[str] | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
        *,
        actor: Actor = SYSTEM_ACTOR,
    ) -> SearchPage:
        """One page of a PDQm ITI-78 search (RULES 27); a cursor may page back as well."""
        return self._run(search, target_systems, page_size, cursor, actor, publish=False)

    def cancel(self, cursor: str | None) -> None:
        """Cancel a query (``QCN^J01``, RULES 21): stateless, so there is nothing to release."""

    def _run(
        self,
        search: PatientSearch | None,
        target_systems: Sequence[str] | None,
        page_size: int | None,
        cursor: str | None,
        actor: Actor,
        *,
        publish: bool,
    ) -> SearchPage:
        at: _Position | None = None
        if cursor is not None:
            search, target_systems, page_size, at = _continued(
                cursor, search, target_systems, page_size
            )
        if search is None or (search.is_empty() and not target_systems):
            raise _invalid_query()  # the requested domains alone are a criterion too
        if page_size is not None and page_size < 1:
            raise PixError("invalid_query", "每页数量必须大于 0 (page size must be positive)")
        with self._audit.call(actor, "pdq-query") as call, self._uow() as uow:
            known = recognised_systems(self._domains)
            targets = check_targets(target_systems, known)
            rows = uow.patients.search_page(
                _resolved(uow, search, targets, [*sorted(known), ARCHIVE_NUMBER_SYSTEM]),
                after=at.key if at and not at.before else None,
                before=at.key if at and at.before else None,
                limit=(page_size or MAX_MATCHES) + 1,
            )
            call.detail = f"{rows.total} matches"
            found, size = rows.patients, page_size or MAX_MATCHES
            more = len(found) > size
            if page_size is None and more:
                raise PixError(
                    "too_many_matches",
                    f"匹配的患者超过 {MAX_MATCHES} 名，请增加查询条件 (too many matches; refine "
                    "the query)",
                )
            backwards = at is not None and at.before
            page = found[-size:] if backwards else found[:size]
            first = rows.first_position + (len(found) - len(page) if backwards else 0)

            def pointer(key: str, before: bool = False) -> str:
                return _encode(search, targets, page_size, _Position(key, before))

            return SearchPage(
                patients=page,
                total=rows.total,
                targets=targets,
                page_size=page_size,
                cursor=cursor,
                next_cursor=pointer(page[-1].mpi_id) if page and (more or backwards) else None,
                previous_cursor=(
                    pointer(page[0].mpi_id, True)
                    if page and ((more and backwards) or (at and not at.before))
                    else None
                ),
                remaining=rows.total - (first + len(page) - 1) if page else 0,
                published=(
                    [restricted(published_identifiers(uow, p), targets) for p in page]
                    if publish
                    else None
                ),
                accounts=_accounts(uow, page) if publish else None,
            )


# --- resolving a search ----------------------------------------------------------------------


def _resolved(
    uow: UnitOfWork,
    search: PatientSearch,
    targets: tuple[str, ...] | None,
    systems: Sequence[str],
) -> PatientSearch:
    """Identifiers → master-index IDs, the default ``active``, the requested domains.

    ``systems`` are those an identifier without a system is looked up in.
    """
    conditions = [
        Condition(Field.ID, tuple(sorted(_holders(uow, c.any_of, systems))))
        if c.field is Field.IDENTIFIER
        else Condition(Field.ID, tuple(sorted(_account_holders(uow, c.any_of))))
        if c.field is Field.ACCOUNT
        else c
        for c in search.conditions
    ]
    if not search.has(Field.ACTIVE):
        conditions.append(Condition(Field.ACTIVE, (True,)))
    if targets is not None:
        conditions.append(Condition(Field.DOMAIN, targets))
    return PatientSearch(tuple(conditions))


def _holders(uow: UnitOfWork, values: Sequence[Value], every: Sequence[str]) -> set[str]:
    """The records the identifiers name, and the survivors of those merged away."""
    found: set[str] = set()
    for value in values:
        assert isinstance(value, IdentifierValue)
        for system in [value.system] if value.system is not None else every:
            holder = locate(uow, system, value.value) if system else None
            if holder is None:
                continue
            found.add(holder)
            if system in _STAYING:
                survivor = current_patient(uow, holder)
                if survivor is not None:
                    found.add(survivor.mpi_id)
    return found


def _account_holders(uow: UnitOfWork, values: Sequence[Value]) -> set[str]:
    """The records holding the account numbers, and the survivors of those merged away."""
    found: set[str] = set()
    for value in values:
        assert isinstance(value, IdentifierValue)
        for holder in uow.patients.find_by_account(value.value, value.system):
            found.add(holder)
            survivor = current_patient(uow, holder)
            if survivor is not None:
                found.add(survivor.mpi_id)
    return found


def _accounts(
    uow: UnitOfWork, patients: Sequence[PatientRecord]
) -> list[tuple[SourceIdentifier, ...]]:
    held = uow.patients.accounts_of([p.mpi_id for p in patients])
    return [tuple(held.get(p.mpi_id, ())) for p in patients]


# --- ITI-21 criteria -------------------------------------------------------------------------


def criteria_search(criteria: PdqCriteria) -> PatientSearch:
    """ITI-21 QPD-3 criteria as a search: names by prefix (PID-5), the birth date's day
    (PID-7), address line contained in an address (PID-11.1), city and district by prefix,
    postal code exactly, the mother's maiden name by prefix (PID-6), the account number
    exactly (PID-18)."""
    c = _cleaned(criteria)
    wanted: list[tuple[Field, Value | None]] = [
        (Field.IDENTIFIER, IdentifierValue(c.identifier.system, c.identifier.value)
         if c.identifier else None),
        (Field.NAME, Text(c.name) if c.name else None),
        (Field.FAMILY, Text(c.family) if c.family else None),
        (Field.GIVEN, Text(c.given) if c.given else None),
        (Field.BIRTH_DATE, DateRange.day(c.birth_date) if c.birth_date else None),
        (Field.GENDER, c.gender),
        (Field.TELECOM, c.phone),
        (Field.ADDRESS, Text(c.address, Match.CONTAINS) if c.address else None),
        (Field.CITY, Text(c.city) if c.city else None),
        (Field.DISTRICT, Text(c.district) if c.district else None),
        (Field.POSTAL_CODE, Text(c.postal_code, Match.EXACT) if c.postal_code else None),
        (Field.MOTHERS_MAIDEN_NAME,
         Text(c.mothers_maiden_name) if c.mothers_maiden_name else None),
        (Field.ACCOUNT, IdentifierValue(c.account_system, c.account) if c.account else None),
    ]  # fmt: skip
    return PatientSearch(tuple(Condition(f, (v,)) for f, v in wanted if v is not None))


def _cleaned(criteria: PdqCriteria) -> PdqCriteria:
    """Blank values are no criterion; values are stripped."""
    changes: dict[str, Any] = {}
    for f in fields(criteria):
        value = getattr(criteria, f.name)
        if isinstance(value, str):
            changes[f.name] = value.strip() or None
    sid = criteria.identifier
    if sid is not None and not (sid.system.strip() and sid.value.strip()):
        changes["identifier"] = None
    return replace(criteria, **changes)


def _invalid_query() -> PixError:
    return PixError(
        "invalid_query",
        "查询至少需要一个条件，如患者标识、姓名、出生日期、性别、电话、地址或母亲姓名 (give at "
        "least one criterion: identifier, name, birth date, gender, phone, address or mother's "
        "maiden name)",
    )


# --- the continuation pointer ----------------------------------------------------------------


def _encode(
    search: PatientSearch,
    targets: tuple[str, ...] | None,
    page_size: int | None,
    at: _Position,
) -> str:
    body = {
        "v": CURSOR_VERSION, "q": search.to_plain(), "t": targets, "n": page_size,
        "k": at.key, "b": at.before,
    }  # fmt: skip
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def _decode(cursor: str) -> tuple[PatientSearch, tuple[str, ...] | None, int | None, _Position]:
    try:
        body = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if body["v"] != CURSOR_VERSION:
            raise ValueError("version")
        search = PatientSearch.from_plain(body["q"])
        targets = tuple(str(t) for t in body["t"]) if body["t"] is not None else None
        size = int(body["n"]) if body["n"] is not None else None
        return search, targets, size, _Position(str(body["k"]), bool(body["b"]))
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error, InvalidInputError):
        raise PixError(
            "invalid_cursor", "无法识别的续查指针 (unreadable continuation pointer)"
        ) from None


def _continued(
    cursor: str,
    search: PatientSearch | None,
    target_systems: Sequence[str] | None,
    page_size: int | None,
) -> tuple[PatientSearch, tuple[str, ...] | None, int | None, _Position]:
    """The query a cursor continues; a resent query (HL7 DSC, a FHIR page link's
    parameters) must be the same query."""
    query, targets, size, at = _decode(cursor)
    if search is not None and search != query:
        raise PixError(
            "invalid_cursor", "续查指针与查询条件不符 (the pointer belongs to another query)"
        )
    if target_systems and tuple(target_systems) != targets:
        raise PixError(
            "invalid_cursor", "续查指针与返回域不符 (the pointer belongs to other domains)"
        )
    return query, targets, page_size if page_size is not None else size, at
