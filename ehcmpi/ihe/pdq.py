"""PDQ Supplier semantics, protocol-neutral (IHE ITI TF-2 3.21; PDQm ITI-78).

The HL7 v2 adapter (ITI-21 ``QBP^Q22``, RULES 17–21) calls ``PdqSupplier.search`` with
``PdqCriteria``; the FHIR adapter (PDQm ITI-78 ``GET /Patient?…``, RULES 27) calls
``PdqSupplier.query`` with a ``core.search.PatientSearch``.  Both run ``_page``: one SQL
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
- continuation (RULES 21; FHIR R4 http paging): keyset paging from a stateless pointer
  (``ihe.pdq_cursor``); a patient registered or merged between two increments shifts no
  other, so each matching patient is returned exactly once;
- queries answered together (``query_each``: the FHIR lookups that reach a worker in the same
  turn of its loop) share a unit of work, and the identifiers they name are found in one
  round trip; each is still its own audited call with its own answer or error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ehcmpi.core.audit import AuditCall, AuditLog
from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.errors import DomainError
from ehcmpi.core.model import (
    SYSTEM_ACTOR,
    Actor,
    IdentifierKey,
    PatientRecord,
    SourceIdentifier,
)
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.query import identifier_key
from ehcmpi.core.search import (
    Condition,
    Field,
    IdentifierValue,
    PatientSearch,
    Value,
)
from ehcmpi.ihe.identifiers import (
    Identifier,
    check_targets,
    current_patient,
    locate_key,
    published_identifiers,
    recognised_systems,
    restricted,
)
from ehcmpi.ihe.pdq_criteria import criteria_search
from ehcmpi.ihe.pdq_cursor import Position, continued, encode
from ehcmpi.ihe.results import CrossReferences, PdqCriteria, PdqPage, PixError
from ehcmpi.terminology.systems import ARCHIVE_NUMBER_SYSTEM, EHC_ID_SYSTEM, MPI_ID_SYSTEM

#: A query without a page size returns every match at once, up to this many.
MAX_MATCHES = 1000
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


#: The keys of a query's identifiers (``core.query.identifier_key``) by (system, value).
Keys = dict[tuple[str, str], IdentifierKey | None]


@dataclass(frozen=True, slots=True)
class PdqQuery:
    """One caller's PDQ/PDQm query: ``PdqSupplier.query``'s arguments."""

    search: PatientSearch | None
    target_systems: Sequence[str] | None = None
    page_size: int | None = None
    cursor: str | None = None
    actor: Actor = SYSTEM_ACTOR


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
        query = PdqQuery(search, target_systems, page_size, cursor, actor)
        page = _raised(self._answer_each([query], publish=True)[0])
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
        return _raised(
            self.query_each([PdqQuery(search, target_systems, page_size, cursor, actor)])[0]
        )

    def query_each(self, queries: Sequence[PdqQuery]) -> list[SearchPage | DomainError]:
        """``query`` for several callers at once: the identifiers their searches name are
        found in one round trip, each query is its own audited call, and a refused one
        answers its error in its place."""
        return self._answer_each(queries, publish=False)

    def cancel(self, cursor: str | None) -> None:
        """Cancel a query (``QCN^J01``, RULES 21): stateless, so there is nothing to release."""

    def _answer_each(
        self, queries: Sequence[PdqQuery], *, publish: bool
    ) -> list[SearchPage | DomainError]:
        known = recognised_systems(self._domains)
        every = [*sorted(known), ARCHIVE_NUMBER_SYSTEM]  # what an id without a system may be
        actors = [q.actor for q in queries]
        with self._audit.calls(actors, "pdq-query") as calls, self._uow() as uow:
            keys = [_identifier_keys(q.search, every) for q in queries]
            uow.patients.find_each([k for each in keys for k in each.values() if k is not None])
            answers: list[SearchPage | DomainError] = []
            for query, call, named in zip(queries, calls, keys, strict=True):
                try:
                    page = self._page(uow, call, query, known, every, named, publish=publish)
                    answers.append(page)
                except DomainError as exc:
                    call.error = exc
                    answers.append(exc)
            return answers

    def _page(
        self,
        uow: UnitOfWork,
        call: AuditCall,
        query: PdqQuery,
        known: frozenset[str],
        every: Sequence[str],
        named: Keys,
        *,
        publish: bool,
    ) -> SearchPage:
        search, target_systems, page_size, cursor = (
            query.search, query.target_systems, query.page_size, query.cursor
        )  # fmt: skip
        at: Position | None = None
        if cursor is not None:
            search, target_systems, page_size, at = continued(
                cursor, search, target_systems, page_size
            )
        if search is None or (search.is_empty() and not target_systems):
            raise _invalid_query()  # the requested domains alone are a criterion too
        if page_size is not None and page_size < 1:
            raise PixError("invalid_query", "每页数量必须大于 0 (page size must be positive)")
        targets = check_targets(target_systems, known)
        rows = uow.patients.search_page(
            _resolved(uow, search, targets, every, named),
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
            return encode(search, targets, page_size, Position(key, before))

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


def _raised(answer: SearchPage | DomainError) -> SearchPage:
    if isinstance(answer, DomainError):
        raise answer
    return answer


# --- resolving a search ----------------------------------------------------------------------


def _resolved(
    uow: UnitOfWork,
    search: PatientSearch,
    targets: tuple[str, ...] | None,
    systems: Sequence[str],
    named: Keys,
) -> PatientSearch:
    """Identifiers → master-index IDs, the default ``active``, the requested domains.

    ``systems`` are those an identifier without a system is looked up in; ``named`` holds
    the keys of identifiers already worked out.
    """
    conditions = [
        Condition(Field.ID, tuple(sorted(_holders(uow, c.any_of, systems, named))))
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


def _holders(
    uow: UnitOfWork, values: Sequence[Value], every: Sequence[str], named: Keys
) -> set[str]:
    """The records the identifiers name, and the survivors of those merged away."""
    found: set[str] = set()
    for system, value in _named(values, every):
        pair = (system, value)
        key = named[pair] if pair in named else identifier_key(system, value)
        holder = locate_key(uow, system, value, key)
        if holder is None:
            continue
        found.add(holder)
        if system in _STAYING:
            survivor = current_patient(uow, holder)
            if survivor is not None:
                found.add(survivor.mpi_id)
    return found


def _named(values: Sequence[Value], every: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(system, value) of each identifier value: in its system, or in ``every`` without one."""
    for value in values:
        assert isinstance(value, IdentifierValue)
        for system in [value.system] if value.system is not None else every:
            if system:
                yield system, value.value


def _identifier_keys(search: PatientSearch | None, every: Sequence[str]) -> Keys:
    """What a search's identifiers are looked up by (``_holders``), to be asked together."""
    conditions = search.conditions if search is not None else ()
    return {
        (system, value): identifier_key(system, value)
        for c in conditions
        if c.field is Field.IDENTIFIER
        for system, value in _named(c.any_of, every)
    }


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


def _invalid_query() -> PixError:
    return PixError(
        "invalid_query",
        "查询至少需要一个条件，如患者标识、姓名、出生日期、性别、电话、地址或母亲姓名 (give at "
        "least one criterion: identifier, name, birth date, gender, phone, address or mother's "
        "maiden name)",
    )
