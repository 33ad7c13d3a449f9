"""Patient search (PDQm ITI-78) at scale on PostgreSQL, with the query plans behind it.

``python bench/search_bench.py --sizes 100k,1M`` creates its own database (dropped at the end),
seeds it up to each size through the real registration path (``seed.py``), then:

1. runs one search of every kind in ``search_workload.SEARCHES`` in process under
   ``EXPLAIN (ANALYZE, BUFFERS)`` and prints how PostgreSQL reads ``patients`` — a sequential
   scan of a table (``Seq Scan``) fails the run: every search kind must use an index;
2. measures ``GET /fhir/Patient?…`` searches against the real ``ehcmpi serve``
   (``[server] http_workers = --workers``) from 32 keep-alive connections (``loadgen.py``,
   closed loop), the mix rotating through the kinds;
3. measures Patient reads (``GET /fhir/Patient/{id}``) of 50,000 random stored patients
   the same way (issue 4: read ≥ 3,000/s with 32 clients).

``make bench`` runs the same HTTP phase at its own ``--sizes`` (``run.py``).  Results go to
``bench/results/search.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import sys
import time
from typing import Any

import run
import seed
import sqlalchemy as sa
import stack
from report import CONNECTIONS, log
from search_workload import SEARCHES, search_params

from ehcmpi.bootstrap import build
from ehcmpi.core.search import PatientSearch
from ehcmpi.fhir.search_params import parse
from ehcmpi.settings import load_settings
from ehcmpi.storage.engine import create_database_engine

RESULTS = stack.BENCH_DIR / "results"
SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")


def explain(config: pathlib.Path, seeded: int) -> list[dict[str, Any]]:
    """Every search kind once, about a seeded patient, under EXPLAIN ANALYZE."""
    container = build(load_settings(str(config)))
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "row_number() OVER" in statement:
            captured.append((statement, params))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    plans = []
    try:
        for k, (label, _) in enumerate(SEARCHES):
            parsed = parse(search_params(seeded // 2 + k, k), strict=True)
            captured.clear()
            page = container.pdq.query(
                PatientSearch(tuple(parsed.conditions)), parsed.targets or None, parsed.count
            )
            if not captured:  # an identifier resolved to IDs: rows read by primary key
                plans.append({
                    "kind": label, "matches": page.total, "execution": "by id",
                    "seq_scans": [], "indexes": [], "plan": [],
                })  # fmt: skip
                continue
            statement, params = captured[-1]
            with container.engine.connect() as conn:
                lines = [
                    str(r[0])
                    for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params)
                ]
            took = next((ln for ln in lines if ln.startswith("Execution Time")), "")
            plans.append({
                "kind": label, "matches": page.total, "execution": took.split(": ")[-1],
                "seq_scans": sorted(set(SEQ_SCAN.findall("\n".join(lines)))),
                "indexes": sorted(set(re.findall(r"Index (?:Only )?Scan (?:Backward )?using (\w+)|"
                                                 r"Bitmap Index Scan on (\w+)", "\n".join(lines)))),
                "plan": lines,
            })  # fmt: skip
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)
        container.close()
    return plans


def _print_plans(size: int, plans: list[dict[str, Any]]) -> None:
    for p in plans:
        used = sorted({name for pair in p["indexes"] for name in pair if name})
        scans = f"  SEQ SCAN {p['seq_scans']}" if p["seq_scans"] else ""
        log(
            f"  {size:>9,} {p['kind']:<28} {p['matches']:>7,} matches  {p['execution']:>10}  "
            f"{', '.join(used)}{scans}"
        )


def _patient_ids(config: pathlib.Path, path: pathlib.Path, count: int = 50_000) -> int:
    """Write the master-index IDs of ``count`` random stored patients to ``path``."""
    engine = create_database_engine(load_settings(str(config)).database.url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT mpi_id FROM patients ORDER BY random() LIMIT {count}"
            ).all()
    finally:
        engine.dispose()
    path.write_text("\n".join(str(r[0]) for r in rows))
    return len(rows)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"sizes": []}
    with stack.scratch_dir() as root, stack.backend("postgresql", root, args.pg) as b:
        config, seeded = b.config(0), 0
        phases = run.Phases(args, b)
        for size in args.sizes:
            log(f"seeding patients {seeded:,} … {size:,}")
            began = time.perf_counter()
            seed.seed(config, seeded, size, processes=args.seed_processes,
                      progress=lambda n, s: None)  # fmt: skip
            seed.vacuum_analyze(config)
            log(f"seeded in {time.perf_counter() - began:.0f}s")
            seeded = size
            plans = explain(config, seeded)
            log(f"query plans at {size:,} patients (EXPLAIN ANALYZE, one search of each kind):")
            _print_plans(size, plans)
            entry: dict[str, Any] = {"size": size, "plans": plans}
            with stack.ehcmpi_server(b, http_workers=args.workers) as server:
                run._settle(server, args.workers)
                entry["search"] = phases.load(
                    server, "search", f"HTTP search at {size:,} patients, {CONNECTIONS} conns",
                    ranges=[[0, seeded]], seed=5,
                )  # fmt: skip
                ids = _patient_ids(config, root / "read-ids.txt")
                entry["read"] = phases.load(
                    server, "read", f"HTTP read at {size:,} patients, {CONNECTIONS} conns",
                    ranges=[[0, ids]], seed=6, ids_file=str(root / "read-ids.txt"),
                )  # fmt: skip
            out["sizes"].append(entry)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=run._sizes, default=[100_000, 1_000_000])
    p.add_argument("--duration", type=float, default=20.0, help="seconds per HTTP phase")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed-processes", type=int, default=os.cpu_count() or 2)
    p.add_argument(
        "--pg", default=os.environ.get("EHCMPI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
    )
    p.add_argument("--output", type=pathlib.Path, default=RESULTS / "search.json")
    args = p.parse_args(argv)
    args.profile = None  # run.Phases options
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = measure(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2, ensure_ascii=False, default=str))
    print(
        f"\n{'patients':>10} {'phase':>7} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'err':>5} {'miss':>5}"
    )
    for entry in out["sizes"]:
        for phase in ("search", "read"):
            r = entry[phase]
            print(
                f"{entry['size']:>10,} {phase:>7} {r['rps']:>9,.0f} {r['p50_ms']:>7.1f} "
                f"{r['p99_ms']:>7.1f} {r['errors']:>5} {r['misses']:>5}"
            )
    scans = [(e["size"], p["kind"]) for e in out["sizes"] for p in e["plans"] if p["seq_scans"]]
    if scans:
        print(f"FAIL: sequential scans in {scans}")
        sys.exit(1)
    print(f"no sequential scan in any search plan; results in {args.output}")


if __name__ == "__main__":
    main()
