"""Rows written in batches by a background thread (guideline §4.1.1 调用审计, §4.2.3 记录).

The call audit and the QR generation/verification records must not cost a database round
trip on the hot path: callers hand entries to a :class:`BatchWriter`, whose thread writes them
every ``interval`` seconds or as soon as ``max_batch`` are waiting.  ``flush`` writes what is
pending (on shutdown, and in tests); without a running thread (CLI, tests) ``add`` writes at
once.  A failed write keeps its entries for the next attempt, at most ``max_pending`` of them,
so a database that stays away cannot exhaust memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class BatchWriter(Generic[T]):
    """Buffers entries of one kind and writes them with ``write(batch)`` in batches."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], None],
        *,
        name: str,
        interval: float = 0.2,
        max_batch: int = 500,
        max_pending: int = 200_000,
        idle: Callable[[], None] | None = None,
    ) -> None:
        self._write = write
        self._name = name
        self._interval = interval
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._idle = idle  # also run by the thread after each round (housekeeping)
        self._pending: list[T] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # flush() returns only after a concurrent one
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopped.clear()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def add(self, entry: T) -> None:
        with self._lock:
            self._pending.append(entry)
            full = len(self._pending) >= self._max_batch
        if self._thread is None:
            self.flush()  # no writer thread: write now
        elif full:
            self._wake.set()

    def flush(self) -> None:
        """Write every entry added so far, including a batch the writer thread is writing."""
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
            self._write(batch)
        except Exception:
            log.exception("%s: write failed; %d entries kept for a retry", self._name, len(batch))
            with self._lock:
                self._pending[:0] = batch
                del self._pending[self._max_pending :]
            return False
        return True

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()
            if self._idle is not None:
                try:
                    self._idle()
                except Exception:
                    log.exception("%s: housekeeping failed", self._name)
