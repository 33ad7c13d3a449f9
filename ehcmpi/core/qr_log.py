"""QR generation and verification records, written in batches (guideline §4.2.3).

Every generation and verification becomes a :class:`QrRecord` (terminal, care step, channel,
time, outcome).  Writing one row per verification in the verifying transaction would cost a
database round trip on the hot path, so records are buffered and written in batches by a
background thread, as the call audit does (``core.audit``); ``flush`` writes what is pending
(on shutdown, and in tests).  The verification-count limit does not depend on these records:
it is held by an atomic counter (``QrStore.use``), so a record written a moment later loses
nothing but latency.  The same thread forgets the counters of expired codes now and then.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence

from ehcmpi.core.batches import BatchWriter
from ehcmpi.core.card_types import QrRecord
from ehcmpi.core.ports import UnitOfWork

log = logging.getLogger(__name__)

#: Keep a counter this long after its code expired (clock skew between replicas).
PURGE_GRACE = dt.timedelta(minutes=10)
PURGE_EVERY_SECONDS = 60.0


class QrRecordLog:
    """Buffers QR records and writes them in batches; purges expired use counters."""

    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        *,
        interval: float = 0.2,
        max_batch: int = 1000,
        max_pending: int = 200_000,
    ) -> None:
        self._uow = uow
        self._last_purge = 0.0
        self._writer: BatchWriter[QrRecord] = BatchWriter(
            self._write,
            name="qr-records",
            interval=interval,
            max_batch=max_batch,
            max_pending=max_pending,
            idle=self._purge_now_and_then,
        )

    def _write(self, batch: Sequence[QrRecord]) -> None:
        with self._uow(write=True) as uow:
            uow.qr_records.add(list(batch))
            uow.commit()

    def start(self) -> None:
        self._writer.start()

    def stop(self) -> None:
        self._writer.stop()

    def record(self, entry: QrRecord) -> None:
        self._writer.add(entry)

    def flush(self) -> None:
        """Write every record so far, including a batch the writer thread is writing."""
        self._writer.flush()

    def purge(self, now: dt.datetime | None = None) -> int:
        """Forget the use counters of codes that expired more than ``PURGE_GRACE`` ago."""
        before = (now or dt.datetime.now(dt.UTC)) - PURGE_GRACE
        with self._uow(write=True) as uow:
            count = uow.qr_records.purge_uses(before)
            uow.commit()
        return count

    def _purge_now_and_then(self) -> None:
        if time.monotonic() - self._last_purge > PURGE_EVERY_SECONDS:
            self._last_purge = time.monotonic()
            self.purge()
