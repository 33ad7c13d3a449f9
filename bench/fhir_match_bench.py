"""``POST /fhir/Patient/$match`` (IHE ITI-119) over HTTP at 100,000 and 1,000,000 stored
patients on PostgreSQL: what a registration app waits for when it asks "is this person
already in the index?".

``match_online.py`` times ``Matcher.candidates`` in-process; this times the whole operation as
a client sees it: the real ``ehcmpi serve`` process (``stack.py``) on a database filled by
``seed.py`` (real registration rows, blocking keys included — the same preload
``match_online.py`` uses), a ``Parameters`` body parsed and validated, the matcher, grading,
the searchset Bundle with every candidate's explanation, and the call audit.  One keep-alive
connection, one request at a time: latency without queueing.  Two kinds of query, as in
``match_online.py``:

- *known*: a seeded person described by another hospital: same name, sex and birth date, a new
  phone, no document — the case that needs matching rather than a document lookup;
- *new*: a person not in the index, with an ID card.

Target (issue 4): p95 ≤ 30 ms at 1,000,000 stored patients.

    .venv/bin/python bench/fhir_match_bench.py                      # 100k then 1M (~8 min)
    .venv/bin/python bench/fhir_match_bench.py --sizes 100k --queries 300
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pathlib
import random
import statistics
import time
from typing import Any

import orjson
import seed
import stack
import workload
from report import log

RESULTS = stack.BENCH_DIR / "results"
TARGET_P95_MS = 30.0
WARMUP = 100


def match_body(index: int, *, known: bool) -> bytes:
    p = workload.person(index)
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"text": p.name}],
        "gender": p.fhir_gender,
        "birthDate": p.birth_date.isoformat(),
        "telecom": [{"system": "phone", "value": f"139{index % 10**8:08d}"}],
    }
    if not known:
        patient["identifier"] = [{"system": "urn:oid:2.16.156.10011.1.3", "value": p.id_number}]
    return orjson.dumps(
        {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient}]}
    )


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Client:
    """One keep-alive HTTP/1.1 connection (``http.client``: no client-side overhead to speak of)."""

    def __init__(self, port: int) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def match(self, body: bytes) -> dict[str, Any]:
        headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
        self._conn.request("POST", "/fhir/Patient/$match", body, headers)
        answer = self._conn.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"$match answered {answer.status}: {data[:300]!r}")
        result: dict[str, Any] = orjson.loads(data)
        return result

    def close(self) -> None:
        self._conn.close()


def measure(port: int, size: int, queries: int) -> dict[str, Any]:
    client = Client(port)
    rng = random.Random(11)
    out: dict[str, Any] = {}
    try:
        for i in range(WARMUP):
            client.match(match_body(workload.RANGES["warmup"] + i, known=False))
        for kind in ("known", "new"):
            latencies, entries, found = [], [], 0
            for i in range(queries):
                known = kind == "known"
                index = rng.randrange(size) if known else workload.RANGES["http"] + i
                body = match_body(index, known=known)
                started = time.perf_counter()
                bundle = client.match(body)
                latencies.append((time.perf_counter() - started) * 1000)
                matches = [e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
                entries.append(len(matches))
                if known and matches:
                    top = matches[0]["resource"].get("name", [{}])[0].get("text")
                    found += top == workload.person(index).name
            latencies.sort()
            out[kind] = {
                "queries": queries,
                "p50_ms": round(statistics.median(latencies), 2),
                "p95_ms": round(percentile(latencies, 0.95), 2),
                "p99_ms": round(percentile(latencies, 0.99), 2),
                "mean_entries": round(statistics.fmean(entries), 2),
                "max_entries": max(entries),
            }
            if kind == "known":
                out[kind]["top_match_is_the_person"] = round(found / queries, 4)
            r = out[kind]
            log(f"{size:,} patients, {kind}: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, "
                f"p99 {r['p99_ms']} ms, {r['mean_entries']} entries")  # fmt: skip
    finally:
        client.close()
    return out


def sizes_of(text: str) -> list[int]:
    """``100k,1M`` or ``100000,1000000``."""
    scale = {"k": 1_000, "m": 1_000_000}
    out = []
    for item in text.replace("_", "").lower().split(","):
        if item:
            out.append(int(float(item[:-1]) * scale[item[-1]]) if item[-1] in scale else int(item))
    return sorted(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1M", help="stored patients, e.g. 100k,1M")
    parser.add_argument("--queries", type=int, default=1000, help="per kind and size")
    parser.add_argument("--seed-processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--pg", default=os.environ.get("EHCMPI_BENCH_PG",
                        "postgresql://postgres@127.0.0.1:5432"))  # fmt: skip
    parser.add_argument("--output", type=pathlib.Path, default=RESULTS / "fhir_match.json")
    args = parser.parse_args()
    began = time.perf_counter()
    results: dict[str, Any] = {"target_p95_ms": TARGET_P95_MS, "sizes": []}
    with stack.scratch_dir() as root, stack.backend("postgresql", root, args.pg) as b:
        config = b.config(0)
        seed.check_equivalence(config, workload.RANGES["check"])
        seeded = 0
        for size in sizes_of(args.sizes):
            log(f"seeding patients {seeded:,} … {size:,} with their blocking keys")
            seconds = seed.seed(config, seeded, size, processes=args.seed_processes,
                                progress=lambda n, s: None)  # fmt: skip
            vacuum = seed.vacuum_analyze(config)
            log(f"seeded {size - seeded:,} in {seconds:.0f} s, vacuum analyze {vacuum:.0f} s")
            seeded = size
            with stack.ehcmpi_server(b) as server:
                entry = {"size": size, "seed_seconds": round(seconds, 1),
                         **measure(server.port, size, args.queries)}  # fmt: skip
            results["sizes"].append(entry)
    worst = {e["size"]: max(e["known"]["p95_ms"], e["new"]["p95_ms"]) for e in results["sizes"]}
    verdicts = [
        f"{'PASS' if p95 <= TARGET_P95_MS else 'MISS'}  $match over HTTP at {size:,}: p95 {p95} ms"
        for size, p95 in worst.items()
    ]
    results["verdicts"] = verdicts
    results["seconds"] = round(time.perf_counter() - began)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
