"""CPU time of processes and of the machine, from ``/proc`` (Linux), to show where time goes.

The load generator shares the machine's cores with the server and PostgreSQL, so every HTTP
phase reports how many core-seconds each of them used: a number that says how much CPU the
client took from the server as well as how busy the machine was.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import Callable
from typing import Any

import psycopg

TICKS = os.sysconf("SC_CLK_TCK")
PROC = pathlib.Path("/proc")


def process_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it has gone)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*"):
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn ``--workers`` forks its workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += _children(current)
    return found


def postgres_pids(server: str, database: str) -> list[int]:
    """The backends of ``database`` and PostgreSQL's shared background processes (WAL writer,
    checkpointer…): not the backends of other databases on the same server."""
    query = (
        "SELECT pid FROM pg_stat_activity WHERE (datname = %s OR datname IS NULL)"
        " AND pid <> pg_backend_pid()"
    )
    with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as conn:
        return [int(row[0]) for row in conn.execute(query, (database,))]


def machine_seconds() -> tuple[float, float, float]:
    """(busy, total, steal) CPU seconds of all cores since boot, from ``/proc/stat``.

    Steal is time the hypervisor gave this VM's CPUs to someone else: on a shared host it
    slows everything down without showing up as any process's CPU time."""
    first = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in first[:8]]
    idle, steal = values[3] + values[4], values[7]  # idle + iowait; steal
    return (sum(values) - idle - steal) / TICKS, sum(values) / TICKS, steal / TICKS


class CpuMeter:
    """Cores used by named process groups between ``start`` and ``stop``.

    A group is a function that lists its pids; it is asked again at ``stop`` so that a process
    started meanwhile (a new database connection) counts in full, and one that ended keeps
    what it had used at ``start`` (its last share is lost, never counted negative).
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self._groups = groups
        self._before: dict[str, dict[int, float]] = {}
        self._machine: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _sample(self) -> dict[str, dict[int, float]]:
        return {
            name: {pid: process_seconds(pid) for pid in pids()}
            for name, pids in self._groups.items()
        }

    def start(self) -> None:
        self._before = self._sample()
        self._machine = machine_seconds()

    async def start_aside(self) -> None:
        """``start`` on a thread: listing PostgreSQL's backends takes a connection, and a load
        generator's clients must not stall meanwhile (the stall would show as the latency of
        every request due during it)."""
        await asyncio.to_thread(self.start)

    def stop(self, wall: float) -> dict[str, Any]:
        """Cores used on average by each group (1.0 = one core busy all the time), and by
        each server process when there are several (``uvicorn --workers``)."""
        after = self._sample()
        busy, total, steal = machine_seconds()
        used: dict[str, Any] = {}
        for name, now in after.items():
            before = self._before[name]
            each = [max(0.0, t - before.get(pid, 0.0)) / wall for pid, t in now.items() if t]
            used[name] = round(sum(each), 3)
            if name == "server" and len(each) > 1:
                used["server_processes"] = sorted((round(c, 3) for c in each), reverse=True)
        used["machine_busy"] = round((busy - self._machine[0]) / wall, 3)
        used["machine_cores"] = round((total - self._machine[1]) / wall, 3)
        used["steal"] = round((steal - self._machine[2]) / wall, 3)
        return used
