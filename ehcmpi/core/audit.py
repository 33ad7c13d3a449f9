"""Call audit (guideline §4.1.1 索引服务调用审计; §6.2 操作审计).

Every service call — who, what, when, outcome, duration — becomes an ``AuditEntry``.  Entries
are buffered and written in batches by a background thread so that a lookup stays a read-only
transaction; ``flush`` writes what is pending (called on shutdown, and by tests).  Changes to
patients themselves are not audited this way but versioned in the same transaction as the
change (see ``PatientVersion``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ehcmpi.core.errors import DomainError
from ehcmpi.core.model import Actor, AuditEntry
from ehcmpi.core.ports import UnitOfWork

log = logging.getLogger(__name__)

UnitOfWorkSource = Callable[..., UnitOfWork]


@dataclass(slots=True)
class AuditCall:
    """Filled in by the audited code: the record it touched and a short detail."""

    target: str | None = None
    detail: str | None = None


class AuditLog:
    """Buffers audit entries and writes them in batches."""

    def __init__(
        self, uow: UnitOfWorkSource, *, interval: float = 0.2, max_batch: int = 500
    ) -> None:
        self._uow = uow
        self._interval = interval
        self._max_batch = max_batch
        self._pending: list[AuditEntry] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # flush() returns only after a concurrent one
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def record(self, entry: AuditEntry) -> None:
        with self._lock:
            self._pending.append(entry)
            full = len(self._pending) >= self._max_batch
        if full or self._thread is None:
            self._wake.set()
            if self._thread is None:
                self.flush()

    def flush(self) -> None:
        """Write every entry recorded so far, including one the writer thread is writing."""
        with self._flushing:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            with self._uow(write=True) as uow:
                uow.audit.record(batch)
                uow.commit()
        except Exception:
            log.exception("audit write failed; %d entries kept for the next attempt", len(batch))
            with self._lock:
                self._pending[:0] = batch

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()

    @contextmanager
    def call(self, actor: Actor, action: str) -> Iterator[AuditCall]:
        """Time the block and record its outcome: ``success``, the error code, or ``failure``."""
        started = time.perf_counter()
        at = dt.datetime.now(dt.UTC)
        call = AuditCall()
        outcome = "failure"
        try:
            yield call
            outcome = "success"
        except DomainError as exc:
            outcome = f"error:{exc.code}"
            call.detail = call.detail or exc.message
            raise
        finally:
            self.record(
                AuditEntry(
                    at=at,
                    actor=actor.name,
                    channel=actor.channel,
                    action=action,
                    outcome=outcome,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    target=call.target,
                    detail=call.detail,
                )
            )
