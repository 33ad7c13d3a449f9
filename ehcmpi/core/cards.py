"""Electronic health card accounts (guideline §4.2.2 电子健康卡管理: 账户信息/生命周期管理).

An account is issued with the patient's EHC ID on registration (``core.registration``, flows
§5.1.1, §5.2.2–§5.2.5) and follows its document on merge and split (``core.merge``).  Here it
lives its life::

    正常 normal ──suspend──▶ 暂停 suspended ──resume──▶ 正常 normal
       │                        │
       └────────cancel──────────┴──▶ 注销 cancelled (REVOKED)
    any state ──reissue──▶ 正常 normal, issued anew (codes made before are void)

Every change names a reason (resume may omit it) and is kept in the account's history with
who and when; a change is a compare-and-set on the stored status, so two operators changing
one card at once cannot both win.

A patient with no valid document (§5.1.6 信息缺失) has no EHC ID; on request it gets a
temporary card, the 电子就诊卡: an account of kind ``temporary`` whose ID is derived like an
EHC ID from the patient's archive number as an Appendix A "99 其他" document.  A re-issue may
also turn a temporary card into a formal one or back (``kind``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.card_types import AccountAction, AccountEvent
from ehcmpi.core.errors import ConflictError, InvalidInputError, NotFoundError
from ehcmpi.core.model import (
    Actor,
    EhcAccount,
    EhcAccountStatus,
    EhcCardKind,
    PatientStatus,
)
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.crypto.ports import CryptoProvider

Clock = Callable[[], dt.datetime]
TEMPORARY_DOC_TYPE = "99"
MAX_REASON = 500
Status = EhcAccountStatus

#: action → (states it may start from, the state it leads to)
TRANSITIONS: dict[AccountAction, tuple[frozenset[Status], Status]] = {
    AccountAction.SUSPEND: (frozenset({Status.NORMAL}), Status.SUSPENDED),
    AccountAction.RESUME: (frozenset({Status.SUSPENDED}), Status.NORMAL),
    AccountAction.CANCEL: (frozenset({Status.NORMAL, Status.SUSPENDED}), Status.REVOKED),
    AccountAction.REISSUE: (frozenset(Status), Status.NORMAL),
}
STATUS_NAMES = {Status.NORMAL: "正常", Status.SUSPENDED: "暂停", Status.REVOKED: "注销"}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _reason(reason: str | None, action: AccountAction) -> str | None:
    reason = (reason or "").strip() or None
    if reason is None and action not in (AccountAction.RESUME, AccountAction.ISSUE):
        raise InvalidInputError(
            f"{action.value} 须说明原因 (a reason is required)", location="reason"
        )
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInputError(
            f"原因过长 (reason too long, at most {MAX_REASON} characters)", location="reason"
        )
    return reason


class CardService:
    """Read, suspend, resume, cancel and re-issue EHC accounts; issue temporary cards."""

    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        crypto: CryptoProvider,
        audit: AuditLog,
        *,
        clock: Clock = _utcnow,
    ) -> None:
        self._uow = uow
        self._crypto = crypto
        self._audit = audit
        self._clock = clock

    # --- reading -------------------------------------------------------------------------

    def account(self, ehc_id: str) -> EhcAccount:
        with self._uow() as uow:
            found = uow.accounts.get(ehc_id.strip().upper())
        if found is None:
            raise NotFoundError(f"未知的电子健康卡 (unknown EHC card): {ehc_id}")
        return found

    def accounts_of(self, mpi_id: str) -> list[EhcAccount]:
        """A patient's cards; 404 when there is no such patient."""
        with self._uow() as uow:
            accounts = uow.cards.of_patient(mpi_id)
            if not accounts and uow.patients.get(mpi_id) is None:
                raise NotFoundError(f"患者不存在 (no such patient): {mpi_id}")
        return accounts

    def history(self, ehc_id: str) -> list[AccountEvent]:
        """The account's history, oldest first, starting with its issue.

        Accounts issued by registration carry no ``issue`` event of their own: it is
        reconstructed from the issue time (its actor is then ``registration``).
        """
        account = self.account(ehc_id)
        with self._uow() as uow:
            events = uow.cards.events(account.ehc_id)
        if events and events[0].action is AccountAction.ISSUE:
            return events
        issued = AccountEvent(
            account.ehc_id,
            AccountAction.ISSUE,
            None,
            Status.NORMAL,
            EhcCardKind.FORMAL,  # registration issues formal cards
            None,
            "registration",
            account.issued_at or _utcnow(),
        )
        return [issued, *events]

    # --- lifecycle -----------------------------------------------------------------------

    def suspend(self, ehc_id: str, reason: str | None, actor: Actor) -> EhcAccount:
        return self.change(ehc_id, AccountAction.SUSPEND, reason, actor)

    def resume(self, ehc_id: str, reason: str | None, actor: Actor) -> EhcAccount:
        return self.change(ehc_id, AccountAction.RESUME, reason, actor)

    def cancel(self, ehc_id: str, reason: str | None, actor: Actor) -> EhcAccount:
        return self.change(ehc_id, AccountAction.CANCEL, reason, actor)

    def reissue(
        self, ehc_id: str, reason: str | None, actor: Actor, kind: EhcCardKind | None = None
    ) -> EhcAccount:
        return self.change(ehc_id, AccountAction.REISSUE, reason, actor, kind=kind)

    def change(
        self,
        ehc_id: str,
        action: AccountAction,
        reason: str | None,
        actor: Actor,
        *,
        kind: EhcCardKind | None = None,
    ) -> EhcAccount:
        """Apply ``action`` if the account's current state allows it (409 otherwise)."""
        if action not in TRANSITIONS:
            raise InvalidInputError(f"未知的账户操作 (unknown account action): {action}")
        if kind is not None and action is not AccountAction.REISSUE:
            raise InvalidInputError(
                "只有补发可以改变卡类型 (only a reissue changes the card kind)", location="kind"
            )
        with self._audit.call(actor, f"ehc-{action.value}") as call:
            call.target = ehc_id[:64]
            checked = _reason(reason, action)
            current = self.account(ehc_id)
            allowed, target = TRANSITIONS[action]
            if current.status not in allowed:
                raise ConflictError(
                    f"电子健康卡当前为{STATUS_NAMES[current.status]}状态，不能{action.value} "
                    f"(card is {current.status.value}; cannot {action.value})"
                )
            now = self._clock()
            changed = EhcAccount(
                current.ehc_id,
                current.mpi_id,
                current.doc_type,
                target,
                kind or current.kind,
                now if action is AccountAction.REISSUE else current.issued_at,
            )
            with self._uow(write=True) as uow:
                if not uow.cards.change(changed, current.status):
                    raise ConflictError(
                        "电子健康卡状态已被他人修改，请重试 (the card changed meanwhile; retry)"
                    )
                uow.cards.add_event(
                    AccountEvent(
                        changed.ehc_id,
                        action,
                        current.status,
                        target,
                        changed.kind,
                        checked,
                        actor.name,
                        now,
                    )
                )
                uow.commit()
            call.detail = f"{current.status.value}->{target.value}"
            return changed

    def issue_temporary(self, mpi_id: str, reason: str | None, actor: Actor) -> EhcAccount:
        """Issue a 电子就诊卡 to a patient who has no EHC ID (no valid document yet)."""
        with self._audit.call(actor, "ehc-issue-temporary") as call:
            call.target = mpi_id
            checked = _reason(reason, AccountAction.ISSUE)
            now = self._clock()
            with self._uow(write=True) as uow:
                patient = uow.patients.get(mpi_id)
                if patient is None:
                    raise NotFoundError(f"患者不存在 (no such patient): {mpi_id}")
                if patient.status is not PatientStatus.ACTIVE:
                    raise ConflictError(
                        f"患者索引状态为 {patient.status.value}，不能发卡 (patient is not active)"
                    )
                if patient.ehc_id is not None:
                    raise ConflictError(
                        "患者已有正式电子健康卡 (the patient already has a formal EHC card)"
                    )
                number = patient.archive_no or patient.mpi_id
                account = EhcAccount(
                    self._crypto.ehc_id(mpi_id, TEMPORARY_DOC_TYPE, number),
                    mpi_id,
                    TEMPORARY_DOC_TYPE,
                    Status.NORMAL,
                    EhcCardKind.TEMPORARY,
                    now,
                )
                if not uow.accounts.add(account):
                    raise ConflictError(
                        "患者已有电子就诊卡 (the patient already has a temporary card)"
                    )
                uow.cards.add_event(
                    AccountEvent(
                        account.ehc_id,
                        AccountAction.ISSUE,
                        None,
                        Status.NORMAL,
                        EhcCardKind.TEMPORARY,
                        checked,
                        actor.name,
                        now,
                    )
                )
                uow.commit()
            call.detail = account.ehc_id[:32]
            return account
