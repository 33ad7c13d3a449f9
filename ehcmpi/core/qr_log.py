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
import threading
import time
from collections.abc import Callable

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
        self._interval = interval
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._pending: list[QrRecord] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_purge = 0.0

    def start(self) -> None:
        if self._thread is None:
            self._stopped.clear()
            self._thread = threading.Thread(target=self._run, name="qr-records", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def record(self, entry: QrRecord) -> None:
        with self._lock:
            self._pending.append(entry)
            full = len(self._pending) >= self._max_batch
        if self._thread is None:
            self.flush()  # no writer thread (CLI, tests): write now
        elif full:
            self._wake.set()

    def flush(self) -> None:
        """Write every record so far, including a batch the writer thread is writing."""
        with self._flushing:
            while self._flush_batch():
                pass

    def _flush_batch(self) -> bool:
        with self._lock:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
        if not batch:
            return False
        try:
            with self._uow(write=True) as uow:
                uow.qr_records.add(batch)
                uow.commit()
        except Exception:
            log.exception("QR record write failed; %d records kept for a retry", len(batch))
            with self._lock:
                self._pending[:0] = batch
                # Bounded: a database that stays away must not exhaust memory.
                del self._pending[self._max_pending :]
            return False
        return True

    def purge(self, now: dt.datetime | None = None) -> int:
        """Forget the use counters of codes that expired more than ``PURGE_GRACE`` ago."""
        before = (now or dt.datetime.now(dt.UTC)) - PURGE_GRACE
        with self._uow(write=True) as uow:
            count = uow.qr_records.purge_uses(before)
            uow.commit()
        return count

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()
            if time.monotonic() - self._last_purge > PURGE_EVERY_SECONDS:
                self._last_purge = time.monotonic()
                try:
                    self.purge()
                except Exception:
                    log.exception("purging expired QR use counters failed")
