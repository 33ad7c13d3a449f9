"""The outbox (DESIGN.md "Nothing is lost"; IHE ITI TF-2 3.10 PIX Update Notification).

A change of a patient's cross-references (a source record linked, moved, merged, split)
writes one row per interested consumer in the same transaction; a sender delivers them
later, with retries and exponential backoff, so a consumer that is down gets every
notification once it is back and a server restart loses none.  A claimed row is hidden
from other senders for ``CLAIM_SECONDS`` (several server processes may send).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from ehcmpi.core.model import OutboxItem
from ehcmpi.core.ports import UnitOfWork

__all__ = ["CLAIM_SECONDS", "Notifier", "OutboxItem", "backoff"]

CLAIM_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 300.0


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures: 1, 2, 4 … up to 5 minutes."""
    return float(min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1)))


class Notifier:
    """Writes notifications for the configured consumers (none configured: nothing)."""

    def __init__(self, consumers: Sequence[str], clock: Callable[[], dt.datetime]) -> None:
        self.consumers = tuple(consumers)
        self._clock = clock

    def changed(self, uow: UnitOfWork, *mpi_ids: str) -> None:
        """The cross-references of these golden records changed: tell every consumer."""
        if not self.consumers:
            return
        now = self._clock()
        for mpi_id in dict.fromkeys(mpi_ids):
            for consumer in self.consumers:
                uow.outbox.add(consumer, mpi_id, now)
