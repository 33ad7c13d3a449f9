"""HTTP/1.1 load generator: N keep-alive connections, raw requests, latency percentiles.

Run as its own process (``python bench/loadgen.py '<job JSON>'``, result JSON on stdout) so
that it competes with the server only for CPU, not for the GIL.  It is written to cost the
server as little as possible: requests are rendered to bytes before the clock starts, each
connection is a bare ``asyncio.Protocol`` on uvloop (when installed) that parses only the
status line and ``Content-Length``, and no HTTP library sits in the loop.

Two modes:

- closed loop (``rate`` null): every connection sends its next request as soon as the previous
  answer arrives — the maximum throughput at that concurrency; latency then includes the
  queueing that concurrency causes (Little's law: mean latency ≈ connections / throughput);
- open loop (``rate`` in requests/s): request k is due at ``start + k / rate`` whether or not
  earlier ones have returned, and its latency is counted from when it was due, so a server
  that falls behind shows it (no coordinated omission); at most ``connections`` in flight.

Requests started during ``warmup`` seconds are sent but not counted.  Any non-2xx answer or
broken connection is an error; a lookup answered 200 with an empty Bundle is a miss.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import pathlib
import random
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import procstat
import search_workload
import workload

FOUND = b'"total":1,'
NOTHING = b'"total":0,'  # a search about a registered patient that finds nobody is a miss


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection; ``send`` writes a request and waits for its response."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._head_end = -1
        self._need = -1
        self._status = 0
        self.transport: Any = None  # an asyncio.Transport (uvloop's is not a subclass)
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._waiter is not None:
            self._parse()

    def _parse(self) -> None:
        if self._head_end < 0:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buf[:end]).lower()
            self._status = int(head[9:12])
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                self._fail("response without Content-Length")
                return
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop > 0 else len(head)])
            self._head_end = end + 4
            self._need = self._head_end + length
        if len(self._buf) >= self._need:
            body = bytes(self._buf[self._head_end : self._need])
            del self._buf[: self._need]
            self._head_end = self._need = -1
            waiter, self._waiter = self._waiter, None
            assert waiter is not None
            waiter.set_result((self._status, body))

    def _fail(self, message: str) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.set_exception(ConnectionError(message))
        if self.transport is not None:
            self.transport.close()

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.closed or self.transport is None:
            raise ConnectionError("connection closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    misses: int = 0
    failed_indexes: list[int] = field(default_factory=list)
    last_done: float = 0.0
    sent: int = 0
    highest: int = -1


def pick(rng: random.Random, ranges: list[list[int]]) -> int:
    """A uniformly random index from the union of ``[start, stop)`` ranges."""
    r = rng.randrange(sum(b - a for a, b in ranges))
    for a, b in ranges:
        if r < b - a:
            return a + r
        r -= b - a
    raise AssertionError("unreachable")


def _requests(job: dict[str, Any], host: str) -> tuple[list[int], list[bytes]]:
    """The patient indexes and their rendered requests, in the order they will be sent."""
    if job["kind"] == "register":
        indexes = list(range(job["start"], job["start"] + job["max_requests"]))
        return indexes, [workload.register_request(i, host) for i in indexes]
    rng = random.Random(job.get("seed", 1))
    indexes = [pick(rng, job["ranges"]) for _ in range(job["max_requests"])]
    if job["kind"] == "search":
        return indexes, [search_workload.search_request(i, k, host) for k, i in enumerate(indexes)]
    if job["kind"] == "read":  # GET /fhir/Patient/{id}: ids of seeded patients from a file
        ids = pathlib.Path(job["ids_file"]).read_text().split()
        return indexes, [workload.read_request(ids[i % len(ids)], host) for i in indexes]
    return indexes, [workload.lookup_request(i, host) for i in indexes]


async def _connect(host: str, port: int) -> HttpConnection:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(HttpConnection, host, port)
    return conn


async def _client(
    job: dict[str, Any],
    conn: HttpConnection,
    work: itertools.count[int],
    indexes: list[int],
    requests: list[bytes],
    tally: Tally,
    clock: dict[str, float],
) -> None:
    is_lookup = job["kind"] in ("lookup", "search", "read")  # rendered requests are sent in a loop
    rate = job.get("rate")
    while True:
        k = next(work)
        if k >= len(requests) and not is_lookup:
            return  # every rendered registration sent: the phase ends early ("exhausted")
        due = clock["start"] + k / rate if rate else time.perf_counter()
        if due >= clock["end"]:
            return
        if rate and due > time.perf_counter():
            await asyncio.sleep(due - time.perf_counter())
        k %= len(requests)
        counted = due >= clock["measure"]
        tally.sent += 1
        tally.highest = max(tally.highest, k)
        try:
            if conn.closed:
                conn = await _connect(job["host"], job["port"])
            status, body = await conn.send(requests[k])
        except (ConnectionError, OSError):
            status, body = 0, b""
        done = time.perf_counter()
        ok = 200 <= status < 300
        if not ok:
            tally.failed_indexes.append(indexes[k])
        if not counted:
            continue
        tally.latencies.append(done - due)
        tally.statuses[status] += 1
        tally.last_done = max(tally.last_done, done)
        if not ok:
            tally.errors += 1
        elif _missed(job["kind"], body):
            tally.misses += 1


def _missed(kind: str, body: bytes) -> bool:
    """A lookup that did not find its one patient, a search that found nobody."""
    return (kind == "lookup" and FOUND not in body) or (kind == "search" and NOTHING in body)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list, in milliseconds."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return round(ordered[rank - 1] * 1000, 2)


def summary(tally: Tally, measured: float) -> dict[str, Any]:
    ordered = sorted(tally.latencies)
    n = len(ordered)
    return {
        "requests": n,
        "seconds": round(measured, 2),
        "rps": round(n / measured, 1) if measured > 0 else 0.0,
        "p50_ms": percentile(ordered, 50),
        "p95_ms": percentile(ordered, 95),
        "p99_ms": percentile(ordered, 99),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else 0.0,
        "mean_ms": round(sum(ordered) / n * 1000, 2) if n else 0.0,
        "errors": tally.errors,
        "misses": tally.misses,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(job: dict[str, Any]) -> dict[str, Any]:
    host = f"{job['host']}:{job['port']}"
    indexes, requests = _requests(job, host)
    conns = []
    for _ in range(job["connections"]):
        conns.append(await _connect(job["host"], job["port"]))
        # Independent clients do not connect in the same millisecond; a burst would let one
        # ``uvicorn --workers`` process accept every connection.
        await asyncio.sleep(0.005)
    tally, work = Tally(), itertools.count()
    now = time.perf_counter()
    clock = {
        "start": now,
        "measure": now + job["warmup"],
        "end": now + job["warmup"] + job["duration"],
    }
    tasks = [
        asyncio.ensure_future(_client(job, c, work, indexes, requests, tally, clock)) for c in conns
    ]
    await asyncio.sleep(job["warmup"])
    server_pid = job.get("server_pid")
    meter = procstat.CpuMeter(
        {
            "server": lambda: procstat.tree(server_pid) if server_pid else [],
            "postgres": lambda: (
                procstat.postgres_pids(job["pg_server"], job["pg_database"])
                if job.get("pg_database")
                else []
            ),
        }
    )
    cpu_before = _cpu()
    await meter.start_aside()
    await asyncio.gather(*tasks)
    measured = max(tally.last_done, time.perf_counter()) - clock["measure"]
    cores = meter.stop(time.perf_counter() - clock["measure"])
    cores["loadgen"] = round((_cpu() - cpu_before) / (time.perf_counter() - clock["measure"]), 3)
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    result = summary(tally, measured)
    result["cores"] = cores
    # CPU milliseconds per request: less sensitive than req/s to other load on the machine.
    window = time.perf_counter() - clock["measure"]
    result["cpu_ms_per_request"] = {
        k: round(cores[k] * window / len(tally.latencies) * 1000, 3) if tally.latencies else 0.0
        for k in ("server", "postgres", "loadgen")
    }
    result["rate"] = job.get("rate")
    result["connections"] = job["connections"]
    result["sent"] = tally.sent
    result["exhausted"] = job["kind"] == "register" and tally.sent >= len(requests)
    if job["kind"] == "register":
        result["registered"] = [job["start"], job["start"] + tally.highest + 1]
    result["failed_indexes"] = tally.failed_indexes[:1000]
    return result


def main() -> None:
    job = json.loads(sys.argv[1])
    try:
        import uvloop
    except ImportError:  # plain asyncio works; it only takes more CPU from the server
        result = asyncio.run(run(job))
    else:
        result = uvloop.run(run(job))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
