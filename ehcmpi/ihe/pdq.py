"""PDQ Supplier semantics, protocol-neutral (IHE ITI TF-2 3.21; PDQm ITI-78).

The HL7 v2 adapter (ITI-21 ``QBP^Q22``, RULES 17–21) and the FHIR adapter (PDQm ITI-78
``GET /Patient?…``, RULES 27) call ``PdqSupplier.search``:

- criteria (RULES 18): identifier, name (Chinese characters or pinyin, by prefix), birth date,
  gender (GB/T 2261.1), phone, address; every criterion given must hold and every exact match is
  returned (guideline §4.1.2 索引查询 模糊查询 does the name/date/gender/phone part);
- What Domains Returned (QPD-8, RULES 19): the published identifiers are restricted to those
  domains and a patient left without any is omitted (Case 2); an unknown domain is an error
  listing its ordinals (Case 3);
- continuation (RULES 21): the cursor is an opaque string that carries the query and where the
  last page ended, so no server keeps state (DESIGN.md: replicas behind a load balancer) and
  ``cancel`` (``QCN^J01``) has nothing to release.  Patients are ordered by master-index ID
  and the cursor holds the last one returned (keyset): a patient registered or merged between
  two increments shifts no other, so each matching patient is returned exactly once.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields, replace
from typing import Any

import orjson

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.links import LinkState
from ehcmpi.core.model import (
    SYSTEM_ACTOR,
    Actor,
    Address,
    FuzzyQuery,
    PatientRecord,
    SourceIdentifier,
)
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.ihe.pix import (
    check_targets,
    current_patient,
    locate,
    published_identifiers,
    recognised_systems,
    record_identifiers,
    restricted,
)
from ehcmpi.ihe.results import CrossReferences, PdqCriteria, PdqPage, PixError
from ehcmpi.terminology.pinyin import has_cjk, pinyin_key, split_chinese_name

#: More matches than this are refused ("refine the query") rather than paged.
MAX_MATCHES = 1000
CURSOR_VERSION = 1


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
        """One page of the patients matching ``criteria`` (RULES 18–21, 27).

        With a ``cursor`` the next increment of the query it encodes is returned; ``criteria``
        and ``target_systems`` may then be None (a FHIR page link), or must repeat the query
        (an HL7 continuation resends QPD).  ``page_size`` None returns every match at once.
        """
        after: str | None = None
        if cursor is not None:
            criteria, target_systems, page_size, after = _continued(
                cursor, criteria, target_systems, page_size
            )
        if criteria is None:
            raise _invalid_query()
        criteria = _cleaned(criteria)
        if page_size is not None and page_size < 1:
            raise PixError("invalid_query", "每页数量必须大于 0 (page size must be positive)")
        with self._audit.call(actor, "pdq-query") as call, self._uow() as uow:
            targets = check_targets(target_systems, recognised_systems(self._domains))
            matches = [
                p
                for p in _publishing(uow, _candidates(uow, criteria), targets)
                if _holds(p, criteria)
            ]
            rest = [p for p in matches if after is None or p.mpi_id > after]
            page = rest if page_size is None else rest[:page_size]
            call.detail = f"{len(matches)} matches"
            more = len(page) < len(rest)
            return PdqPage(
                patients=[
                    CrossReferences(p, restricted(published_identifiers(uow, p), targets), True)
                    for p in page
                ],
                next_cursor=(
                    _encode(criteria, targets, page_size, page[-1].mpi_id) if more else None
                ),
                total=len(matches),
                remaining=len(rest) - len(page),
            )

    def cancel(self, cursor: str | None) -> None:
        """Cancel a query (``QCN^J01``, RULES 21): stateless, so there is nothing to release."""


# --- finding candidates --------------------------------------------------------------------


def _candidates(uow: UnitOfWork, criteria: PdqCriteria) -> list[PatientRecord]:
    """Active records that may match: by identifier, else by the indexed demographics."""
    if criteria.identifier is not None:
        sid = criteria.identifier
        patient = current_patient(uow, locate(uow, sid.system, sid.value))
        return [patient] if patient is not None else []
    query = FuzzyQuery(
        name=_name_prefix(criteria),
        birth_date=criteria.birth_date,
        gender=criteria.gender,
        phone=criteria.phone,
        limit=MAX_MATCHES + 1,
    )
    if query.is_empty():
        raise _invalid_query()
    found = uow.patients.search(query)
    if len(found) > MAX_MATCHES:
        raise PixError(
            "too_many_matches",
            f"匹配的患者超过 {MAX_MATCHES} 名，请增加查询条件 (too many matches; refine the query)",
        )
    return sorted(found, key=lambda p: p.mpi_id)


def _publishing(
    uow: UnitOfWork, patients: list[PatientRecord], targets: tuple[str, ...] | None
) -> list[PatientRecord]:
    """Patients with at least one identifier in the requested domains (RULES 19 Case 2)."""
    if targets is None:
        return patients  # every patient has its master-index ID at least
    kept = []
    for patient in patients:
        own = restricted(record_identifiers(patient), targets)
        sourced = any(s.system in targets for s in patient.source_ids) and any(
            state is LinkState.MATCH and identifier.system in targets
            for identifier, state in uow.links.linked_identifiers(patient.mpi_id)
        )
        if own or sourced:
            kept.append(patient)
    return kept


# --- matching criteria ---------------------------------------------------------------------


def _name_prefix(criteria: PdqCriteria) -> str | None:
    """The prefix the name index can take: a full name, family + given, or the family name."""
    if criteria.name:
        return criteria.name
    family, given = criteria.family, criteria.given
    if family and given:
        return family + given if has_cjk(family + given) else f"{family} {given}"
    return family


def _holds(patient: PatientRecord, c: PdqCriteria) -> bool:
    """Every criterion given holds for the patient (the identifier was used to find it)."""
    d = patient.demographics
    prefix = _name_prefix(c)
    return (
        (prefix is None or _starts(d.name, prefix))
        and (c.given is None or c.family is not None or _given_starts(d.name, c.given))
        and (c.birth_date is None or d.birth_date == c.birth_date)
        and (c.gender is None or d.gender == c.gender)
        and (c.phone is None or c.phone in d.phones)
        and (not _has_address_criteria(c) or any(_address_holds(a, c) for a in d.addresses))
    )


def _starts(name: str | None, prefix: str) -> bool:
    """Prefix in characters, or in pinyin when typed in Latin letters (as the name index)."""
    if not name:
        return False
    key = "" if has_cjk(prefix) else pinyin_key(prefix)
    return pinyin_key(name).startswith(key) if key else name.startswith(prefix)


def _given_starts(name: str | None, given: str) -> bool:
    """A given name alone: the part after a Chinese surname, or any word of a Latin name."""
    if not name:
        return False
    if has_cjk(name):
        return _starts(split_chinese_name(name)[1], given)
    return any(word.startswith(given.lower()) for word in name.lower().split())


def _has_address_criteria(c: PdqCriteria) -> bool:
    return any((c.address, c.city, c.district, c.postal_code))


def _address_holds(a: Address, c: PdqCriteria) -> bool:
    text = " ".join(p for p in (a.text, a.state, a.city, a.district, a.line, a.country) if p)
    return (
        (c.address is None or c.address in text)
        and (c.city is None or (a.city or "").startswith(c.city) or c.city in (a.text or ""))
        and (
            c.district is None
            or (a.district or "").startswith(c.district)
            or c.district in (a.text or "")
        )
        and (c.postal_code is None or a.postal_code == c.postal_code)
    )


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
        "查询至少需要以下条件之一：患者标识、姓名、出生日期、性别、电话 (give an identifier, "
        "name, birth date, gender or phone)",
    )


# --- the continuation pointer --------------------------------------------------------------


def _encode(
    criteria: PdqCriteria, targets: tuple[str, ...] | None, page_size: int | None, after: str
) -> str:
    query = asdict(criteria)
    if criteria.birth_date is not None:
        query["birth_date"] = criteria.birth_date.isoformat()
    body = {"v": CURSOR_VERSION, "q": query, "t": targets, "n": page_size, "a": after}
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def _decode(cursor: str) -> tuple[PdqCriteria, tuple[str, ...] | None, int | None, str]:
    try:
        body = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if body["v"] != CURSOR_VERSION:
            raise ValueError("version")
        query = dict(body["q"])
        sid = query.get("identifier")
        if sid:
            query["identifier"] = SourceIdentifier(str(sid["system"]), str(sid["value"]))
        born = query.get("birth_date")
        query["birth_date"] = dt.date.fromisoformat(born) if born else None
        targets = tuple(str(t) for t in body["t"]) if body["t"] is not None else None
        size = int(body["n"]) if body["n"] is not None else None
        return PdqCriteria(**query), targets, size, str(body["a"])
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise PixError(
            "invalid_cursor", "无法识别的续查指针 (unreadable continuation pointer)"
        ) from None


def _continued(
    cursor: str,
    criteria: PdqCriteria | None,
    target_systems: Sequence[str] | None,
    page_size: int | None,
) -> tuple[PdqCriteria, tuple[str, ...] | None, int | None, str]:
    """The query a cursor continues; a resent query (HL7 DSC) must be the same query."""
    query, targets, size, after = _decode(cursor)
    if criteria is not None and _cleaned(criteria) != query:
        raise PixError(
            "invalid_cursor", "续查指针与查询条件不符 (the pointer belongs to another query)"
        )
    if target_systems and tuple(target_systems) != targets:
        raise PixError(
            "invalid_cursor", "续查指针与返回域不符 (the pointer belongs to other domains)"
        )
    return query, targets, page_size if page_size is not None else size, after
