"""Repository ports of the electronic health card services (guideline §4.2 电子健康卡服务,
§4.4 多卡（码）协同): accounts and their history, reader terminals and client apps, QR records
and use counters, media bindings.  Implemented in ``storage``; part of the unit of work of
:mod:`ehcmpi.core.ports`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from ehcmpi.core.card_types import (
    AccountEvent,
    ClientApp,
    DeviceStatus,
    QrLookup,
    QrRecord,
    QrUse,
    ReaderTerminal,
    RecordQuery,
    SummaryKey,
    SummaryRow,
)
from ehcmpi.core.model import EhcAccount, EhcAccountStatus

if TYPE_CHECKING:  # core.media imports this module
    from ehcmpi.core.media import MediaBinding


class MediaRepository(Protocol):
    """Media bound to patients (``core.media``): numbers encrypted, found by blind index."""

    def find_active(self, kind: str, value: str) -> MediaBinding | None: ...

    def add(self, binding: MediaBinding) -> bool:
        """Insert an active binding; False, writing nothing, if the medium is bound already."""
        ...

    def end(self, binding_id: str, at: dt.datetime, actor: str, reason: str | None) -> bool:
        """End an active binding; False when it was not active any more."""
        ...

    def mark_verified(self, binding_id: str) -> None: ...

    def of_patient(self, mpi_id: str, *, include_ended: bool) -> list[MediaBinding]:
        """A patient's bindings, oldest first."""
        ...


class CardRepository(Protocol):
    """EHC account lifecycle (guideline §4.2.2): a patient's accounts, state changes, history."""

    def of_patient(self, mpi_id: str) -> list[EhcAccount]: ...

    def change(self, account: EhcAccount, expected: EhcAccountStatus) -> bool:
        """Write status, kind and issue time if the stored status is still ``expected``."""
        ...

    def add_event(self, event: AccountEvent) -> None: ...

    def events(self, ehc_id: str) -> list[AccountEvent]:
        """The account's history, oldest first."""
        ...


class TerminalRepository(Protocol):
    """Reader terminals and client applications (§4.2.1 识读终端管理, 客户端应用软件管理)."""

    def add_terminal(self, terminal: ReaderTerminal) -> bool:
        """False, writing nothing, when the code is taken."""
        ...

    def save_terminal(self, terminal: ReaderTerminal) -> None: ...

    def get_terminal(self, code: str) -> ReaderTerminal | None: ...

    def terminals(
        self, status: DeviceStatus | None = None, org_code: str | None = None
    ) -> list[ReaderTerminal]: ...

    def add_app(self, app: ClientApp, secret_digest: bytes) -> bool:
        """False, writing nothing, when the app id is taken."""
        ...

    def save_app(self, app: ClientApp, secret_digest: bytes | None = None) -> None: ...

    def get_app(self, app_id: str) -> tuple[ClientApp, bytes] | None:
        """The app and its secret digest."""
        ...

    def apps(self, status: DeviceStatus | None = None) -> list[ClientApp]: ...


class QrRecordRepository(Protocol):
    """QR generation and verification records (§4.2.3), their query and summary."""

    def add(self, records: Sequence[QrRecord]) -> None: ...

    def query(self, query: RecordQuery) -> list[QrRecord]:
        """Matching records, newest first."""
        ...

    def summary(
        self, since: dt.datetime, until: dt.datetime, key: SummaryKey, utc_offset_hours: int
    ) -> list[SummaryRow]: ...

    def purge_uses(self, before: dt.datetime) -> int:
        """Forget the use counters of dynamic codes that expired before ``before``."""
        ...


class QrStore(Protocol):
    """The verification hot path, outside a unit of work (``core.qr``)."""

    def lookup(self, terminal: str, ehc_id: str | None, use: QrUse | None = None) -> QrLookup:
        """The terminal's state and the account; with ``use``, and if the terminal is active
        and the account normal, count one use of the code atomically — never beyond
        ``use.max_uses``, however many verify it at once."""
        ...
