"""Registrations that arrive together share one transaction (guideline §4.1.2 索引注册, §4.4.1
建档; flows §5.1.1, §5.1.4).

A server answers many registrations at once.  Each in its own transaction costs a ``BEGIN``,
three round trips to the database and a ``COMMIT`` — on a loaded machine more CPU than the
rows themselves.  Registrations that arrived together (``RegistrationService.register_each``)
are answered so:

1. each request is checked; a refusal is its own answer and touches nothing;
2. a request naming a document or identifier that an earlier one of the group also names
   waits for the group (so that it finds the record the earlier one creates: registration
   stays idempotent within a group);
3. the others share one transaction: the owners of all their identifiers and the matcher's
   candidates for all of them are read in one round trip, before any write — exactly what
   each would have read in a transaction of its own running at the same moment;
4. each is then registered as ``register`` would: added to the record its identifiers or
   the matcher name, or created — its rows sent with the ``COMMIT`` (one round trip for all
   the new records, ``PatientRepository.insert_new``: a key taken meanwhile fails it);
5. a request whose identifiers name two records, or whose only documents fail their check,
   registers on its own after the group, as does every request of a group whose shared
   transaction failed (a key taken or a record changed by another writer meanwhile, a
   refusal such as a cancelled record): then each gets exactly ``register``'s answer, and its
   lost-race handling.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ehcmpi.core.audit import AuditCall
from ehcmpi.core.documents import (
    CheckedDocuments,
    derived_demographics,
    identifier_keys,
)
from ehcmpi.core.errors import DomainError
from ehcmpi.core.linking import Linker, auto_link
from ehcmpi.core.matching.online import Candidate, CandidateSearch
from ehcmpi.core.model import (
    Actor,
    Demographics,
    IdentifierKey,
    RegistrationRequest,
    RegistrationResult,
)
from ehcmpi.core.ports import UnitOfWork

if TYPE_CHECKING:
    from ehcmpi.core.registration import RegistrationService

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Item:
    index: int
    request: RegistrationRequest
    actor: Actor
    checked: CheckedDocuments
    demographics: Demographics
    search: CandidateSearch | None
    keys: list[IdentifierKey]


def register_together(
    service: RegistrationService,
    requests: Sequence[tuple[RegistrationRequest, Actor]],
    calls: Sequence[AuditCall],
) -> list[RegistrationResult | Exception]:
    """One answer per request, in order (see the module's docstring); a refusal or failure
    is also noted in the request's audited call."""
    answers: list[RegistrationResult | Exception | None] = [None] * len(requests)
    items: list[_Item] = []
    for index, (request, actor) in enumerate(requests):
        try:
            checked = service.check(request)
        except DomainError as exc:
            answers[index] = calls[index].error = exc
            continue
        demographics = derived_demographics(request.demographics, checked.documents)
        linker = service.linker
        search = linker.search(demographics, checked.documents) if linker else None
        keys = identifier_keys(checked, request)
        items.append(_Item(index, request, actor, checked, demographics, search, keys))
    group, waiting = _apart(items)
    registered = _register_group(service, group) if group else {}
    for index, result in registered.items():
        answers[index] = result
    for item in [i for i in group if i.index not in registered] + waiting:
        try:
            answers[item.index] = service.register_checked(item.request, item.checked, item.actor)
        except DomainError as exc:
            answers[item.index] = calls[item.index].error = exc
        except Exception as exc:  # the caller answers it (HTTP 500, HL7 AE); the rest go on
            answers[item.index] = exc
            calls[item.index].failed = True
    return [a for a in answers if a is not None]


def _apart(items: list[_Item]) -> tuple[list[_Item], list[_Item]]:
    """The items that share no identifier with an earlier one, and those that do."""
    seen: set[IdentifierKey] = set()
    group: list[_Item] = []
    waiting: list[_Item] = []
    for item in items:
        (waiting if seen.intersection(item.keys) else group).append(item)
        seen.update(item.keys)
    return group, waiting


def _register_group(
    service: RegistrationService, group: list[_Item]
) -> dict[int, RegistrationResult]:
    """Register, in one transaction, the items it can: their results by index; nothing (and
    the transaction rolled back) if anything failed or changed meanwhile."""
    try:
        with service.unit_of_work() as uow:
            results: dict[int, RegistrationResult] = {}
            for owner, item, best in _plans(uow, service.linker, group):
                args = (item.demographics, item.checked, item.request, item.actor)
                result = service.register_with(
                    uow, owner or None, best, *args, keys_free=True, search=item.search
                )
                if result is None:
                    raise _Changed(owner)
                results[item.index] = result
            uow.commit()
            return results
    except Exception:  # a key taken, a record changed, a refusal: each on its own instead
        log.debug("registrations together fell back to one at a time", exc_info=True)
        return {}


def _plans(
    uow: UnitOfWork, linker: Linker | None, group: list[_Item]
) -> list[tuple[str, _Item, Candidate | None]]:
    """The group's reads, before any write: for each item it can register, the record to add
    it to (``""``: a new one) and the matcher's best candidate — the owners of every
    identifier and the candidates' keys in one round trip, the candidates' records in one
    more.  Records to change come first, by ID, then the new ones by identifier: two groups
    in two processes take their locks in the same order."""
    for item in group:
        if linker and item.search:
            linker.expect(uow, item.search)
    found = uow.patients.find_each([key for item in group for key in item.keys])
    owned: list[tuple[str, _Item]] = []
    at = 0
    for item in group:
        owners, at = set(found[at : at + len(item.keys)]), at + len(item.keys)
        owners.discard(None)
        if len(owners) > 1 or (item.checked.documents and not item.checked.valid):
            continue  # identifiers of two records, or a failing number: alone
        owned.append((str(next(iter(owners), "")), item))
    searched = [(i, s) for o, i in owned if not o and (s := i.search) is not None]
    bests: dict[int, Candidate | None] = {}
    if linker and searched:
        found_best = linker.best_each(uow, [s for _, s in searched])
        bests = {i.index: b for (i, _), b in zip(searched, found_best, strict=True)}
    plans = []
    for owner, item in owned:
        best = bests.get(item.index)
        matched = auto_link(best)
        plans.append((owner or (matched.patient.mpi_id if matched else ""), item, best))
    plans.sort(key=lambda p: (not p[0], p[0], [(k.scope, k.value) for k in p[1].keys]))
    return plans


class _Changed(Exception):
    """A record the group read changed before the group wrote it."""
