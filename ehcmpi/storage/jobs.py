"""SQL implementation of the job repository port (guideline §4.1.1 索引定时任务).

Schedules and run records live in the database like everything a node knows (DESIGN.md), and
so does the run lease: replicas behind a load balancer each run the scheduler, and the lease
row lets exactly one of them run a job at a time.  The lease is taken by a conditional UPDATE
whose WHERE clause the database re-checks under its row lock, never by check-then-write.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ehcmpi.core.links import JobRun, JobSchedule
from ehcmpi.storage.rows import aware, insert_ignoring_conflicts
from ehcmpi.storage.tables import job_leases, job_runs, job_schedules

_j, _l, _r = job_schedules.c, job_leases.c, job_runs.c

SCHEDULE = sa.select(job_schedules).where(_j.name == sa.bindparam("name"))
SCHEDULES = sa.select(job_schedules).order_by(_j.name)
# Ours already, or expired: the row lock makes the second of two racing UPDATEs re-read the
# first one's result (PostgreSQL) or wait for its commit (SQLite's single writer) and match 0.
TAKE_LEASE = (
    job_leases.update()
    .where(
        _l.name == sa.bindparam("lease"),
        sa.or_(_l.holder == sa.bindparam("me"), _l.expires_at < sa.bindparam("now")),
    )
    .values(holder=sa.bindparam("me"), expires_at=sa.bindparam("until"))
)
RELEASE_LEASE = job_leases.delete().where(
    _l.name == sa.bindparam("name"), _l.holder == sa.bindparam("holder")
)
RUNS = (
    sa.select(job_runs)
    .where(_r.job == sa.bindparam("job"))
    .order_by(_r.started_at.desc(), _r.id.desc())
    .limit(sa.bindparam("limit"))
)


@functools.cache
def _upsert_schedule(dialect: str) -> sa.Insert:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(job_schedules)
    updated = {c: stmt.excluded[c] for c in ("interval_seconds", "enabled", "next_run_at")}
    upsert: sa.Insert = stmt.on_conflict_do_update(
        index_elements=[_j.name], set_=updated | {"updated_by": stmt.excluded.updated_by}
    )
    return upsert


def _utc(value: dt.datetime) -> dt.datetime:
    """Lease times are compared in the database; SQLite compares them as UTC text."""
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _opt_aware(value: dt.datetime | None) -> dt.datetime | None:
    return aware(value) if value is not None else None


class SqlJobRepository:
    """Scheduled jobs: their schedules, the one-runner lease and the run history."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- schedules -----------------------------------------------------------------------

    @staticmethod
    def _schedule(r: Any) -> JobSchedule:
        return JobSchedule(
            name=r.name,
            interval_seconds=r.interval_seconds,
            enabled=bool(r.enabled),
            next_run_at=_opt_aware(r.next_run_at),
            updated_by=r.updated_by,
        )

    def get_schedule(self, name: str) -> JobSchedule | None:
        row = self._conn.execute(SCHEDULE, {"name": name}).first()
        return self._schedule(row) if row is not None else None

    def save_schedule(self, schedule: JobSchedule) -> None:
        """Insert or overwrite (two replicas seeding the default schedule do not collide)."""
        next_run_at = _utc(schedule.next_run_at) if schedule.next_run_at else None
        row = {
            "name": schedule.name,
            "interval_seconds": schedule.interval_seconds,
            "enabled": schedule.enabled,
            "next_run_at": next_run_at,
            "updated_by": schedule.updated_by,
        }
        self._conn.execute(_upsert_schedule(self._conn.dialect.name), row)

    def schedules(self) -> list[JobSchedule]:
        return [self._schedule(r) for r in self._conn.execute(SCHEDULES)]

    # --- the lease -----------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, now: dt.datetime, ttl_seconds: float) -> bool:
        """Take the lease if free, expired or ours; run inside a write unit of work.

        First the lease row is created if missing (insert-on-conflict-do-nothing: of two
        processes, one creates it and holds it); otherwise one conditional UPDATE takes it
        over.  Either way the database decides, and the caller's commit publishes it.
        """
        now = _utc(now)
        until = now + dt.timedelta(seconds=ttl_seconds)
        row = {"name": name, "holder": holder, "expires_at": until}
        if insert_ignoring_conflicts(self._conn, job_leases, [row], "name"):
            return True
        params = {"lease": name, "me": holder, "now": now, "until": until}
        return int(self._conn.execute(TAKE_LEASE, params).rowcount) == 1

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease back; a lease taken over by someone else is left alone."""
        self._conn.execute(RELEASE_LEASE, {"name": name, "holder": holder})

    # --- runs ----------------------------------------------------------------------------

    @staticmethod
    def _run_values(run: JobRun) -> dict[str, Any]:
        return {
            "finished_at": run.finished_at,
            "status": run.status,
            "examined": run.examined,
            "merged": run.merged,
            "queued": run.queued,
            "error": run.error,
        }

    def add_run(self, run: JobRun) -> None:
        row = {"id": run.id, "job": run.job, "holder": run.holder, "started_at": run.started_at}
        self._conn.execute(job_runs.insert(), row | self._run_values(run))

    def finish_run(self, run: JobRun) -> None:
        """Write the run's outcome and counts (its id, job, holder and start stay)."""
        stmt = job_runs.update().where(_r.id == run.id).values(**self._run_values(run))
        self._conn.execute(stmt)

    def runs(self, name: str, limit: int = 20) -> list[JobRun]:
        return [
            JobRun(
                id=r.id,
                job=r.job,
                holder=r.holder,
                started_at=aware(r.started_at),
                finished_at=_opt_aware(r.finished_at),
                status=r.status,
                examined=r.examined,
                merged=r.merged,
                queued=r.queued,
                error=r.error,
            )
            for r in self._conn.execute(RUNS, {"job": name, "limit": limit})
        ]
