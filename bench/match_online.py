"""Matching one incoming record against 1,000,000 stored patients on PostgreSQL.

What a hospital feed pays per new patient (§4.1.1 自动合并 at registration): the blocking-key
lookup in the stored index (one query per cap group), loading the candidate golden records
and scoring them — ``Matcher.candidates``, the code that registration and ``$match`` call.
The database is seeded with ``seed.py`` (real registration rows, blocking keys included),
then timed one query at a time (latency, no queueing), two kinds of incoming record:

- *known*: a seeded person arriving from another hospital system: same name and birth date,
  a new phone, no document (the case that needs matching rather than a document lookup);
- *new*: a person not in the index.

Target (issue): p95 ≤ 20 ms at 1,000,000 stored patients.

    .venv/bin/python bench/match_online.py                    # 1,000,000 patients (~8 min)
    .venv/bin/python bench/match_online.py --size 100000 --queries 500
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import statistics
import time
from typing import Any

import seed
import stack
import workload
from report import log

from ehcmpi.bootstrap import build
from ehcmpi.core.matching.convert import match_record
from ehcmpi.core.matching.record import MatchRecord
from ehcmpi.core.model import Demographics, IdentityDocument
from ehcmpi.settings import load_settings

RESULTS = stack.BENCH_DIR / "results"
TARGET_P95_MS = 20.0


def incoming(index: int, *, known: bool) -> MatchRecord:
    p = workload.person(index)
    demographics = Demographics(
        name=p.name, gender=p.gender, birth_date=p.birth_date, phones=(f"139{index % 10**8:08d}",)
    )
    documents = () if known else (IdentityDocument("01", p.id_number),)
    return match_record(f"incoming-{index}", demographics, documents)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(config: pathlib.Path, size: int, queries: int) -> dict[str, Any]:
    container = build(load_settings(str(config)))
    matcher = container.linker.matcher
    rng = random.Random(7)
    out: dict[str, Any] = {}
    try:
        for kind in ("known", "new"):
            latencies, candidates, found = [], [], 0
            for _ in range(queries):
                index = rng.randrange(size) if kind == "known" else size + rng.randrange(10**6)
                record = incoming(index, known=kind == "known")
                started = time.perf_counter()
                with container.uow() as uow:
                    result = matcher.candidates(uow, record)
                latencies.append((time.perf_counter() - started) * 1000)
                candidates.append(len(result))
                if kind == "known" and result:
                    found += result[0].patient.demographics.name == workload.person(index).name
            out[kind] = {
                "queries": queries,
                "p50_ms": round(statistics.median(latencies), 2),
                "p95_ms": round(percentile(latencies, 0.95), 2),
                "p99_ms": round(percentile(latencies, 0.99), 2),
                "mean_candidates": round(statistics.fmean(candidates), 2),
                "max_candidates": max(candidates),
            }
            if kind == "known":
                out[kind]["top_candidate_is_the_person"] = round(found / queries, 4)
            log(f"{kind}: p50 {out[kind]['p50_ms']} ms, p95 {out[kind]['p95_ms']} ms, "
                f"{out[kind]['mean_candidates']} candidates")  # fmt: skip
    finally:
        container.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--pg", default=os.environ.get("EHCMPI_BENCH_PG",
                        "postgresql://postgres@127.0.0.1:5432"))  # fmt: skip
    parser.add_argument("--output", type=pathlib.Path, default=RESULTS / "match_online.json")
    args = parser.parse_args()
    with stack.scratch_dir() as root, stack.backend("postgresql", root, args.pg) as b:
        config = b.config(0)
        seed.check_equivalence(config, workload.RANGES["check"])
        log(f"seeding {args.size:,} patients with their blocking keys")
        seconds = seed.seed(config, 0, args.size, processes=os.cpu_count() or 2,
                            progress=lambda n, s: None)  # fmt: skip
        vacuum = seed.vacuum_analyze(config)
        log(f"seeded in {seconds:.0f} s, vacuum analyze {vacuum:.0f} s")
        results = {"size": args.size, "seed_seconds": round(seconds, 1),
                   **measure(config, args.size, args.queries)}  # fmt: skip
    p95 = max(results["known"]["p95_ms"], results["new"]["p95_ms"])
    verdict = "PASS" if p95 <= TARGET_P95_MS else "MISS"
    results["verdict"] = f"{verdict}  match one record vs {args.size:,}: p95 {p95} ms"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(results["verdict"])


if __name__ == "__main__":
    main()
