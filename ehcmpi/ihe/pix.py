"""PIX Manager semantics, protocol-neutral (IHE ITI TF-2 3.8, 3.9, 3.30; PIXm ITI-83).

The HL7 v2 adapter (ITI-8 / ITI-30 feeds, ITI-9 queries) and the FHIR adapter (PIXm ITI-83
``$ihe-pix``, ITI-104) call the same methods here; the transaction rules they implement are
numbered in ``conformance/RULES.md``:

- ``feed`` — ITI-8 A01/A04/A05/A08 and ITI-30 A28/A31 (RULES 13–14): the source record is
  registered in FEED mode; registration is idempotent, updates a known source record, matches
  and keeps the golden record's demographics by survivorship (guideline §4.1.1).
- ``merge`` — ITI-8 / ITI-30 A40 (RULES 15): the subsumed identifier's golden record is merged
  into the surviving one's, then the subsumed source record is removed, so that the "old" id is
  never referenced again (TF-2 3.8.4.2.3).
- ``cross_references`` — ITI-9 (RULES 5–10) and ITI-83 (RULES 24–25).
- ``owner`` / ``remove`` — PIXm ITI-104 (RULES 26): the golden record a source identifier is
  linked to (the match of a conditional update or delete), and Remove Patient: the source
  record is deleted, so that ITI-83 and ITI-9 never return the identifier again.

Publication policy (RULES 10, 25): only source records linked as MATCH are published; a
POSSIBLE_MATCH waiting for review is not.  A golden record merged away (guideline §4.1.1
索引合并) answers for its survivor (``parent_id``); a cancelled one (§4.1.2 索引注销) is not
found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.errors import ConflictError
from ehcmpi.core.linking import Linker
from ehcmpi.core.links import LinkEvent, LinkOrigin, LinkState, SourceRecord
from ehcmpi.core.maintenance import save_version
from ehcmpi.core.merge import MergeService
from ehcmpi.core.model import (
    SYSTEM_ACTOR,
    Actor,
    PatientRecord,
    PatientStatus,
    RegistrationMode,
    RegistrationRequest,
    RegistrationResult,
    SourceIdentifier,
)
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.registration import Clock, RegistrationService, utcnow
from ehcmpi.core.together import each_prepared
from ehcmpi.ihe.identifiers import (
    check_targets,
    current_patient,
    locate,
    normalised,
    published_identifiers,
    recognised_systems,
    restricted,
)
from ehcmpi.ihe.results import CrossReferences, PixError

# --- the manager ---------------------------------------------------------------------------


class PixManager:
    """PIX Manager (ITI TF-1 5; TF-2 3.8, 3.9, 3.30) over the index's services."""

    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        registration: RegistrationService,
        merges: MergeService,
        linker: Linker,
        domains: DomainRegistry,
        audit: AuditLog,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._uow = uow
        self._registration = registration
        self._merges = merges
        self._linker = linker
        self._domains = domains
        self._audit = audit
        self._clock = clock

    # -- ITI-8 / ITI-30 feed ----------------------------------------------------------------

    def feed(self, request: RegistrationRequest, actor: Actor) -> RegistrationResult:
        """Create or update source records (ITI-8 A01/A04/A05/A08, ITI-30 A28/A31; RULES 13–14).

        Every source identifier must be in a configured domain: PID-3.4 missing is filled by
        the adapter from the sending application's domain before calling (RULES 13).
        """
        return self._registration.register(self._fed(request), actor)

    def feed_each(
        self, asked: Sequence[tuple[RegistrationRequest, Actor]]
    ) -> list[RegistrationResult | Exception]:
        """``feed`` of several messages that arrived together, their new patients in one
        transaction (``RegistrationService.register_each``): one answer each, in order, the
        refusal (``PixError``, ``DomainError``) or failure in place of a result."""
        return each_prepared(
            asked, lambda pair: (self._fed(pair[0]), pair[1]),
            self._registration.register_each, PixError,
        )  # fmt: skip

    def _fed(self, request: RegistrationRequest) -> RegistrationRequest:
        """The feed's registration, once each identifier is known to be in a domain."""
        if not request.source_ids:
            raise PixError(
                "missing_id", "身份源消息缺少患者标识 (PID-3) (feed without a patient identifier)"
            )
        for identifier in request.source_ids:
            self._require_domain(identifier)
        return replace(request, mode=RegistrationMode.FEED)

    # -- ITI-8 / ITI-30 A40 merge -----------------------------------------------------------

    def merge(
        self,
        surviving: SourceIdentifier,
        subsumed: SourceIdentifier,
        actor: Actor,
        *,
        transaction: str = "ITI-8 A40",
    ) -> PatientRecord:
        """Merge ``subsumed`` (MRG-1) into ``surviving`` (PID-3): ITI-8/ITI-30 A40, RULES 15.

        The manager "replaces every internal reference to MRG-1 by PID-3" (TF-2 3.8.4.2.3):
        when both are known and their golden records differ, the subsumed one's golden record
        is merged into the surviving one's (an operator's decision, origin MANUAL); the
        subsumed source record is then removed (never returned again, no longer counted for
        survivorship, a link event kept).  When only the subsumed id is known, its source
        record is renamed to the surviving id.  Returns the surviving golden record.
        """
        with self._audit.call(actor, "pix-merge") as call, self._uow(write=True) as uow:
            call.detail = f"{subsumed.system}|{subsumed.value} -> {surviving.value}"
            self._require_domain(surviving)
            if subsumed.system != surviving.system:
                raise PixError(
                    "domain_mismatch",
                    "MRG-1 与 PID-3 的标识域不同 (MRG-1.4 must be the assigning authority of "
                    "PID-3.4)",
                )
            if subsumed.value == surviving.value:
                raise PixError("same_id", "不能将标识合并到自身 (cannot merge an id into itself)")
            old = uow.links.get_source(subsumed)
            if old is None:
                raise PixError(
                    "unknown_id",
                    f"被合并的患者标识不存在 (subsumed patient identifier not found): "
                    f"{subsumed.value}",
                )
            kept = uow.links.get_source(surviving)
            reason = f"{transaction}: {subsumed.value} -> {surviving.value}"
            if kept is None:
                mpi_id = self._rename(uow, old, surviving, actor, reason)
            else:
                mpi_id = self._subsume(uow, kept, old, actor, reason)
            patient = self._linker.refresh(uow, _reload(uow, mpi_id), actor)
            self._linker.notifier.changed(uow, patient.mpi_id)  # ITI-10 (RULES 16)
            call.target = patient.mpi_id
            uow.commit()
            return patient

    # -- PIXm ITI-104 -----------------------------------------------------------------------

    def owner(self, identifier: SourceIdentifier) -> str | None:
        """The golden record a source identifier (configured domain) is linked to, or None:
        what an ITI-104 conditional update or delete matches (RULES 26)."""
        self._require_domain(identifier)
        with self._uow() as uow:
            return uow.patients.find_by_source(identifier)

    def remove(self, identifier: SourceIdentifier, actor: Actor) -> PatientRecord | None:
        """ITI-104 Remove Patient (PIXm 2:3.104.4.3.3, RULES 26): delete the source record.

        It is never returned to a PIX query again (an UNLINK event stays as history); the
        golden record, which may hold documents, an EHC ID and other systems' ids, stays and
        gets a version without it, survivorship and an ITI-10 notification.  Returns the
        golden record; None when the identifier was not held (nothing to remove).
        """
        with self._audit.call(actor, "pix-remove") as call, self._uow(write=True) as uow:
            call.detail = f"{identifier.system}|{identifier.value}"
            self._require_domain(identifier)
            source = uow.links.get_source(identifier)
            if source is None or not uow.links.remove_source(identifier):
                return None
            reason = f"ITI-104 remove: {identifier.value}"
            self._event(uow, "UNLINK", identifier, source.mpi_id, LinkState.NO_MATCH, actor,
                        reason)  # fmt: skip
            current = _reload(uow, source.mpi_id)
            kept = tuple(s for s in current.source_ids if s != identifier)
            patient = save_version(uow, current, current.with_changes(source_ids=kept),
                                   "remove-source", actor, self._clock())  # fmt: skip
            if patient.status is PatientStatus.ACTIVE:
                patient = self._linker.refresh(uow, patient, actor)
            self._linker.notifier.changed(uow, patient.mpi_id)  # ITI-10 (RULES 16)
            call.target = patient.mpi_id
            uow.commit()
            return patient

    def link(self, first: SourceIdentifier, second: SourceIdentifier, actor: Actor) -> None:
        """ITI-30 A24 (Link/Unlink option, RULES 22): the two ids are one person — their
        golden records are merged (origin MANUAL: the source system decided)."""
        with self._audit.call(actor, "pix-link") as call, self._uow(write=True) as uow:
            a, b = self._known(uow, first), self._known(uow, second)
            call.target = a.mpi_id
            if a.mpi_id != b.mpi_id:
                self._merges.merge_in(uow, a.mpi_id, b.mpi_id, actor,
                                      f"ITI-30 A24: {first.value} ~ {second.value}",
                                      LinkOrigin.MANUAL)  # fmt: skip
            uow.commit()

    def unlink(self, first: SourceIdentifier, second: SourceIdentifier, actor: Actor) -> None:
        """ITI-30 A37: the ids are two people — the second one's record is split off."""
        with self._audit.call(actor, "pix-unlink") as call, self._uow(write=True) as uow:
            a, b = self._known(uow, first), self._known(uow, second)
            call.target = a.mpi_id
            if a.mpi_id == b.mpi_id:
                self._merges.split_in(uow, a.mpi_id, second, actor,
                                      f"ITI-30 A37: {first.value} / {second.value}")  # fmt: skip
            uow.commit()

    def _known(self, uow: UnitOfWork, identifier: SourceIdentifier) -> SourceRecord:
        self._require_domain(identifier)
        source = uow.links.get_source(identifier)
        if source is None:
            raise PixError("unknown_id", f"患者标识不存在 (patient identifier not found): "
                                         f"{identifier.value}")  # fmt: skip
        return source

    def _subsume(
        self, uow: UnitOfWork, kept: SourceRecord, old: SourceRecord, actor: Actor, reason: str
    ) -> str:
        if old.mpi_id != kept.mpi_id:
            self._merges.merge_in(uow, kept.mpi_id, old.mpi_id, actor, reason, LinkOrigin.MANUAL)
        uow.links.remove_source(old.identifier)
        self._event(uow, "UNLINK", old.identifier, kept.mpi_id, LinkState.NO_MATCH, actor, reason)
        return kept.mpi_id

    def _rename(
        self,
        uow: UnitOfWork,
        old: SourceRecord,
        surviving: SourceIdentifier,
        actor: Actor,
        reason: str,
    ) -> str:
        if not uow.links.add_source(replace(old, identifier=surviving)):
            raise ConflictError("并发合并冲突，请重试 (the merge conflicted; retry)")
        uow.links.remove_source(old.identifier)
        self._event(uow, "LINK", surviving, old.mpi_id, old.state, actor, reason)
        self._event(uow, "UNLINK", old.identifier, old.mpi_id, LinkState.NO_MATCH, actor, reason)
        return old.mpi_id

    def _event(
        self,
        uow: UnitOfWork,
        kind: str,
        identifier: SourceIdentifier,
        mpi_id: str,
        state: LinkState,
        actor: Actor,
        reason: str,
    ) -> None:
        now: dt.datetime = self._clock()
        from_id = None if kind == "LINK" else mpi_id
        uow.links.add_event(
            LinkEvent(
                kind, identifier, from_id, mpi_id, state, LinkOrigin.MANUAL, actor.name, now, reason
            )
        )

    # -- ITI-9 / ITI-83 query ---------------------------------------------------------------

    def cross_references(
        self,
        identifier: SourceIdentifier,
        target_systems: Sequence[str] | None = None,
        *,
        actor: Actor = SYSTEM_ACTOR,
    ) -> CrossReferences:
        """The patient's identifiers in other domains (ITI-9 RULES 5–10, ITI-83 RULES 24–25).

        Errors, in this order: the queried id's domain is unknown (``unknown_source_domain``,
        Case 4), a target domain is unknown (``unknown_target_domain`` with ordinals, Case 5),
        the id is unknown in its domain or its record cancelled (``unknown_id``, Case 3).
        The queried identifier itself is never in the answer (RULES 5, 24); nothing left to
        publish is ``found=False`` (Case 2, ``NF``).
        """
        with self._audit.call(actor, "pix-query") as call, self._uow() as uow:
            call.detail = identifier.system
            recognised = recognised_systems(self._domains)
            if identifier.system not in recognised:
                raise PixError(
                    "unknown_source_domain",
                    "未知的患者标识域 (sourceIdentifier Assigning Authority not found): "
                    f"{identifier.system}",
                )
            targets = check_targets(target_systems, recognised)
            # One round trip: the holder is read with the identifier that finds it, and a
            # hospital id's link state comes with the record (``linked_identifiers``).
            holder = locate(uow, identifier.system, identifier.value)
            patient = current_patient(uow, holder)
            if patient is None or holder is None:
                raise PixError(
                    "unknown_id",
                    "患者标识不存在 (sourceIdentifier Patient Identifier not found): "
                    f"{identifier.value}",
                )
            call.target = patient.mpi_id
            queried = normalised(identifier.system, identifier.value)
            state = dict(uow.links.linked_identifiers(holder)).get(SourceIdentifier(*queried))
            if state is not None and state is not LinkState.MATCH:
                return CrossReferences(patient, [], found=False)  # not yet decided (RULES 10)
            identifiers = [
                i for i in restricted(published_identifiers(uow, patient), targets) if i != queried
            ]
            return CrossReferences(patient, identifiers, found=bool(identifiers))

    def _require_domain(self, identifier: SourceIdentifier) -> None:
        if self._domains.by_system(identifier.system) is None:
            raise PixError(
                "unknown_domain",
                f"未配置的标识域 (identifier domain not configured): {identifier.system}",
            )


def _reload(uow: UnitOfWork, mpi_id: str) -> PatientRecord:
    patient = uow.patients.get(mpi_id)
    if patient is None:
        raise ConflictError(f"患者索引 {mpi_id} 不存在 (no such patient)")
    return patient
