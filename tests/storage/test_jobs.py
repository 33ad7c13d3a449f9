"""Scheduled jobs (§4.1.1 索引定时任务) on SQLite and PostgreSQL: schedules, run records, and
the lease that lets one process of many run a job, also when two processes race for it."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import pathlib
from multiprocessing.synchronize import Barrier
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.core.links import JobRun, JobSchedule
from ehcmpi.crypto.software import SoftwareCryptoProvider
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.tables import job_leases
from ehcmpi.storage.uow import SqlUnitOfWork
from tests.storage.conftest import UowMaker

T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
ROUNDS = 40


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_schedules_round_trip_and_are_overwritten(uow: UowMaker) -> None:
    nightly = JobSchedule("auto-merge", 86_400, True, _at(0), "admin-01")
    with uow() as u:
        assert u.jobs.get_schedule("auto-merge") is None
        u.jobs.save_schedule(nightly)
        u.jobs.save_schedule(JobSchedule("a-report", 3_600, False))
        u.commit()
    with uow() as u:
        assert u.jobs.get_schedule("auto-merge") == nightly
        hourly = JobSchedule("auto-merge", 3_600, False, None, "admin-02")
        u.jobs.save_schedule(hourly)
        u.commit()

    with uow() as u:
        assert u.jobs.get_schedule("auto-merge") == hourly
        assert [s.name for s in u.jobs.schedules()] == ["a-report", "auto-merge"]


def test_a_lease_has_one_holder_until_it_expires(uow: UowMaker) -> None:
    def acquire(holder: str, seconds: float) -> bool:
        with uow() as u:
            won = u.jobs.acquire_lease("auto-merge", holder, _at(seconds), ttl_seconds=60)
            u.commit()
        return won

    assert acquire("node-1", 0)
    assert not acquire("node-2", 1)
    assert acquire("node-1", 30)  # renewing: now held until 90 s
    assert not acquire("node-2", 89)
    assert acquire("node-2", 91)  # node-1 stopped renewing: taken over
    assert not acquire("node-1", 92)

    with uow() as u:
        u.jobs.release_lease("auto-merge", "node-1")  # not node-1's any more: no effect
        u.commit()
    assert not acquire("node-1", 93)
    with uow() as u:
        u.jobs.release_lease("auto-merge", "node-2")
        u.commit()
    assert acquire("node-1", 94)


def test_lease_times_in_another_zone_compare_as_instants(uow: UowMaker) -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    with uow() as u:
        assert u.jobs.acquire_lease("job", "node-1", _at(0).astimezone(beijing), 60)
        assert not u.jobs.acquire_lease("job", "node-2", _at(30), 60)
        assert u.jobs.acquire_lease("job", "node-2", _at(61).astimezone(beijing), 60)
        u.commit()


def test_runs_are_listed_newest_first_with_their_outcome(uow: UowMaker) -> None:
    with uow() as u:
        for i in range(3):
            u.jobs.add_run(JobRun(f"r{i}", "auto-merge", "node-1", _at(i * 60)))
        u.jobs.add_run(JobRun("other", "report", "node-1", _at(500)))
        u.commit()
    finished = JobRun(
        "r1", "auto-merge", "node-1", _at(60), _at(70), "failed", 120, 3, 4, "database gone"
    )
    with uow() as u:
        u.jobs.finish_run(finished)
        u.commit()

    with uow() as u:
        runs = u.jobs.runs("auto-merge")
        assert [r.id for r in u.jobs.runs("auto-merge", limit=2)] == ["r2", "r1"]
    assert [r.id for r in runs] == ["r2", "r1", "r0"]
    assert runs[1] == finished
    assert runs[0] == JobRun("r2", "auto-merge", "node-1", _at(120))


# --- two processes racing for the lease ----------------------------------------------------


def race(url: str, key_file: str, holder: str, step: Barrier, queue: Any) -> None:
    """One scheduler process: in every round, try to take that round's lease at once."""
    try:
        engine = create_database_engine(url, pool_size=1)
        crypto = SoftwareCryptoProvider.from_keyfile(pathlib.Path(key_file))
        won: list[int] = []
        for i in range(ROUNDS):
            step.wait()
            with SqlUnitOfWork(engine, crypto, write=True) as uow:
                if uow.jobs.acquire_lease(f"race-{i}", holder, dt.datetime.now(dt.UTC), 600):
                    won.append(i)
                uow.commit()
        engine.dispose()
        queue.put((holder, won))
    except BaseException as exc:
        queue.put(repr(exc))
        raise


def test_two_processes_racing_for_a_lease_never_both_get_it(
    engine: Engine, key_file: pathlib.Path
) -> None:
    """Every round both processes go for the same lease after a barrier: a new lease (the
    insert path) in even rounds, one a crashed node left expired (the update path) in odd."""
    expired = [
        {"name": f"race-{i}", "holder": "crashed", "expires_at": _at(0)}
        for i in range(1, ROUNDS, 2)
    ]
    with engine.begin() as conn:
        conn.execute(job_leases.insert(), expired)
    url = engine.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("spawn")
    step = ctx.Barrier(2, timeout=60)
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=race, args=(url, str(key_file), holder, step, queue))
        for holder in ("node-1", "node-2")
    ]
    for worker in workers:
        worker.start()
    try:
        results = [queue.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()

    assert [w.exitcode for w in workers] == [0, 0], results
    assert all(isinstance(r, tuple) for r in results), results
    won: dict[str, list[int]] = dict(results)
    assert set(won["node-1"]).isdisjoint(won["node-2"])  # never both
    assert sorted(won["node-1"] + won["node-2"]) == list(range(ROUNDS))  # always one
    with engine.connect() as conn:
        holders = dict(conn.execute(sa.select(job_leases.c.name, job_leases.c.holder)).all())
    winner = {i: holder for holder, rounds in won.items() for i in rounds}
    assert holders == {f"race-{i}": winner[i] for i in range(ROUNDS)}
