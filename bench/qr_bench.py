"""``make bench`` (QR): EHC QR code generation and verification (验码) throughput, PostgreSQL.

A new PostgreSQL database (created and dropped here) with its own key file, ``--patients``
patients registered through ``container.registration`` (each with a formal EHC card) and one
registered reader terminal.  The configuration is the shipped one except ``[qr]
max_verifications = 1`` (every dynamic code is good for exactly one scan, the strictest
limit: each verification is a counted, committed use) and ``dynamic_ttl_seconds = 3600`` (the
codes are made before the clock starts and must still be good when they are scanned; the
expiry check costs the same whatever the lifetime).

1. in process (``container.qr`` called from ``--threads`` threads, the record writer running
   as in the server): generations of dynamic codes; verifications of static codes;
   verifications of distinct dynamic codes (each once: lookup + atomic use counter);
   then a check that the limit held (16 threads scan one code: exactly one ``ok``) and that
   every verification left its record;
2. over HTTP, the real ``ehcmpi serve`` (one process, then ``http_workers = --workers``) and a
   load generator in a process of its own with ``--connections`` keep-alive connections
   (closed loop): ``POST /fhir/Patient/{id}/$ehc-qr`` and ``POST /fhir/$ehc-qr-verify`` of
   distinct dynamic codes; every answer must be 200.

Prints a table and the verdicts against the issue's targets (>= 5,000 verifications/s in
process, >= 1,500/s over HTTP) and writes ``bench/results/qr.json``.  Server, database and
load generator share this machine's cores; each phase reports how busy the machine was.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import pathlib
import random
import subprocess
import sys
import threading
import time
from typing import Any

import orjson
import procstat
import report
import sqlalchemy as sa
import stack
import workload
from loadgen import HttpConnection, Tally, summary

from ehcmpi.bootstrap import Container, build, load_crypto
from ehcmpi.core.card_types import SummaryKey
from ehcmpi.core.model import Actor
from ehcmpi.core.qr_format import seal_block
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.settings import load_settings

RESULTS = stack.BENCH_DIR / "results"
TARGETS = {"inprocess_verify_per_s": 5000, "http_verify_per_s": 1500}
ORG, DEPT = "12100000400000000A", "0301"
TERMINAL = ORG + DEPT
QR_CONFIG = "[qr]\nmax_verifications = 1\ndynamic_ttl_seconds = 3600\n"
ACTOR = Actor("bench:qr", channel="api")
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FAR = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


# --- codes ---------------------------------------------------------------------------------


def dynamic_codes(crypto: CryptoProvider, ehc_ids: list[str], count: int, skip: int) -> list[str]:
    """``count`` distinct dynamic codes, as the app makes them: patient ``i % P``, made
    ``skip + i // P`` seconds ago (every code its own (card, second))."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    out = []
    for i in range(count):
        ehc = ehc_ids[i % len(ehc_ids)]
        made = now - dt.timedelta(seconds=skip + i // len(ehc_ids))
        seal = crypto.qr_seal(seal_block(made, ehc, "1"))
        out.append(f"{ehc}:1:{seal.hex().upper()}")
    return out


# --- in process ----------------------------------------------------------------------------


def _threads(n: int, duration: float, call: Any, pg: tuple[str, str]) -> dict[str, Any]:
    """Run ``call(k)`` for k = 0, 1, … from ``n`` threads for ``duration`` seconds."""
    work = itertools.count()
    latencies: list[list[float]] = [[] for _ in range(n)]
    failures = [0] * n
    deadline = time.perf_counter() + duration

    def loop(slot: int) -> None:
        mine, bad = latencies[slot], 0
        while True:
            began = time.perf_counter()
            if began >= deadline:
                break
            ok = call(next(work))
            mine.append(time.perf_counter() - began)
            bad += not ok
        failures[slot] = bad

    meter = procstat.CpuMeter({
        "server": lambda: [os.getpid()],
        "postgres": lambda: procstat.postgres_pids(*pg),
    })  # fmt: skip
    meter.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    tally = Tally(latencies=sorted(x for part in latencies for x in part))
    tally.errors = sum(failures)
    result = summary(tally, wall)
    result["cores"] = meter.stop(wall)
    return result


def cpu_us(r: dict[str, Any], group: str) -> float:
    """CPU microseconds per operation of one process group: what the numbers per second would
    be limited by on an idle machine with that many cores to spare."""
    return round(r["cores"].get(group, 0.0) / r["rps"] * 1e6, 1) if r["rps"] else 0.0


def in_process(args: argparse.Namespace, config: pathlib.Path, database: str) -> dict[str, Any]:
    container = build(load_settings(str(config), environ={}))
    container.start()
    try:
        report.log(f"QR: registering {args.patients:,} patients")
        patients = [
            container.registration.register(workload.registration_request(i), ACTOR).patient
            for i in range(args.patients)
        ]
        mpi_ids = [p.mpi_id for p in patients]
        # Codes are made up to an hour in the past (below), and a code older than its card is
        # void (re-issue): the cards are back-dated two hours.  Verification work is the same.
        with container.engine.begin() as conn:
            conn.execute(sa.text("UPDATE ehc_accounts SET issued_at = issued_at - :age"),
                         {"age": dt.timedelta(hours=2)})  # fmt: skip
        ehc_ids = [str(p.ehc_id) for p in patients]
        container.terminals.register_terminal(
            org_code=ORG, dept_code=DEPT, name="bench", type="scanner", location=None,
            actor=ACTOR,
        )  # fmt: skip
        out = _in_process_phases(args, container, mpi_ids, ehc_ids, (args.pg, database))
        out["ids"] = {"mpi": mpi_ids, "ehc": ehc_ids}
        return out
    finally:
        container.close()


def _verify(container: Container, code: str) -> bool:
    result = container.qr.verify(
        code, terminal=TERMINAL, care_step="registration", channel="his", actor=ACTOR
    )
    return result.ok


def _in_process_phases(
    args: argparse.Namespace,
    container: Container,
    mpi_ids: list[str],
    ehc_ids: list[str],
    pg: tuple[str, str],
) -> dict[str, Any]:
    rng = random.Random(7)
    n, d, out = args.threads, args.duration, {}

    def generate(k: int) -> bool:
        mpi = mpi_ids[rng.randrange(len(mpi_ids))]
        return bool(container.qr.generate(mpi_id=mpi, channel="app", actor=ACTOR).text)

    report.log(f"QR in process: generations, {n} threads")
    out["generate"] = _threads(n, d, generate, pg)
    statics = [f"{e}:1" for e in ehc_ids]
    report.log(f"QR in process: static verifications, {n} threads")
    out["verify_static"] = _threads(
        n, d, lambda k: _verify(container, statics[k % len(statics)]), pg
    )
    codes = dynamic_codes(container.crypto, ehc_ids, int(d * args.max_rate), skip=5)
    report.log(f"QR in process: dynamic verifications ({len(codes):,} distinct codes), {n} threads")
    out["verify_dynamic"] = _threads(n, d, lambda k: _verify(container, codes[k]), pg)
    out["limit_check"] = _limit_check(container, ehc_ids[0])
    container.qr.records.flush()
    out["records"] = _records_check(container, out)
    for key in ("generate", "verify_static", "verify_dynamic"):
        r = out[key]
        report.log(
            f"QR in process: {key}: {r['rps']:,.0f}/s, p50 {r['p50_ms']} ms, p99 "
            f"{r['p99_ms']} ms, failed {r['errors']}, machine {r['cores']['machine_busy']}"
        )
    return out


def _limit_check(container: Container, ehc_id: str) -> dict[str, Any]:
    """Sixteen scanners, one code, ``max_verifications = 1``: exactly one is let through."""
    [code] = dynamic_codes(container.crypto, [ehc_id], 1, skip=3000)  # distinct from the phase's
    barrier = threading.Barrier(16)
    results: list[bool] = []

    def scan() -> None:
        barrier.wait()
        results.append(_verify(container, code))

    threads = [threading.Thread(target=scan) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"scanners": 16, "ok": sum(results), "pass": sum(results) == 1}


def _records_check(container: Container, out: dict[str, Any]) -> dict[str, Any]:
    """Every generation and verification of the phases left its record (none lost)."""
    with container.uow() as uow:
        rows = uow.qr_records.summary(EPOCH, FAR, SummaryKey.CHANNEL, 8)
    verified = sum(r.verified for r in rows)
    generated = sum(r.generated for r in rows)
    expected = out["verify_static"]["requests"] + out["verify_dynamic"]["requests"] + 16
    return {
        "verifications": verified,
        "expected_verifications": expected,
        "generations": generated,
        "expected_generations": out["generate"]["requests"],
        "pass": verified == expected and generated == out["generate"]["requests"],
    }


# --- over HTTP (the load generator: ``qr_bench.py --loadgen '<job>'``) ----------------------


def _request(method: str, target: str, host: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/fhir+json\r\n"
        f"Content-Type: application/fhir+json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def verify_request(code: str, host: str) -> bytes:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "qr", "valueString": code},
            {"name": "terminal", "valueString": TERMINAL},
            {"name": "careStep", "valueCode": "registration"},
            {"name": "channel", "valueString": "his"},
        ],
    }
    return _request("POST", "/fhir/$ehc-qr-verify", host, orjson.dumps(body))


def generate_request(mpi_id: str, host: str) -> bytes:
    return _request("POST", f"/fhir/Patient/{mpi_id}/$ehc-qr", host)


async def _client(
    conn: HttpConnection, work: Any, requests: list[bytes], tally: Tally, clock: dict[str, float]
) -> None:
    while True:
        k = next(work)
        began = time.perf_counter()
        if began >= clock["end"] or k >= len(requests):
            return
        try:
            status, _ = await conn.send(requests[k])
        except (ConnectionError, OSError):
            status = 0
        done = time.perf_counter()
        if began < clock["measure"]:
            continue
        tally.latencies.append(done - began)
        tally.statuses[status] += 1
        tally.last_done = max(tally.last_done, done)
        tally.errors += status != 200


async def load(job: dict[str, Any]) -> dict[str, Any]:
    host = f"127.0.0.1:{job['port']}"
    items = json.loads(pathlib.Path(job["items"]).read_text())
    render = verify_request if job["kind"] == "verify" else generate_request
    requests = [render(item, host) for item in items]
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(job["connections"]):
        conns.append((await loop.create_connection(HttpConnection, "127.0.0.1", job["port"]))[1])
        await asyncio.sleep(0.005)
    tally, work = Tally(), itertools.count()
    now = time.perf_counter()
    clock = {"measure": now + job["warmup"], "end": now + job["warmup"] + job["duration"]}
    tasks = [asyncio.ensure_future(_client(c, work, requests, tally, clock)) for c in conns]
    await asyncio.sleep(job["warmup"])
    meter = procstat.CpuMeter({
        "server": lambda: procstat.tree(job["server_pid"]),
        "postgres": lambda: procstat.postgres_pids(job["pg_server"], job["pg_database"]),
        "loadgen": lambda: [os.getpid()],
    })  # fmt: skip
    meter.start()
    await asyncio.gather(*tasks)
    measured = max(tally.last_done, clock["measure"] + 1e-9) - clock["measure"]
    cores = meter.stop(time.perf_counter() - clock["measure"])
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    tally.latencies.sort()
    result = summary(tally, measured)
    result["cores"] = cores
    result["exhausted"] = next(work) > len(requests)
    return result


def loadgen_main(job_text: str) -> None:
    job = json.loads(job_text)
    try:
        import uvloop
    except ImportError:
        print(json.dumps(asyncio.run(load(job))))
    else:
        print(json.dumps(uvloop.run(load(job))))


def _phase(
    args: argparse.Namespace, server: stack.Server, b: stack.Backend, kind: str, items: list[str]
) -> dict[str, Any]:
    path = b.workdir / f"{kind}-{server.port}.json"
    path.write_text(json.dumps(items))
    job = {
        "kind": kind, "port": server.port, "items": str(path), "connections": args.connections,
        "duration": args.duration, "warmup": args.warmup, "server_pid": server.pid,
        "pg_server": args.pg, "pg_database": b.url.rsplit("/", 1)[-1],
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, __file__, "--loadgen", json.dumps(job)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    c = result["cores"]
    report.log(
        f"QR HTTP {kind}: {result['rps']:,.0f}/s, p50 {result['p50_ms']} ms, p99 "
        f"{result['p99_ms']} ms, errors {result['errors']} {result['statuses']} | cores server "
        f"{c['server']} postgres {c['postgres']} loadgen {c['loadgen']} machine {c['machine_busy']}"
    )
    return result


def over_http(
    args: argparse.Namespace, b: stack.Backend, mpi_ids: list[str], ehc_ids: list[str]
) -> list[dict[str, Any]]:
    crypto = load_crypto(load_settings(str(b.config(0)), environ={}))
    out = []
    total = int((args.duration + args.warmup) * args.max_rate / 2)
    for n, workers in enumerate(sorted({1, args.workers})):
        server = stack.ehcmpi_server(b, http_workers=workers, extra=QR_CONFIG)
        with server:
            time.sleep(3 if workers > 1 else 0)  # forked workers need time to build the app
            rng = random.Random(n)
            gens = [mpi_ids[rng.randrange(len(mpi_ids))] for _ in range(total)]
            codes = dynamic_codes(crypto, ehc_ids, total, skip=300 + n * 1500)  # distinct
            out.append({
                "http_workers": workers,
                "generate": _phase(args, server, b, "generate", gens),
                "verify": _phase(args, server, b, "verify", codes),
            })  # fmt: skip
    return out


# --- the benchmark -------------------------------------------------------------------------


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    inproc = results["in_process"]
    checks: list[tuple[str, float, str, float]] = [
        ("in process: dynamic verifications/s", inproc["verify_dynamic"]["rps"], ">=", 5000),
        ("in process: static verifications/s", inproc["verify_static"]["rps"], ">=", 5000),
        ("one code, 16 scanners, max 1: ok answers", inproc["limit_check"]["ok"], "==", 1),
        ("records lost", 0 if inproc["records"]["pass"] else 1, "<=", 0),
    ]
    for server in results["http"]:
        w = server["http_workers"]
        checks.append(
            (f"http_workers={w}: verifications/s over HTTP", server["verify"]["rps"], ">=", 1500)
        )
        errors = server["verify"]["errors"] + server["generate"]["errors"]
        checks.append((f"http_workers={w}: non-200 answers", errors, "<=", 0))
    errors = sum(inproc[k]["errors"] for k in ("generate", "verify_static", "verify_dynamic"))
    checks.append(("in process: refused verifications", errors, "<=", 0))
    return [
        {"check": what, "value": value, "target": f"{op} {target}",
         "pass": {">=": value >= target, "<=": value <= target, "==": value == target}[op]}
        for what, value, op, target in checks
    ]  # fmt: skip


def table(results: dict[str, Any]) -> str:
    width = 118
    lines = [
        f"{'phase':<44} {'per s':>8} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6} "
        f"{'cpu us/op: srv':>15} {'db':>5}   cores: srv  db   gen  machine",
        "-" * width,
    ]

    def row(label: str, r: dict[str, Any]) -> None:
        c = r["cores"]
        lines.append(
            f"{label:<44} {r['rps']:>8,.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
            f"{r['errors']:>6} {cpu_us(r, 'server'):>15.0f} {cpu_us(r, 'postgres'):>5.0f}   "
            f"{c['server']:4.2f} {c.get('postgres', 0):4.2f} {c.get('loadgen', 0):4.2f} "
            f"{c['machine_busy']:5.2f}"
        )

    inproc, n = results["in_process"], results["meta"]["threads"]
    row(f"in process, {n} threads: generate", inproc["generate"])
    row(f"in process, {n} threads: verify static", inproc["verify_static"])
    row(f"in process, {n} threads: verify dynamic", inproc["verify_dynamic"])
    conns = results["meta"]["connections"]
    for server in results["http"]:
        w = server["http_workers"]
        row(f"HTTP {w} worker(s), {conns} conns: $ehc-qr", server["generate"])
        row(f"HTTP {w} worker(s), {conns} conns: $ehc-qr-verify", server["verify"])
    lines += [
        "-" * width,
        "srv = the benchmark process (in process) or the server's processes (HTTP); cpu us/op = "
        "CPU microseconds per operation;\ncores = average cores used; machine = cores busy on "
        f"the whole {os.cpu_count()}-core machine, other processes included",
    ]
    return "\n".join(lines)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="5 s phases, 200 patients (smoke)")
    p.add_argument("--duration", type=float, help="seconds per phase (15; quick 5)")
    p.add_argument("--warmup", type=float, help="unmeasured seconds of HTTP phases (2; quick 1)")
    p.add_argument("--patients", type=int, help="patients registered first (1000; quick 200)")
    p.add_argument("--threads", type=int, default=8, help="in-process threads (8)")
    p.add_argument("--connections", type=int, default=16, help="HTTP connections (16)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="also measure http_workers = N (default: cores)")  # fmt: skip
    p.add_argument("--max-rate", type=int, default=12000,
                   help="codes made per second of phase (above the expected rate)")  # fmt: skip
    p.add_argument(
        "--pg", default=os.environ.get("EHCMPI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
    )
    p.add_argument("--output", default=str(RESULTS / "qr.json"))
    args = p.parse_args(argv)
    args.duration = args.duration or (5.0 if args.quick else 15.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    args.patients = args.patients or (200 if args.quick else 1000)
    return args


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--loadgen"]:
        loadgen_main(argv[1])
        return
    args = parse(argv)
    began = time.perf_counter()
    results: dict[str, Any] = {"meta": report.meta(args, ["postgresql"])}
    results["meta"].update(threads=args.threads, connections=args.connections, targets=TARGETS)
    with stack.scratch_dir() as root, stack.backend("postgresql", root, args.pg) as b:
        database = b.url.rsplit("/", 1)[-1]
        results["in_process"] = in_process(args, b.config(0, extra=QR_CONFIG), database)
        ids = results["in_process"].pop("ids")
        results["http"] = over_http(args, b, ids["mpi"], ids["ehc"])
    results["meta"]["wall_seconds"] = round(time.perf_counter() - began, 1)
    results["verdicts"] = verdicts(results)
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(table(results))
    print("\ntargets (PostgreSQL, this machine):")
    for v in results["verdicts"]:
        print(f"  {'PASS' if v['pass'] else 'MISS'}  {v['check']}: {v['value']} ({v['target']})")
    print(f"\nwall time {results['meta']['wall_seconds']:.0f} s; results in {output}")


if __name__ == "__main__":
    main()
