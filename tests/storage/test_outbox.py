"""The outbox table (DESIGN.md "Nothing is lost"; ITI-10): add, claim, deliver, retry."""

from __future__ import annotations

import datetime as dt

from tests.storage.conftest import UowMaker

T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)


def _add(uow: UowMaker, *items: tuple[str, str]) -> None:
    with uow() as u:
        for consumer, mpi_id in items:
            u.outbox.add(consumer, mpi_id, T0)
        u.commit()


def test_a_claimed_item_is_hidden_until_its_hold_ends(uow: UowMaker) -> None:
    _add(uow, ("LIS", "P1"), ("LIS", "P2"), ("EMR", "P1"))
    with uow() as u:
        first = u.outbox.claim(T0, 2, 60)
        u.commit()
    assert [(i.consumer, i.mpi_id, i.attempts) for i in first] == [
        ("LIS", "P1", 0),
        ("LIS", "P2", 0),
    ]
    with uow() as u:
        second = u.outbox.claim(T0 + dt.timedelta(seconds=1), 10, 60)
        u.commit()
    assert [(i.consumer, i.mpi_id) for i in second] == [("EMR", "P1")]
    with uow() as u:
        assert u.outbox.claim(T0 + dt.timedelta(seconds=59), 10, 60) == []
        again = u.outbox.claim(T0 + dt.timedelta(seconds=120), 10, 60)
    assert len(again) == 3  # the sender that claimed them never answered: they come back


def test_delivered_items_leave_and_failed_ones_come_back_later(uow: UowMaker) -> None:
    _add(uow, ("LIS", "P1"), ("LIS", "P2"))
    with uow() as u:
        one, two = u.outbox.claim(T0, 10, 60)
        u.outbox.delivered(one.id, T0)
        u.outbox.failed(two.id, "connection refused", T0 + dt.timedelta(seconds=4))
        u.commit()
    with uow() as u:
        assert u.outbox.pending() == 1
        assert u.outbox.pending("LIS") == 1 and u.outbox.pending("EMR") == 0
        assert u.outbox.claim(T0 + dt.timedelta(seconds=3), 10, 60) == []
        retried = u.outbox.claim(T0 + dt.timedelta(seconds=4), 10, 60)
    assert [(i.mpi_id, i.attempts) for i in retried] == [("P2", 1)]


def test_released_items_are_due_again_at_once(uow: UowMaker) -> None:
    _add(uow, ("LIS", "P1"), ("LIS", "P2"))
    with uow() as u:
        claimed = u.outbox.claim(T0, 10, 60)
        u.outbox.release([claimed[1].id], T0)
        u.commit()
    with uow() as u:
        again = u.outbox.claim(T0 + dt.timedelta(seconds=1), 10, 60)
    assert [(i.mpi_id, i.attempts) for i in again] == [("P2", 0)]
