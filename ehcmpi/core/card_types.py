"""Value types of the electronic health card service (guideline §4.2 电子健康卡服务).

Plain frozen dataclasses shared by the services (``cards``, ``terminals``, ``qr``), the
repository ports and their storage adapters: account history (§4.2.2), reader terminals and
client applications (§4.2.1), QR generation and verification records (§4.2.3).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from ehcmpi.core.model import EhcAccount, EhcAccountStatus, EhcCardKind


class AccountAction(StrEnum):
    """What happened to an account (§4.2.2 账户生命周期管理)."""

    ISSUE = "issue"  # 发卡
    SUSPEND = "suspend"  # 暂停
    RESUME = "resume"  # 恢复
    CANCEL = "cancel"  # 注销
    REISSUE = "reissue"  # 补发 / 重新发卡 (codes made before are void)


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """One entry of an account's history: the state change, why, who, when."""

    ehc_id: str
    action: AccountAction
    from_status: EhcAccountStatus | None
    to_status: EhcAccountStatus
    kind: EhcCardKind
    reason: str | None
    actor: str
    at: dt.datetime


class DeviceStatus(StrEnum):
    """A reader terminal's or a client application's state: refused when disabled."""

    ACTIVE = "active"
    DISABLED = "disabled"


class TerminalType(StrEnum):
    """Kinds of 识读终端."""

    SCANNER = "scanner"  # 扫码枪 / 扫码盒 at a counter
    KIOSK = "kiosk"  # 自助机
    HANDHELD = "handheld"  # 移动护理 PDA
    DESKTOP = "desktop"  # 医生工作站读卡器
    GATE = "gate"  # 闸机 / 分诊叫号
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ReaderTerminal:
    """识读终端: ``code`` = organisation code ‖ 4-digit department code ‖ optional serial."""

    code: str
    org_code: str
    dept_code: str
    name: str
    type: TerminalType
    location: str | None
    status: DeviceStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class ClientApp:
    """客户端应用软件 (an app, a mini program, a self-service system) and its state.

    The secret is never held here: the repository keeps only its keyed digest.
    """

    app_id: str
    name: str
    status: DeviceStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    updated_by: str


class QrEvent(StrEnum):
    GENERATE = "generate"
    VERIFY = "verify"


#: The outcome recorded for a successful generation or verification.
OK = "ok"


@dataclass(frozen=True, slots=True)
class QrRecord:
    """One generation or verification (§4.2.3 二维码的生成和验证记录).

    ``outcome`` is ``"ok"`` or a verification reason (``QrVerification.reason``).
    """

    at: dt.datetime
    event: QrEvent
    outcome: str
    channel: str
    actor: str
    ehc_id: str | None = None
    mpi_id: str | None = None
    dynamic: bool | None = None
    terminal: str | None = None
    app: str | None = None
    care_step: str | None = None


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Filters for the record query; every given field must match."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    event: QrEvent | None = None
    terminal: str | None = None
    ehc_id: str | None = None
    outcome: str | None = None
    failures_only: bool = False
    limit: int = 100


class SummaryKey(StrEnum):
    """How records are grouped for the summary."""

    DAY = "day"
    TERMINAL = "terminal"
    OUTCOME = "outcome"
    CARE_STEP = "care-step"
    CHANNEL = "channel"


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """Counts of one group: generations, verifications, and how many of those failed."""

    key: str
    generated: int
    verified: int
    verified_ok: int
    failed: int


@dataclass(frozen=True, slots=True)
class QrUse:
    """One use of a dynamic code to count: its counter key, expiry and use limit."""

    code_key: str
    expires_at: dt.datetime
    max_uses: int


@dataclass(frozen=True, slots=True)
class QrLookup:
    """What a verification reads: the terminal's state, the account, and — when a use was
    asked for, the terminal is active and the account normal — whether it was counted
    (False: the code had its maximum already)."""

    terminal: DeviceStatus | None
    account: EhcAccount | None
    counted: bool | None = None
