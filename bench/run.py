"""``make bench``: registration and lookup throughput and latency, PostgreSQL and SQLite.

For each backend, on a database of its own (created and dropped here) with its own key file:

1. in-process registration rate (``container.registration.register`` in a loop, one thread);
2. the real ``ehcmpi serve`` process (one process, then ``[server] http_workers = --workers``),
   loaded by ``loadgen.py`` with 32 keep-alive connections:
   new registrations (``POST /fhir/Patient``), then exact identifier lookups
   (``GET /fhir/Patient?identifier=urn:oid:2.16.156.10011.1.3|…``) of registered patients in
   random order — closed loop (maximum throughput), then open loop at a fixed offered rate;
3. optionally (``--uvicorn-workers N``) the same app under ``uvicorn --workers N``;
4. lookups at scale (``--sizes``, default 1,000,000 on PostgreSQL): the database is seeded
   directly (``seed.py``), then lookups, PDQm searches (``search_workload.py``; query plans:
   ``search_bench.py``) and new registrations are measured again with
   ``http_workers = --workers``.

Prints a table and writes ``bench/results/latest.json``.  The load generator runs on the
same machine as the server and the database: every HTTP phase reports how many cores each
used (``cores`` in the JSON, ``srv/db/gen/oth`` in the table).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

import inprocess
import procstat
import seed
import sqlalchemy as sa
import stack
import workload
from report import CONNECTIONS, TARGETS, log, meta, speed_line, table, verdicts

from ehcmpi.storage.engine import create_database_engine

RESULTS = stack.BENCH_DIR / "results"
MAX_RENDER_RATE = {
    "register": 4000,
    "lookup": 8000,
    "search": 2000,
    "read": 8000,
}  # rendered per second


# --- one HTTP phase ------------------------------------------------------------------------


class Phases:
    """Runs load-generator phases against one server and keeps what it registered."""

    def __init__(self, args: argparse.Namespace, backend: stack.Backend) -> None:
        self.args = args
        self.backend = backend
        self.registered: list[list[int]] = []
        self.profiles: list[str] = []

    def load(self, server: stack.Server, kind: str, label: str, **job: Any) -> dict[str, Any]:
        args = self.args
        duration = job.pop("duration", args.duration)
        spec = {
            "kind": kind,
            "host": "127.0.0.1",
            "port": server.port,
            "connections": job.pop("connections", CONNECTIONS),
            "duration": duration,
            "warmup": args.warmup,
            "server_pid": server.pid,
            "pg_server": self.args.pg,
            "pg_database": self.backend.url.rsplit("/", 1)[-1]
            if self.backend.name == "postgresql"
            else None,
            "max_requests": int((duration + args.warmup) * (job.get("rate") or 0))
            or int((duration + args.warmup) * MAX_RENDER_RATE[kind]),
            **job,
        }
        if kind in ("lookup", "read"):
            spec["max_requests"] = min(spec["max_requests"], 200_000)
        if kind == "search":
            spec["max_requests"] = min(spec["max_requests"], 50_000)
        log(f"{self.backend.name}: {label} ({duration:g}s + {args.warmup:g}s warm-up)")
        profiler = self._profiler(server, label, duration) if args.profile else None
        done = subprocess.run(
            [sys.executable, str(stack.BENCH_DIR / "loadgen.py"), json.dumps(spec)],
            capture_output=True,
            text=True,
            check=False,
        )
        if profiler is not None:
            profiler.wait()
        if done.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout)
        result["label"] = label
        if kind == "register":
            failed = set(result.pop("failed_indexes"))
            a, b = result["registered"]
            self.registered += _without(a, b, failed)
        else:
            result.pop("failed_indexes")
        _report(self.backend.name, result)
        return result

    def _profiler(
        self, server: stack.Server, label: str, duration: float
    ) -> subprocess.Popen[bytes]:
        RESULTS.mkdir(exist_ok=True)
        slug = "".join(c if c.isalnum() else "-" for c in f"{self.backend.name}-{label}")
        out = RESULTS / f"profile-{slug}.svg"
        self.profiles.append(str(out))
        command = [
            self.args.profile, "record", "--pid", str(server.pid), "--output", str(out),
            "--duration", str(int(duration)), "--rate", "100", "--nonblocking",
            "--subprocesses", "--idle",
        ]  # fmt: skip
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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


def _report(backend: str, r: dict[str, Any]) -> None:
    c = r["cores"]
    log(
        f"{backend}: {r['label']}: {r['rps']:,.0f} req/s, p50 {r['p50_ms']} ms, "
        f"p99 {r['p99_ms']} ms, max {r['max_ms']} ms, errors {r['errors']}, misses {r['misses']}"
        f" | cores server {c['server']} postgres {c['postgres']} loadgen {c['loadgen']}"
        f" machine {c['machine_busy']}"
    )


# --- database facts ------------------------------------------------------------------------


def patient_count(b: stack.Backend) -> int:
    engine = create_database_engine(b.url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM patients")).scalar_one())
    finally:
        engine.dispose()


def database_bytes(b: stack.Backend) -> int:
    if b.name == "sqlite":
        path = pathlib.Path(b.url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    engine = create_database_engine(b.url)
    try:
        with engine.connect() as conn:
            query = "SELECT pg_database_size(current_database())"
            return int(conn.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


# --- one backend ---------------------------------------------------------------------------


def _rate_for(closed: dict[str, Any], target: int) -> tuple[int, str]:
    """The offered rate: the target if the closed loop reached it, else 80 % of what it did."""
    if closed["rps"] >= target:
        return target, "target"
    return max(1, int(closed["rps"] * 0.8)), "80% of max"


def _settle(server: stack.Server, workers: int) -> None:
    """Give forked workers time to build their app: one answering is not all listening."""
    if workers > 1:
        deadline = time.monotonic() + 20
        while len(procstat.tree(server.pid)) <= workers and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)


def run_server(
    b: stack.Backend, phases: Phases, workers: int, slot: int, args: argparse.Namespace
) -> dict[str, Any]:
    """The HTTP phases against ``ehcmpi serve`` with ``[server] http_workers = workers``."""
    suffix = f", {workers} workers" if workers > 1 else ""
    out: dict[str, Any] = {"http_workers": workers, "phases": {}}
    p = out["phases"]
    with stack.ehcmpi_server(b, http_workers=workers) as server:
        _settle(server, workers)
        out["processes"] = len(procstat.tree(server.pid))
        if workers > 1 and out["processes"] <= 1:
            log(f"{b.name}: [server] http_workers={workers} but one process: not wired")
        p["register"] = phases.load(
            server, "register", f"HTTP register, {CONNECTIONS} conns{suffix}",
            start=workload.RANGES["http"] + 10_000_000 * slot,
        )  # fmt: skip
        p["lookup"] = phases.load(
            server, "lookup", f"HTTP lookup, {CONNECTIONS} conns{suffix}",
            ranges=phases.registered, seed=1 + slot,
        )  # fmt: skip
        p["lookup"]["patients"] = patient_count(b)
        # One client, one request at a time: latency without queueing (and a TCP_NODELAY or
        # other per-request stall shows here at once).
        single = max(3.0, args.duration / 4)
        p["register_1"] = phases.load(
            server, "register", f"HTTP register, 1 conn{suffix}", connections=1,
            duration=single, start=workload.RANGES["http"] + 10_000_000 * slot + 5_000_000,
        )  # fmt: skip
        p["lookup_1"] = phases.load(
            server, "lookup", f"HTTP lookup, 1 conn{suffix}", connections=1,
            duration=single, ranges=phases.registered, seed=21 + slot,
        )  # fmt: skip
        if not args.no_rate:
            rate, why = _rate_for(p["register"], TARGETS["register_rps"])
            p["register_at_rate"] = phases.load(
                server, "register", f"HTTP register at {rate}/s ({why}){suffix}",
                start=workload.RANGES["rate"] + 10_000_000 * slot, rate=rate,
            )  # fmt: skip
            rate, why = _rate_for(p["lookup"], TARGETS["lookup_rps"])
            p["lookup_at_rate"] = phases.load(
                server, "lookup", f"HTTP lookup at {rate}/s ({why}){suffix}",
                ranges=phases.registered, seed=11 + slot, rate=rate,
            )  # fmt: skip
    return out


def run_backend(name: str, workdir: pathlib.Path, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with stack.backend(name, workdir, args.pg) as b:
        log(f"{name}: in-process registration ({args.inprocess:g}s)")
        ip = inprocess.measure(b.config(0), workload.RANGES["inprocess"], args.inprocess)
        log(f"{name}: in-process: {ip['rate']:,.0f} registrations/s, p50 {ip['p50_ms']} ms")
        out["inprocess"] = ip
        phases = Phases(args, b)
        phases.registered.append(ip["registered"])
        configs = sorted({1, args.workers})
        out["servers"] = [run_server(b, phases, w, i, args) for i, w in enumerate(configs)]

        if args.uvicorn_workers:
            n = args.uvicorn_workers
            with stack.factory_server(b, n) as fs:
                out["uvicorn_workers"] = {
                    "workers": n,
                    "processes": len(procstat.tree(fs.pid)),
                    "register": phases.load(
                        fs, "register", f"uvicorn --workers {n} (factory): register",
                        start=workload.RANGES["workers"],
                    ),
                    "lookup": phases.load(
                        fs, "lookup", f"uvicorn --workers {n} (factory): lookup",
                        ranges=phases.registered, seed=3,
                    ),
                }  # fmt: skip

        sizes = args.sizes if name == "postgresql" else args.sqlite_sizes
        if sizes:
            out["scale"] = run_scale(b, phases, sorted(sizes), args)
        out["database_bytes"] = database_bytes(b)
        out["profiles"] = phases.profiles
    return out


def run_scale(
    b: stack.Backend, phases: Phases, sizes: list[int], args: argparse.Namespace
) -> list[dict[str, Any]]:
    config = b.config(0)
    seed.check_equivalence(config, workload.RANGES["check"])
    results = []
    seeded = 0
    for size in sizes:
        # The database already holds the patients registered above; seed up to ``size`` more.
        target = size - patient_count(b) + seeded
        if target > seeded:
            log(f"{b.name}: seeding patients {seeded:,} … {target:,}")
            last = [0.0]

            def progress(n: int, spent: float, _last: list[float] = last) -> None:
                if spent - _last[0] >= 10:
                    _last[0] = spent
                    log(f"{b.name}:   {n:,} seeded, {n / spent:,.0f}/s")

            seconds = seed.seed(
                config, seeded, target, processes=args.seed_processes, progress=progress
            )
            vacuum = seed.vacuum_analyze(config)
            log(
                f"{b.name}: seeded {target - seeded:,} in {seconds:.1f}s "
                f"({(target - seeded) / seconds:,.0f}/s), vacuum analyze {vacuum:.1f}s"
            )
            seed.check_lookups(config, seeded, target)
            seeded_now, seeded = (target - seeded, seconds, vacuum), target
        else:
            seeded_now = (0, 0.0, 0.0)
        count = patient_count(b)
        entry: dict[str, Any] = {
            "size": size,
            "patients": count,
            "seeded": seeded_now[0],
            "seed_seconds": round(seeded_now[1], 1),
            "seed_rate": round(seeded_now[0] / seeded_now[1]) if seeded_now[1] else None,
            "vacuum_seconds": round(seeded_now[2], 1),
            "database_bytes": database_bytes(b),
        }
        entry["http_workers"] = args.workers
        suffix = f", {args.workers} workers" if args.workers > 1 else ""
        with stack.ehcmpi_server(b, http_workers=args.workers) as server:
            _settle(server, args.workers)
            entry["lookup"] = phases.load(
                server, "lookup", f"HTTP lookup at {count:,} patients{suffix}",
                ranges=[[0, seeded]], seed=4,
            )  # fmt: skip
            # PDQm ITI-78 searches (bench/search_workload.py) about seeded patients.
            entry["search"] = phases.load(
                server, "search", f"HTTP search at {count:,} patients{suffix}",
                ranges=[[0, seeded]], seed=5,
            )  # fmt: skip
            if not args.no_scale_register:
                entry["register"] = phases.load(
                    server, "register", f"HTTP register at {count:,} patients{suffix}",
                    start=workload.RANGES["scale"] + 10_000_000 * len(results),
                )  # fmt: skip
        results.append(entry)
    return results


# --- report --------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    """``100000,1000000`` or ``100k,1M``."""
    scale = {"k": 1_000, "m": 1_000_000}
    sizes = []
    for item in text.replace("_", "").lower().split(","):
        if item:
            sizes.append(
                int(float(item[:-1]) * scale[item[-1]]) if item[-1] in scale else int(item)
            )
    return sizes


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--quick", action="store_true", help="small sizes and short phases (smoke)")
    p.add_argument(
        "--sizes", type=_sizes, default=None,
        help="PostgreSQL patient counts for lookups at scale, e.g. 100k,1M "
        "(default 1M; with --quick 20k; '' to skip)",
    )  # fmt: skip
    p.add_argument("--sqlite-sizes", type=_sizes, default=[], help="same for SQLite (default none)")
    p.add_argument("--duration", type=float, default=None, help="seconds per HTTP phase (20)")
    p.add_argument("--warmup", type=float, default=None, help="unmeasured seconds first (3)")
    p.add_argument("--inprocess", type=float, default=None, help="in-process seconds (10)")
    p.add_argument("--no-rate", action="store_true", help="skip the fixed-rate (open loop) phases")
    p.add_argument(
        "--no-scale-register", action="store_true", help="at scale, measure lookups only"
    )
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1,
        help="also measure ehcmpi serve with [server] http_workers = N, and use it at scale "
        "(default: the number of cores; 1 = one process only)",
    )  # fmt: skip
    p.add_argument(
        "--uvicorn-workers", type=int, default=0,
        help="also run the app under uvicorn --workers N (bench/app_factory.py)",
    )  # fmt: skip
    p.add_argument("--seed-processes", type=int, default=os.cpu_count() or 2)
    p.add_argument(
        "--pg", default=os.environ.get("EHCMPI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server (a database ehcmpi_bench_<random> is created and dropped)",
    )  # fmt: skip
    p.add_argument(
        "--profile", metavar="PY_SPY", nargs="?", const="py-spy", default=None,
        help="record a py-spy flame graph of the server per HTTP phase into bench/results/",
    )  # fmt: skip
    p.add_argument("--output", type=pathlib.Path, default=RESULTS / "latest.json")
    args = p.parse_args(argv)
    quick = args.quick
    args.duration = args.duration or (5.0 if quick else 20.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if quick else 3.0)
    args.inprocess = args.inprocess or (3.0 if quick else 10.0)
    if args.sizes is None:
        args.sizes = [20_000] if quick else [1_000_000]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    began = time.perf_counter()
    results: dict[str, Any] = {"meta": meta(args, backends), "backends": {}}
    with stack.scratch_dir() as root:
        for name in backends:
            (root / name).mkdir()
            results["backends"][name] = run_backend(name, root / name, args)
    results["meta"]["wall_seconds"] = round(time.perf_counter() - began, 1)
    results["verdicts"] = verdicts(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(table(results))
    print(speed_line(results["meta"]))
    if results["verdicts"]:
        print("\ntargets (PostgreSQL, this machine):")
        for v in results["verdicts"]:
            mark = "PASS" if v["pass"] else "FAIL"
            print(f"  {mark}  {v['check']}: {v['value']} (target {v['target']})")
    minutes, seconds = divmod(results["meta"]["wall_seconds"], 60)
    print(f"\nwall time {int(minutes)} min {seconds:.0f} s; results in {args.output}")


if __name__ == "__main__":
    main()
