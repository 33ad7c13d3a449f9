"""Delivering the outbox to PIX Consumers over MLLP (IHE ITI TF-2 3.10 PIX Update Notification).

A task in each server process claims due outbox rows (``core.outbox``; claimed rows are
hidden from the other processes), builds each message from the patient's *current*
cross-references, sends it with the MLLP client and waits for the consumer's ACK: AA or CA
marks the row delivered; anything else — refused connection, timeout, AE/AR — records the
error and retries after an exponential backoff.  Rows live in the database, so a consumer
that is down, or a server restart, loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import ssl
from collections.abc import Callable, Sequence

from ehcmpi.core.model import OutboxItem
from ehcmpi.core.outbox import CLAIM_SECONDS, backoff
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.hl7v2.ack import reply_codes
from ehcmpi.hl7v2.mllp import send
from ehcmpi.settings import ConsumerSettings

log = logging.getLogger(__name__)
#: builds the message for one item; None when there is nothing to send (patient gone)
Build = Callable[[OutboxItem, ConsumerSettings], bytes | None]
BATCH = 50


class NotificationSender:
    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        consumers: Sequence[ConsumerSettings],
        build: Build,
        *,
        interval: float = 1.0,
        timeout: float = 10.0,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._uow = uow
        self._consumers = {c.name: c for c in consumers}
        self._tls = {
            c.name: ssl.create_default_context(cafile=c.tls_ca) for c in consumers if c.tls_ca
        }
        self._build = build
        self._interval = interval
        self._timeout = timeout
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if self._consumers and self._task is None:
            self._stopping = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="ehcmpi-iti10")

    async def stop(self, grace: float = 10.0) -> None:
        """A graceful stop: the notification on the wire finishes and is recorded (so it is
        not sent twice), claimed rows not yet tried are released at once; after ``grace``
        seconds the task is cancelled."""
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                sent = await self.deliver_due()
            except Exception:  # the database may be down for a moment: try again later
                log.exception("ITI-10 delivery round failed")
                sent = 0
            if not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def deliver_due(self) -> int:
        """One round: claim due rows and try each once; the number of rows tried."""
        items = await asyncio.to_thread(self._claim)
        for done, item in enumerate(items):
            if self._stopping.is_set():
                await asyncio.to_thread(self._release, items[done:])
                return done
            await self._deliver(item)
        return len(items)

    def _release(self, items: Sequence[OutboxItem]) -> None:
        """Claimed but never tried: due again now, for whichever process runs next."""
        with self._uow(write=True) as uow:
            uow.outbox.release([item.id for item in items], self._clock())
            uow.commit()

    def _claim(self) -> list[OutboxItem]:
        with self._uow(write=True) as uow:
            items = uow.outbox.claim(self._clock(), BATCH, CLAIM_SECONDS)
            uow.commit()
        return items

    async def _deliver(self, item: OutboxItem) -> None:
        consumer = self._consumers.get(item.consumer)
        error = None
        if consumer is None:
            error = f"consumer {item.consumer} is no longer configured"
        else:
            try:
                message = await asyncio.to_thread(self._build, item, consumer)
                if message is not None:
                    tls = self._tls.get(consumer.name)
                    reply = await send(
                        consumer.host, consumer.port, message, timeout=self._timeout, tls=tls
                    )
                    code, _ = reply_codes(reply)
                    if code not in ("AA", "CA"):
                        error = f"consumer answered {code or 'no MSA'}"
            except (OSError, TimeoutError, ConnectionError, ssl.SSLError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(self._record, item, error)

    def _record(self, item: OutboxItem, error: str | None) -> None:
        now = self._clock()
        with self._uow(write=True) as uow:
            if error is None:
                uow.outbox.delivered(item.id, now)
            else:
                retry = now + dt.timedelta(seconds=backoff(item.attempts + 1))
                uow.outbox.failed(item.id, error, retry)
            uow.commit()
        if error is not None:
            log.warning("ITI-10 to %s (patient %s) failed: %s", item.consumer, item.mpi_id, error)
