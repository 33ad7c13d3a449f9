"""``make bench`` (MLLP): IHE ITI-8 feeds and ITI-9 PIX queries over MLLP on PostgreSQL.

A new PostgreSQL database (created and dropped here) with its own key file, and the real
``ehcmpi serve`` with a ``[[identifier_domains]]`` for the hospital's HIS (namespace ``HIS``,
OID 1.2.156.112604.1.2.1, source ``HIS``), first with ``[server] http_workers = 1``, then with
``--workers`` (default: one per core).  For each, a load generator in a process of its own
holds ``--connections`` persistent MLLP connections (default 8), one message in flight on each
(closed loop):

1. ``ADT^A04`` feeds of new patients (a distinct HIS id and 居民身份证 number each, from
   ``workload.person``); every reply must be an ACK with MSA-1 ``AA``;
2. ``QBP^Q23`` PIX queries for random HIS ids fed in 1; every reply must be ``RSP^K23`` with
   MSA-1 ``AA`` and QAK-2 ``OK``;
3. both again on one connection (latency without queueing).

Prints a table and the verdicts against the issue's targets (>= 1,000 feeds/s and >= 2,000
queries/s with 8 connections) and writes ``bench/results/mllp.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import pathlib
import random
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import procstat
import report
import stack
import workload
from loadgen import pick

from ehcmpi.terminology.pinyin import split_chinese_name

RESULTS = stack.BENCH_DIR / "results"
TARGETS = {"feed_mps": 1000, "query_mps": 2000}
HIS_NAMESPACE, HIS_OID = "HIS", "1.2.156.112604.1.2.1"
DOMAINS = (
    "[[identifier_domains]]\n"
    f'namespace = "{HIS_NAMESPACE}"\n'
    f'oid = "{HIS_OID}"\n'
    'source = "HIS"\n'
    'name = "医院信息系统"\n'
)
ID_CARD_AUTHORITY = "&2.16.156.10011.1.3&ISO"
START, END, CR = b"\x0b", b"\x1c\r", "\r"
#: messages rendered before the clock starts, per second of phase (feeds are never reused)
MAX_RENDER_RATE = {"feed": 2500, "query": 5000}
NOISY = report.NOISY


# --- messages ------------------------------------------------------------------------------


def his_id(index: int) -> str:
    return f"H{index:09d}"


def _msh(kind: str, control_id: str, sender: str) -> str:
    stamp = f"{dt.datetime.now():%Y%m%d%H%M%S}"
    return (
        f"MSH|^~\\&|{sender}|BENCH_HOSP|EHCMPI|BENCH|{stamp}||{kind}|{control_id}|P|2.5"
        "|||||CHN|UNICODE UTF-8"
    )


def feed_message(index: int) -> bytes:
    """``ADT^A04`` from the HIS for patient ``index``: HIS id and 身份证 in PID-3, name, birth
    date, sex, address, mobile, ethnicity — framed for MLLP."""
    p = workload.person(index)
    family, given = split_chinese_name(p.name)
    pid = [""] * 23
    pid[0], pid[1] = "PID", "1"
    pid[3] = (
        f"{his_id(index)}^^^{HIS_NAMESPACE}&{HIS_OID}&ISO^PI~{p.id_number}^^^{ID_CARD_AUTHORITY}^01"
    )
    pid[5] = f"{family}^{given}"
    pid[7] = f"{p.birth_date:%Y%m%d}"
    pid[8] = "M" if p.gender == "1" else "F"
    street = f"人民路{p.index % 999 + 1}号"
    pid[11] = f"{street}^^{p.city}^{p.province}^^CN^^{p.district}^{p.id_number[:6]}"
    pid[13] = f"{p.phone}^PRN^CP"
    pid[22] = p.ethnicity
    text = CR.join(
        (
            _msh("ADT^A04^ADT_A01", f"F{index}", "HIS"),
            f"EVN|A04|{dt.datetime.now():%Y%m%d%H%M%S}",
            "|".join(pid),
            "PV1|1|O",
        )
    )
    return START + (text + CR).encode() + END


def query_message(index: int, k: int) -> bytes:
    """``QBP^Q23``: the patient fed with HIS id of ``index``, all other domains."""
    text = CR.join(
        (
            _msh("QBP^Q23^QBP_Q21", f"Q{k}", "PIX_CLIENT"),
            f"QPD|IHE PIX Query|T{k}|{his_id(index)}^^^{HIS_NAMESPACE}&{HIS_OID}&ISO|",
            "RCP|I",
        )
    )
    return START + (text + CR).encode() + END


def _segment(reply: bytes, name: bytes) -> list[bytes]:
    at = reply.find(b"\r" + name + b"|")
    if at < 0:
        return []
    stop = reply.find(b"\r", at + 1)
    return reply[at + 1 : stop if stop > 0 else len(reply)].split(b"|")


def verdict(kind: str, reply: bytes) -> str:
    """``ok``, ``error`` (no ACK/RSP with MSA-1 AA) or ``miss`` (a query answered NF)."""
    msa = _segment(reply, b"MSA")
    if len(msa) < 2 or msa[1] != b"AA":
        return "error"
    if kind == "query":
        qak = _segment(reply, b"QAK")
        if len(qak) < 3 or qak[2] != b"OK":
            return "miss"
    return "ok"


# --- the load generator (a process of its own: ``mllp_bench.py --loadgen '<job>'``) ---------


class MllpConnection(asyncio.Protocol):
    """One persistent MLLP connection; ``send`` writes a framed message, awaits the reply."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._waiter: asyncio.Future[bytes] | None = None
        self.transport: Any = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:
        self._buf += data
        end = self._buf.find(END)
        if end < 0 or self._waiter is None:
            return
        start = self._buf.find(START)
        reply = bytes(self._buf[start + 1 if 0 <= start < end else 0 : end])
        del self._buf[: end + 2]
        waiter, self._waiter = self._waiter, None
        waiter.set_result(reply)

    async def send(self, message: bytes) -> bytes:
        if self.closed or self.transport is None:
            raise ConnectionError("connection closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(message)
        return await self._waiter


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    misses: int = 0
    broken: int = 0
    failed_indexes: list[int] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    last_done: float = 0.0
    sent: int = 0
    highest: int = -1


def _messages(job: dict[str, Any]) -> tuple[list[int], list[bytes]]:
    if job["kind"] == "feed":
        indexes = list(range(job["start"], job["start"] + job["max_messages"]))
        return indexes, [feed_message(i) for i in indexes]
    rng = random.Random(job["seed"])
    indexes = [pick(rng, job["ranges"]) for _ in range(job["max_messages"])]
    return indexes, [query_message(i, k) for k, i in enumerate(indexes)]


async def _connect(host: str, port: int) -> MllpConnection:
    _, conn = await asyncio.get_running_loop().create_connection(MllpConnection, host, port)
    return conn


async def _client(
    job: dict[str, Any],
    conn: MllpConnection,
    work: itertools.count[int],
    indexes: list[int],
    messages: list[bytes],
    tally: Tally,
    clock: dict[str, float],
) -> None:
    kind = job["kind"]
    while True:
        k = next(work)
        if k >= len(messages) and kind == "feed":
            return  # every rendered feed sent: the phase ends early ("exhausted")
        began = time.perf_counter()
        if began >= clock["end"]:
            return
        k %= len(messages)
        tally.sent += 1
        tally.highest = max(tally.highest, k)
        try:
            if conn.closed:
                conn = await _connect(job["host"], job["port"])
            reply = await asyncio.wait_for(conn.send(messages[k]), 30)
            outcome = verdict(kind, reply)
        except (ConnectionError, OSError, TimeoutError) as exc:
            reply, outcome = f"{type(exc).__name__}: {exc}".encode(), "error"
            tally.broken += 1
            conn.closed = True
        done = time.perf_counter()
        if outcome != "ok":
            tally.failed_indexes.append(indexes[k])
            if len(tally.samples) < 3:
                tally.samples.append(reply.decode(errors="replace").replace("\r", "\n"))
        if began < clock["measure"]:
            continue
        tally.latencies.append(done - began)
        tally.last_done = max(tally.last_done, done)
        if outcome == "error":
            tally.errors += 1
        elif outcome == "miss":
            tally.misses += 1


def _ms(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list, in milliseconds."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return round(ordered[rank - 1] * 1000, 2)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def load(job: dict[str, Any]) -> dict[str, Any]:
    indexes, messages = _messages(job)
    conns = []
    for _ in range(job["connections"]):
        conns.append(await _connect(job["host"], job["port"]))
        await asyncio.sleep(0.005)  # not all in one millisecond (workers share the port)
    tally, work = Tally(), itertools.count()
    now = time.perf_counter()
    clock = {"measure": now + job["warmup"], "end": now + job["warmup"] + job["duration"]}
    tasks = [
        asyncio.ensure_future(_client(job, c, work, indexes, messages, tally, clock)) for c in conns
    ]
    await asyncio.sleep(job["warmup"])
    server_pid, database = job["server_pid"], job["pg_database"]
    meter = procstat.CpuMeter(
        {
            "server": lambda: procstat.tree(server_pid),
            "postgres": lambda: procstat.postgres_pids(job["pg_server"], database),
        }
    )
    cpu_before = _cpu()
    await meter.start_aside()
    await asyncio.gather(*tasks)
    window = time.perf_counter() - clock["measure"]
    cores = meter.stop(window)
    cores["loadgen"] = round((_cpu() - cpu_before) / window, 3)
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    ordered = sorted(tally.latencies)
    n = len(ordered)
    measured = max(tally.last_done, clock["measure"] + 1e-9) - clock["measure"]
    return {
        "kind": job["kind"],
        "connections": job["connections"],
        "messages": n,
        "seconds": round(measured, 2),
        "mps": round(n / measured, 1) if n else 0.0,
        "p50_ms": _ms(ordered, 50),
        "p95_ms": _ms(ordered, 95),
        "p99_ms": _ms(ordered, 99),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else 0.0,
        "mean_ms": round(sum(ordered) / n * 1000, 2) if n else 0.0,
        "errors": tally.errors,
        "misses": tally.misses,
        "broken_connections": tally.broken,
        "error_samples": tally.samples,
        "cores": cores,
        "cpu_ms_per_message": {
            k: round(cores[k] * window / n * 1000, 3) if n else 0.0
            for k in ("server", "postgres", "loadgen")
        },
        "sent": tally.sent,
        "exhausted": job["kind"] == "feed" and tally.sent >= len(messages),
        "fed": [job["start"], job["start"] + tally.highest + 1] if job["kind"] == "feed" else None,
        "failed_indexes": tally.failed_indexes,
    }


def loadgen_main(job_text: str) -> None:
    job = json.loads(job_text)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(load(job))
    else:
        result = uvloop.run(load(job))
    print(json.dumps(result))


# --- the benchmark -------------------------------------------------------------------------


def _without(a: int, b: int, failed: set[int]) -> list[list[int]]:
    """``[a, b)`` minus the failed indexes, as ranges."""
    ranges, start = [], a
    for i in sorted(x for x in failed if a <= x < b):
        if start < i:
            ranges.append([start, i])
        start = i + 1
    if start < b:
        ranges.append([start, b])
    return ranges


class Bench:
    def __init__(self, args: argparse.Namespace, backend: stack.Backend) -> None:
        self.args = args
        self.backend = backend
        self.fed: list[list[int]] = []

    def phase(
        self, server: stack.Server, mllp_port: int, kind: str, label: str, **job: Any
    ) -> dict[str, Any]:
        args = self.args
        duration = job.pop("duration", args.duration)
        spec = {
            "kind": kind,
            "host": "127.0.0.1",
            "port": mllp_port,
            "connections": job.pop("connections", args.connections),
            "duration": duration,
            "warmup": args.warmup,
            "server_pid": server.pid,
            "pg_server": args.pg,
            "pg_database": self.backend.url.rsplit("/", 1)[-1],
            "max_messages": int((duration + args.warmup) * MAX_RENDER_RATE[kind]),
            **job,
        }
        report.log(f"MLLP: {label} ({duration:g}s + {args.warmup:g}s warm-up)")
        done = subprocess.run(
            [sys.executable, __file__, "--loadgen", json.dumps(spec)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout)
        result["label"] = label
        failed = set(result.pop("failed_indexes"))
        result["failed_count"] = len(failed)
        if kind == "feed":
            self.fed += _without(*result["fed"], failed)
        if result["errors"] or result["misses"] or result["broken_connections"]:
            result["server_log"] = _problems(server)
        if result["exhausted"]:
            report.log(f"MLLP: {label}: all {result['sent']:,} rendered feeds sent (ended early)")
        c = result["cores"]
        report.log(
            f"MLLP: {label}: {result['mps']:,.0f} msg/s, p50 {result['p50_ms']} ms, p99 "
            f"{result['p99_ms']} ms, max {result['max_ms']} ms, errors {result['errors']}, "
            f"misses {result['misses']} | cores server {c['server']} postgres {c['postgres']} "
            f"loadgen {c['loadgen']} machine {c['machine_busy']}"
        )
        return result


def _problems(server: stack.Server, lines: int = 60) -> list[str]:
    """The server log's error lines and tracebacks (the log dies with the scratch dir)."""
    try:
        text = server.log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    keep = [
        i
        for i, line in enumerate(text)
        if any(w in line for w in ("Traceback", "ERROR", "Error", "exception", "failed"))
    ]
    if not keep:
        return text[-10:]
    first = keep[0]
    return text[first : first + lines]


def _wait_mllp(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"MLLP port {port} not answering after {timeout:.0f}s")


def _settle(server: stack.Server, workers: int) -> None:
    """Forked workers need time to build their app: one answering is not all listening."""
    if workers > 1:
        deadline = time.monotonic() + 20
        while len(procstat.tree(server.pid)) <= workers and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)


def run_server(bench: Bench, workers: int, slot: int) -> dict[str, Any]:
    args = bench.args
    n = args.connections
    suffix = f", {workers} workers" if workers > 1 else ""
    base = workload.RANGES["http"] + 10_000_000 * slot
    mllp_port = stack.free_port()
    out: dict[str, Any] = {"http_workers": workers, "mllp_port": mllp_port, "phases": {}}
    p = out["phases"]
    server = stack.ehcmpi_server(
        bench.backend, http_workers=workers, mllp_port=mllp_port, extra=DOMAINS
    )
    with server:
        _settle(server, workers)
        _wait_mllp(mllp_port)
        out["processes"] = len(procstat.tree(server.pid))
        single = max(3.0, args.duration / 4)
        p["feed"] = bench.phase(
            server, mllp_port, "feed", f"ADT^A04 feed, {n} conns{suffix}", start=base
        )
        p["query"] = bench.phase(
            server, mllp_port, "query", f"QBP^Q23 query, {n} conns{suffix}",
            ranges=bench.fed, seed=1 + slot,
        )  # fmt: skip
        p["feed_1"] = bench.phase(
            server, mllp_port, "feed", f"ADT^A04 feed, 1 conn{suffix}", connections=1,
            duration=single, start=base + 5_000_000,
        )  # fmt: skip
        p["query_1"] = bench.phase(
            server, mllp_port, "query", f"QBP^Q23 query, 1 conn{suffix}", connections=1,
            duration=single, ranges=bench.fed, seed=21 + slot,
        )  # fmt: skip
    log = server.log.read_text(errors="replace").splitlines() if server.log.exists() else []
    out["server_log_lines"] = len(log)
    if any("Traceback" in line or "ERROR" in line for line in log):
        out["server_log_problems"] = _problems(server)
        report.log("MLLP: server log has errors:\n" + "\n".join(out["server_log_problems"]))
    return out


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[tuple[str, float, str, float]] = []
    n = results["meta"]["connections"]
    for config in results["servers"]:
        p, w = config["phases"], f"http_workers={config['http_workers']}"
        checks += [
            (f"{w}: ADT^A04 feeds/s over MLLP, {n} conns", p["feed"]["mps"], ">=", 1000),
            (f"{w}: QBP^Q23 queries/s over MLLP, {n} conns", p["query"]["mps"], ">=", 2000),
        ]
    errors = sum(
        r["errors"] + r["misses"] for c in results["servers"] for r in c["phases"].values()
    )
    checks.append(("errors + misses, all phases", errors, "<=", 0))
    return [
        {
            "check": what,
            "value": value,
            "target": f"{op} {target}",
            "pass": value >= target if op == ">=" else value <= target,
        }
        for what, value, op, target in checks
    ]


def table(results: dict[str, Any]) -> str:
    width = 118
    lines = [
        f"{'phase':<36} {'msg/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>7} "
        f"{'err/miss':>8} {'cpu ms':>7}   cores: srv  db   gen  oth  stl",
        "-" * width,
    ]
    noisy = 0
    for config in results["servers"]:
        for r in config["phases"].values():
            c = r["cores"]
            other = max(0.0, c["machine_busy"] - c["server"] - c["postgres"] - c["loadgen"])
            flag = "  !" if other > NOISY or c["steal"] > NOISY else ""
            noisy += bool(flag)
            lines.append(
                f"{r['label']:<36} {r['mps']:>7,.0f} {r['p50_ms']:>6.1f} {r['p95_ms']:>6.1f} "
                f"{r['p99_ms']:>6.1f} {r['max_ms']:>7.1f} {r['errors']:>4}/{r['misses']:<3} "
                f"{r['cpu_ms_per_message']['server']:>7.2f}   {c['server']:4.2f} "
                f"{c['postgres']:4.2f} {c['loadgen']:4.2f} {other:4.2f} {c['steal']:4.2f}{flag}"
            )
            if "server_processes" in c:
                lines.append(f"{'':<36}   server processes: {c['server_processes']}")
    lines += [
        "-" * width,
        "latencies in ms from writing the message to the end of its reply; err/miss = replies "
        "without MSA-1 AA or broken\nconnections / queries answered QAK-2 NF; cpu ms = server "
        "CPU per message; cores = average cores used by the server,\nPostgreSQL, the load "
        "generator, everything else, and stolen by the hypervisor",
    ]
    if noisy:
        lines.append(
            f"! {noisy} phase(s) ran while other processes used, or the hypervisor stole, more "
            f"than {NOISY} core: their numbers are lower than this machine can do"
        )
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=None, help="seconds per phase (20)")
    p.add_argument("--warmup", type=float, default=None, help="unmeasured seconds first (3)")
    p.add_argument("--connections", type=int, default=8, help="MLLP connections (8)")
    p.add_argument("--quick", action="store_true", help="5 s phases, 1 s warm-up (smoke)")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1,
        help="also measure ehcmpi serve with [server] http_workers = N "
        "(default: the number of cores; 1 = one process only)",
    )  # fmt: skip
    p.add_argument(
        "--pg", default=os.environ.get("EHCMPI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server (a database ehcmpi_bench_<random> is created and dropped)",
    )  # fmt: skip
    p.add_argument("--output", default=str(RESULTS / "mllp.json"))
    args = p.parse_args(argv)
    args.duration = args.duration or (5.0 if args.quick else 20.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    return args


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--loadgen"]:
        loadgen_main(argv[1])
        return
    args = parse(argv)
    began = time.perf_counter()
    meta = report.meta(args, ["postgresql"])
    meta.update(
        connections=args.connections,
        targets=TARGETS,
        note=(
            "server, database and load generator share the same cores; the load generator is"
            " a separate process (asyncio + uvloop, raw MLLP, one message in flight per"
            " connection)"
        ),
    )
    results: dict[str, Any] = {"meta": meta}
    with stack.scratch_dir() as root, stack.backend("postgresql", root, args.pg) as b:
        bench = Bench(args, b)
        configs = sorted({1, args.workers})
        results["servers"] = [run_server(bench, w, i) for i, w in enumerate(configs)]
    results["meta"]["wall_seconds"] = round(time.perf_counter() - began, 1)
    results["verdicts"] = verdicts(results)
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(table(results))
    print(report.speed_line(results["meta"]))
    print("\ntargets (PostgreSQL, MLLP, this machine):")
    for v in results["verdicts"]:
        print(f"  {'PASS' if v['pass'] else 'MISS'}  {v['check']}: {v['value']} ({v['target']})")
    minutes, seconds = divmod(results["meta"]["wall_seconds"], 60)
    print(f"\nwall time {int(minutes)} min {seconds:.0f} s; results in {output}")


if __name__ == "__main__":
    main()
