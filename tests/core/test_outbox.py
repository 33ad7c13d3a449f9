"""Notifications are written with the change that causes them (DESIGN.md "Nothing is lost").

A source record linked or moved, a merge or a split: one outbox row per configured PIX
consumer (ITI-10), in the same transaction; no consumer configured, no rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.core.model import RegistrationMode
from ehcmpi.core.outbox import backoff
from ehcmpi.settings import ConsumerSettings, Settings
from tests.core.support import ADMIN, CLERK, ZHANG_WEI_ID, citizen_id, his, lis, request

FEED = RegistrationMode.FEED
CONSUMERS = (
    ConsumerSettings(name="LIS", host="127.0.0.1", port=3001),
    ConsumerSettings(name="EMR", host="127.0.0.1", port=3002),
)


@pytest.fixture
def notifying(settings: Settings, engine: Engine) -> Iterator[Container]:
    wired = build(settings.model_copy(update={"pix_consumers": CONSUMERS}), engine=engine)
    yield wired
    wired.audit.flush()


def _pending(container: Container) -> dict[str, list[str]]:
    """What waits for each consumer, marked delivered on the way (so the next call is fresh)."""
    now = dt.datetime.now(dt.UTC)
    with container.uow(write=True) as uow:
        items = uow.outbox.claim(now, 100, 60)
        for item in items:
            uow.outbox.delivered(item.id, now)
        uow.commit()
    found: dict[str, list[str]] = {}
    for item in items:
        found.setdefault(item.consumer, []).append(item.mpi_id)
    return found


def test_a_new_source_record_notifies_every_consumer(notifying: Container) -> None:
    patient = notifying.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), mode=FEED), CLERK
    ).patient
    assert _pending(notifying) == {"LIS": [patient.mpi_id], "EMR": [patient.mpi_id]}


def test_the_same_record_sent_again_notifies_nobody(notifying: Container) -> None:
    again = request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), mode=FEED)
    notifying.registration.register(again, CLERK)
    _pending(notifying)  # delivered: out of the way
    notifying.registration.register(again, CLERK)
    assert _pending(notifying) == {}


def test_a_merge_notifies_about_both_records(notifying: Container) -> None:
    a = notifying.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), mode=FEED), CLERK
    ).patient
    other = citizen_id("310101", dt.date(1980, 3, 4), 21)
    b = notifying.registration.register(
        request("王芳", ("01", other), sources=(lis("L-1"),), mode=FEED), CLERK
    ).patient
    _pending(notifying)
    notifying.merges.merge(a.mpi_id, b.mpi_id, ADMIN)
    assert _pending(notifying) == {"LIS": [a.mpi_id, b.mpi_id], "EMR": [a.mpi_id, b.mpi_id]}


def test_without_consumers_nothing_is_written(container: Container) -> None:
    container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), mode=FEED), CLERK
    )
    with container.uow() as uow:
        assert uow.outbox.pending() == 0


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 1), (2, 2), (5, 16), (9, 256), (20, 300)])
def test_retries_back_off_up_to_five_minutes(attempts: int, seconds: float) -> None:
    assert backoff(attempts) == seconds
