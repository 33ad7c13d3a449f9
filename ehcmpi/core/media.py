"""Media bindings: 多卡（码）协同管理 (guideline §4.4 介质与电子健康卡 ID 的绑定关系, §4.4.2).

A patient comes with several media: the 居民身份证 and other Appendix A documents and the EHC
ID are part of the master-index record itself; a social-security card (社保卡, by card
number) and a medical-insurance e-voucher (医保电子凭证, by the voucher's own ID — its QR code
changes every time) are *bound* to the patient here.  A binding has a lifetime: bound by
someone at some time, possibly ended (unbound, or moved to the verified owner); ended bindings
stay as the medium's history.

At most one active binding per medium (kind + number): the database enforces it (a unique
index on the blind index of active bindings), so binding is insert-on-conflict, never
check-then-insert.  Medium numbers are personal data: stored encrypted with a blind index
(§6.3), like document numbers.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.errors import CancelledError, ConflictError, InvalidInputError, NotFoundError
from ehcmpi.core.model import Actor, PatientRecord, PatientStatus
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.terminology.validators import normalize_number

SOCIAL_SECURITY_CARD = "social-security-card"
INSURANCE_VOUCHER = "insurance-voucher"
#: kind → (Chinese name, English name)
BINDABLE = {
    SOCIAL_SECURITY_CARD: ("社会保障卡", "social-security card"),
    INSURANCE_VOUCHER: ("医保电子凭证", "medical-insurance e-voucher"),
}
_NUMBER = re.compile(r"[0-9A-Z]{4,64}")
MAX_ATTEMPTS = 8
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True, slots=True)
class MediaBinding:
    """One binding of a medium to a patient, active while ``ended_at`` is None."""

    id: str
    kind: str
    value: str
    mpi_id: str
    ehc_id: str | None
    verified: bool
    bound_at: dt.datetime
    bound_by: str
    reason: str | None = None
    ended_at: dt.datetime | None = None
    ended_by: str | None = None
    end_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.ended_at is None


class BadMediumError(InvalidInputError):
    """The medium itself is unusable: unknown kind, missing or malformed value, bad QR."""

    code = "invalid-medium"


def medium_number(kind: str, value: str) -> str:
    """The normalised number of a bindable medium; ``InvalidInputError`` when it cannot be one."""
    if kind not in BINDABLE:
        kinds = ", ".join(BINDABLE)
        raise BadMediumError(
            f"不支持绑定的介质类型 '{kind}'，可选 {kinds} (medium kind cannot be bound)",
            location="medium",
        )
    number = normalize_number(value)
    if not _NUMBER.fullmatch(number):
        zh, en = BINDABLE[kind]
        raise BadMediumError(
            f"{zh}号码格式错误，应为4至64位字母或数字 ({en} number: expected 4 to 64 letters or "
            "digits)",
            location="value",
        )
    return number


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _patient(uow: UnitOfWork, mpi_id: str) -> PatientRecord:
    patient = uow.patients.get(mpi_id.upper())
    if patient is None:
        raise NotFoundError(f"患者索引 {mpi_id} 不存在 (no such patient)")
    if patient.status is PatientStatus.CANCELLED:
        raise CancelledError(f"患者索引 {mpi_id} 已注销 (index cancelled)")
    if patient.status is PatientStatus.MERGED:
        raise ConflictError(
            f"患者索引 {mpi_id} 已合并到 {patient.parent_id} (index merged; use the survivor)"
        )
    return patient


#: A chain of merges longer than this is a data error, not a patient.
MAX_MERGE_DEPTH = 32


def family(uow: UnitOfWork, mpi_id: str) -> list[str]:
    """``mpi_id`` and every record merged into it, directly or through others (§4.1.1
    索引合并): their media are the survivor's media — the reader already resolves a medium
    bound to a merged record to its survivor."""
    found, frontier = [mpi_id], [mpi_id]
    for _ in range(MAX_MERGE_DEPTH):
        frontier = [r for s in frontier for r in uow.links.merged_into(s) if r not in found]
        if not frontier:
            break
        found += frontier
    return found


class MediaService:
    """Bind, unbind and list media; every call is in the call audit (§4.1.1)."""

    def __init__(
        self, uow: Callable[..., UnitOfWork], audit: AuditLog, *, clock: Clock = utcnow
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._clock = clock

    def find(self, kind: str, value: str) -> MediaBinding | None:
        """The active binding of a medium, if any (no audit: the reader audits its call)."""
        number = medium_number(kind, value)
        with self._uow() as uow:
            return uow.media.find_active(kind, number)

    def bind(
        self,
        mpi_id: str,
        kind: str,
        value: str,
        actor: Actor,
        *,
        verified: bool,
        reason: str | None = None,
        move: bool = False,
    ) -> tuple[MediaBinding, bool]:
        """Bind a medium to a patient: (the binding, whether this call wrote it).

        Binding it again to the same patient changes nothing (a verification is recorded).
        A medium bound to someone else is a conflict, unless ``move``: the reader moves it
        when the external system has verified who owns it; the old binding then ends.
        """
        number = medium_number(kind, value)
        with self._audit.call(actor, "bind-medium") as call:
            call.target, call.detail = mpi_id, kind
            for _ in range(MAX_ATTEMPTS):
                with self._uow(write=True) as uow:
                    found = self._bind(uow, mpi_id, kind, number, actor, verified, reason, move)
                    if found is not None:
                        uow.commit()
                        call.detail = f"{kind} {'bound' if found[1] else 'unchanged'}"
                        return found
            raise ConflictError("并发绑定冲突，请重试 (binding kept conflicting; retry)")

    def _bind(
        self,
        uow: UnitOfWork,
        mpi_id: str,
        kind: str,
        number: str,
        actor: Actor,
        verified: bool,
        reason: str | None,
        move: bool,
    ) -> tuple[MediaBinding, bool] | None:
        patient = _patient(uow, mpi_id)
        now = self._clock()
        current = uow.media.find_active(kind, number)
        if current is not None and current.mpi_id in family(uow, patient.mpi_id):
            if verified and not current.verified:
                uow.media.mark_verified(current.id)
                return replace(current, verified=True), True
            return current, False
        if current is not None:
            if not move:
                zh, en = BINDABLE[kind]
                raise ConflictError(
                    f"该{zh}已绑定到患者 {current.mpi_id}，请先解绑 ({en} is bound to another "
                    "patient; unbind it first)"
                )
            why = f"moved to {patient.mpi_id} (verified owner)"
            if not uow.media.end(current.id, now, actor.name, why):
                return None
        binding = MediaBinding(
            id=secrets.token_hex(16),
            kind=kind,
            value=number,
            mpi_id=patient.mpi_id,
            ehc_id=patient.ehc_id,
            verified=verified,
            bound_at=now,
            bound_by=actor.name,
            reason=reason,
        )
        return (binding, True) if uow.media.add(binding) else None

    def unbind(
        self, mpi_id: str, kind: str, value: str, actor: Actor, *, reason: str | None = None
    ) -> MediaBinding:
        """End the patient's active binding of this medium; 404 when there is none."""
        number = medium_number(kind, value)
        with self._audit.call(actor, "unbind-medium") as call, self._uow(write=True) as uow:
            call.target, call.detail = mpi_id, kind
            current = uow.media.find_active(kind, number)
            if current is None or current.mpi_id not in family(uow, mpi_id.upper()):
                zh, en = BINDABLE[kind]
                raise NotFoundError(
                    f"患者 {mpi_id} 未绑定此{zh} (this {en} is not bound to the patient)"
                )
            now = self._clock()
            if not uow.media.end(current.id, now, actor.name, reason):
                raise ConflictError("绑定已被并发解除 (the binding was ended concurrently)")
            uow.commit()
            return replace(current, ended_at=now, ended_by=actor.name, end_reason=reason)

    def of_patient(
        self, mpi_id: str, actor: Actor, *, history: bool = False
    ) -> tuple[PatientRecord, list[MediaBinding]]:
        """The patient and their bindings — with those of records merged into it — oldest
        first; ended ones too with ``history``."""
        with self._audit.call(actor, "list-media") as call, self._uow() as uow:
            call.target = mpi_id
            patient = uow.patients.get(mpi_id.upper())
            if patient is None:
                raise NotFoundError(f"患者索引 {mpi_id} 不存在 (no such patient)")
            found = [
                binding
                for holder in family(uow, patient.mpi_id)
                for binding in uow.media.of_patient(holder, include_ended=history)
            ]
            return patient, sorted(found, key=lambda b: (b.bound_at, b.id))
