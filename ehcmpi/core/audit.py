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
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from ehcmpi.core.batches import BatchWriter
from ehcmpi.core.errors import DomainError
from ehcmpi.core.model import Actor, AuditEntry
from ehcmpi.core.ports import UnitOfWork

log = logging.getLogger(__name__)

UnitOfWorkSource = Callable[..., UnitOfWork]


@dataclass(slots=True)
class AuditCall:
    """Filled in by the audited code: the record it touched, a short detail, and the refusal
    or failure it answered without raising (one of several calls answered together)."""

    target: str | None = None
    detail: str | None = None
    error: DomainError | None = None
    failed: bool = False


class AuditLog:
    """Buffers audit entries and writes them in batches (:class:`BatchWriter`)."""

    def __init__(
        self, uow: UnitOfWorkSource, *, interval: float = 0.2, max_batch: int = 500
    ) -> None:
        self._uow = uow
        self._writer: BatchWriter[AuditEntry] = BatchWriter(
            self._write, name="audit-writer", interval=interval, max_batch=max_batch
        )

    def _write(self, batch: Sequence[AuditEntry]) -> None:
        with self._uow(write=True) as uow:
            uow.audit.record(list(batch))
            uow.commit()

    def start(self) -> None:
        self._writer.start()

    def stop(self) -> None:
        self._writer.stop()

    def record(self, entry: AuditEntry) -> None:
        self._writer.add(entry)

    def flush(self) -> None:
        """Write every entry recorded so far, including one the writer thread is writing."""
        self._writer.flush()

    @contextmanager
    def calls(self, actors: Sequence[Actor], action: str) -> Iterator[list[AuditCall]]:
        """``call`` for several callers answered together: one entry each, timed together; a
        refusal answered without raising goes in that caller's ``AuditCall.error``."""
        with ExitStack() as stack:
            yield [stack.enter_context(self.call(actor, action)) for actor in actors]

    @contextmanager
    def call(self, actor: Actor, action: str) -> Iterator[AuditCall]:
        """Time the block and record its outcome: ``success``, the error code, or ``failure``."""
        started = time.perf_counter()
        at = dt.datetime.now(dt.UTC)
        call = AuditCall()
        outcome = "failure"
        try:
            yield call
            outcome = "failure" if call.failed else "success"
        except DomainError as exc:
            call.error = exc
            raise
        finally:
            if call.error is not None:
                outcome = f"error:{call.error.code}"
                call.detail = call.detail or call.error.message
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
