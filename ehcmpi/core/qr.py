"""EHC QR codes: generation and verification (guideline §4.2.3 二维码管理; flows §5.1.2, §5.2.3).

The code's format and seal are :mod:`ehcmpi.core.qr_format`.

Verification (验码) answers a :class:`QrVerification`: the patient and EHC ID, or one precise
reason.  A dynamic code is refused once ``dynamic_ttl_seconds`` have passed since it was made
(``expired``), once it was verified ``max_verifications`` times (``used_up``; an atomic counter
in the database holds the limit exactly across threads, processes and replicas), and when it
was made before the card was last re-issued (``expired``).  Codes made for one card within
the same second are the same code and share their count.  Static codes neither expire nor
wear out; both kinds are refused when the account is suspended or cancelled.  Every
generation and verification is recorded (``core.qr_log``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from ehcmpi.core.card_ports import QrStore
from ehcmpi.core.card_types import (
    OK,
    DeviceStatus,
    QrEvent,
    QrRecord,
    QrUse,
    RecordQuery,
    SummaryKey,
    SummaryRow,
)
from ehcmpi.core.errors import ConflictError, DomainError, InvalidInputError, NotFoundError
from ehcmpi.core.model import Actor, EhcAccount, EhcAccountStatus, EhcCardKind
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.qr_format import (
    CODE_KINDS,
    KIND_CODES,
    ParsedCode,
    code_key,
    parse,
    seal_block,
    unsealed_time,
)
from ehcmpi.core.qr_log import QrRecordLog
from ehcmpi.core.terminals import TerminalRegistry
from ehcmpi.crypto.ports import CryptoProvider

Clock = Callable[[], dt.datetime]
CHANNEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
#: 诊疗环节: where in the visit a code is generated or verified.
CARE_STEPS = {
    "registration": "挂号",
    "triage": "分诊",
    "consultation": "就诊",
    "examination": "检查",
    "laboratory": "检验",
    "pharmacy": "取药",
    "payment": "缴费",
    "admission": "入院",
    "discharge": "出院",
    "public-health": "公共卫生服务",
    "other": "其他",
}

#: reason → message (Chinese first, English in parentheses)
MESSAGES = {
    "expired": "二维码已过期，请刷新 (QR code expired; refresh it)",
    "reissued": "二维码生成于电子健康卡补发之前，已失效 (QR code made before the card was "
    "re-issued)",
    "used_up": "二维码已达最大验证次数，请刷新 (QR code used up; refresh it)",
    "suspended": "电子健康卡已暂停使用 (electronic health card suspended)",
    "cancelled": "电子健康卡已注销 (electronic health card cancelled)",
    "unknown": "未知的电子健康卡 (unknown electronic health card)",
    "tampered": "二维码内容无效或被篡改 (QR code invalid or tampered with)",
    "kind": "二维码卡类型与电子健康卡不符 (card type in the QR code does not match the card)",
    "terminal_unknown": "识读终端未登记 (reader terminal not registered)",
    "terminal_disabled": "识读终端已停用 (reader terminal disabled)",
    "malformed": "二维码格式错误，应为 EHCID:类型[:动态码] (malformed QR code; expected "
    "EHCID:type[:seal])",
}
OK_MESSAGE = "验证通过 (verified)"


@dataclass(frozen=True, slots=True)
class QrVerification:
    """The answer to 验码: ``ok`` with the patient and EHC ID, or a precise ``reason``.

    ``reason`` is one of ``expired``, ``used_up``, ``suspended``, ``cancelled``, ``unknown``,
    ``tampered``, ``terminal_unknown``, ``terminal_disabled``, ``malformed``.
    """

    ok: bool
    reason: str | None
    message: str
    mpi_id: str | None = None
    ehc_id: str | None = None


@dataclass(frozen=True, slots=True)
class QrCode:
    """A generated code: its text, the card, and until when a dynamic code is good."""

    text: str
    ehc_id: str
    mpi_id: str
    kind: EhcCardKind
    dynamic: bool
    generated_at: dt.datetime
    expires_at: dt.datetime | None
    max_verifications: int | None


@dataclass(frozen=True, slots=True)
class QrPolicy:
    """``[qr]`` settings: lifetime and use limit of dynamic codes (0 uses: unlimited)."""

    dynamic_ttl_seconds: int = 120
    max_verifications: int = 3
    clock_skew_seconds: int = 30
    report_utc_offset_hours: int = 8


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_context(care_step: str | None, channel: str) -> str:
    """The channel in lower case; caller errors (not verification outcomes) for an unknown
    care step or a bad channel."""
    channel = channel.strip().lower()
    if care_step is not None and care_step not in CARE_STEPS:
        raise InvalidInputError(
            f"未知的诊疗环节 (unknown care step) {care_step!r}; 可选 (one of): "
            + ", ".join(CARE_STEPS),
            location="careStep",
        )
    if not CHANNEL.fullmatch(channel):
        raise InvalidInputError(
            f"渠道须为 1–32 位小写字母、数字、点、下划线或连字符 (channel must be 1–32 lower-case "
            f"letters, digits, '.', '_' or '-'): {channel!r}",
            location="channel",
        )
    return channel


def _refused(
    reason: str, account: EhcAccount | None = None, message: str | None = None
) -> QrVerification:
    mpi_id, ehc_id = (account.mpi_id, account.ehc_id) if account else (None, None)
    return QrVerification(False, reason, message or MESSAGES[reason], mpi_id, ehc_id)


class CardUnusableError(ConflictError):
    """The card cannot have a code now (suspended, cancelled, none): 409."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class UnknownCardError(NotFoundError):
    """No account with this EHC ID: 404."""

    reason = "unknown"


class QrService:
    """Generate codes for a patient's card; verify codes scanned at reader terminals."""

    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        store: QrStore,
        crypto: CryptoProvider,
        records: QrRecordLog,
        registry: TerminalRegistry,
        policy: QrPolicy,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._uow = uow
        self._store = store
        self._crypto = crypto
        self.records = records
        self._registry = registry
        self.policy = policy
        self._clock = clock

    # --- verification (验码) ---------------------------------------------------------------

    def verify(
        self, text: str, *, terminal: str, care_step: str, channel: str, actor: Actor
    ) -> QrVerification:
        """Verify a scanned code at ``terminal`` during ``care_step``; record the outcome.

        Raises ``InvalidInputError`` only for the caller's own mistakes (unknown care step,
        bad channel); everything about the code or the terminal is a ``QrVerification``.
        """
        channel = check_context(care_step, channel)
        parsed = parse(text)
        result, dynamic = self._verify(parsed, terminal), parsed is not None and bool(parsed.seal)
        self.records.record(
            QrRecord(
                at=self._clock(),
                event=QrEvent.VERIFY,
                outcome=OK if result.ok else str(result.reason),
                channel=channel,
                actor=actor.name,
                ehc_id=result.ehc_id or (parsed.ehc_id if parsed else None),
                mpi_id=result.mpi_id,
                dynamic=dynamic if parsed else None,
                terminal=terminal[:64],
                care_step=care_step,
            )
        )
        return result

    def _verify(self, parsed: ParsedCode | None, terminal: str) -> QrVerification:
        problem, made = self._read(parsed)
        use = None
        if parsed is not None and made is not None and problem is None:
            use = self._use(parsed, made)
        known = parsed is not None and problem != "tampered"
        looked = self._store.lookup(terminal, parsed.ehc_id if known and parsed else None, use)
        if looked.terminal is None:
            return _refused("terminal_unknown")
        if looked.terminal is not DeviceStatus.ACTIVE:
            return _refused("terminal_disabled")
        account = looked.account
        if problem is not None or parsed is None:
            return _refused(problem or "malformed", account)
        if account is None:
            return _refused("unknown")
        if account.status is EhcAccountStatus.SUSPENDED:
            return _refused("suspended", account)
        if account.status is EhcAccountStatus.REVOKED:
            return _refused("cancelled", account)
        if CODE_KINDS[parsed.type] is not account.kind:
            return _refused("tampered", account, MESSAGES["kind"])
        issued = account.issued_at.replace(microsecond=0) if account.issued_at else None
        if made is not None and issued is not None and made < issued:
            return _refused("expired", account, MESSAGES["reissued"])
        if use is not None and not looked.counted:
            return _refused("used_up", account)
        return QrVerification(True, None, OK_MESSAGE, account.mpi_id, account.ehc_id)

    def _read(self, parsed: ParsedCode | None) -> tuple[str | None, dt.datetime | None]:
        """What the code alone says: malformed, tampered, expired (or nothing), and its time."""
        if parsed is None:
            return "malformed", None
        if parsed.seal is None:
            return None, None
        made = self._unsealed(parsed)
        now = self._clock()
        if made is None or made > now + dt.timedelta(seconds=self.policy.clock_skew_seconds):
            return "tampered", None
        if now - made > dt.timedelta(seconds=self.policy.dynamic_ttl_seconds):
            return "expired", made
        return None, made

    def _unsealed(self, parsed: ParsedCode) -> dt.datetime | None:
        """The seal's time under the current protect key, else under an older one: a code
        made just before ``keys rotate --protect`` still opens (None: no key opens it)."""
        assert parsed.seal is not None
        crypto, ehc_id, kind = self._crypto, parsed.ehc_id, parsed.type
        made = unsealed_time(crypto.qr_unseal(parsed.seal), ehc_id, kind)
        if made is not None:
            return made
        older = crypto.qr_unseal_candidates(parsed.seal)[1:]
        return next((t for b in older if (t := unsealed_time(b, ehc_id, kind))), None)

    def _use(self, parsed: ParsedCode, made: dt.datetime) -> QrUse | None:
        """The use to count for a dynamic code (None: no limit configured)."""
        if self.policy.max_verifications == 0:
            return None
        expires = made + dt.timedelta(seconds=self.policy.dynamic_ttl_seconds)
        key = code_key(parsed.ehc_id, parsed.type, made)
        return QrUse(key, expires, self.policy.max_verifications)

    # --- generation ----------------------------------------------------------------------

    def generate(
        self,
        *,
        channel: str,
        actor: Actor,
        mpi_id: str | None = None,
        ehc_id: str | None = None,
        dynamic: bool = True,
        care_step: str | None = None,
        terminal: str | None = None,
        app: str | None = None,
        app_secret: str | None = None,
    ) -> QrCode:
        """A code for the patient's card (by ``mpi_id``) or for one card (by ``ehc_id``).

        A patient's normal formal card is preferred over a temporary one.  ``app`` (with its
        secret) or ``terminal`` name where the code is shown; either must be registered and
        active.  Refused (and recorded) when the card is suspended or cancelled.
        """
        channel = check_context(care_step, channel)
        if (mpi_id is None) == (ehc_id is None):
            raise InvalidInputError("须且仅须给出患者或电子健康卡 ID (give a patient or an EHC ID)")
        if app is not None:
            self._registry.authenticate(app, app_secret or "")
        if terminal is not None and self._registry.terminal(terminal).status is not (
            DeviceStatus.ACTIVE
        ):
            raise ConflictError(MESSAGES["terminal_disabled"])
        now = self._clock().replace(microsecond=0)
        outcome, account = OK, None
        try:
            account = self._card(mpi_id, ehc_id)
            code = self._code(account, dynamic, now)
        except DomainError as exc:
            outcome = getattr(exc, "reason", exc.code)
            raise
        finally:
            self.records.record(
                QrRecord(
                    at=now,
                    event=QrEvent.GENERATE,
                    outcome=outcome,
                    channel=channel,
                    actor=actor.name,
                    ehc_id=account.ehc_id if account else ehc_id,
                    mpi_id=account.mpi_id if account else mpi_id,
                    dynamic=dynamic,
                    terminal=terminal,
                    app=app,
                    care_step=care_step,
                )
            )
        return code

    def _code(self, account: EhcAccount, dynamic: bool, now: dt.datetime) -> QrCode:
        type_code = KIND_CODES[account.kind]
        text = f"{account.ehc_id}:{type_code}"
        expires = max_uses = None
        if dynamic:
            seal = self._crypto.qr_seal(seal_block(now, account.ehc_id, type_code))
            text += ":" + seal.hex().upper()
            expires = now + dt.timedelta(seconds=self.policy.dynamic_ttl_seconds)
            max_uses = self.policy.max_verifications or None
        return QrCode(
            text, account.ehc_id, account.mpi_id, account.kind, dynamic, now, expires, max_uses
        )

    def _card(self, mpi_id: str | None, ehc_id: str | None) -> EhcAccount:
        with self._uow() as uow:
            if ehc_id is not None:
                found = uow.accounts.get(ehc_id.upper())
                accounts = [found] if found else []
            else:
                accounts = uow.cards.of_patient(str(mpi_id))
            if not accounts:
                if ehc_id is not None:
                    raise UnknownCardError(MESSAGES["unknown"])
                if uow.patients.get(str(mpi_id)) is None:
                    raise NotFoundError(f"患者不存在 (no such patient): {mpi_id}")
                raise CardUnusableError(
                    "unknown", "患者尚无电子健康卡 (the patient has no EHC card)"
                )
        usable = [a for a in accounts if a.status is EhcAccountStatus.NORMAL]
        usable.sort(key=lambda a: a.kind is not EhcCardKind.FORMAL)
        if usable:
            return usable[0]
        if any(a.status is EhcAccountStatus.SUSPENDED for a in accounts):
            raise CardUnusableError("suspended", MESSAGES["suspended"])
        raise CardUnusableError("cancelled", MESSAGES["cancelled"])

    # --- records (§4.2.3 分析和查询) -----------------------------------------------------

    def query(self, query: RecordQuery) -> list[QrRecord]:
        self.records.flush()
        with self._uow() as uow:
            return uow.qr_records.query(query)

    def summary(self, since: dt.datetime, until: dt.datetime, key: SummaryKey) -> list[SummaryRow]:
        self.records.flush()
        with self._uow() as uow:
            return uow.qr_records.summary(since, until, key, self.policy.report_utc_offset_hours)
