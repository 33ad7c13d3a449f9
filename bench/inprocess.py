"""In-process registration rate: ``container.registration.register`` in a loop, one thread.

No HTTP, no FHIR parsing: the domain service, crypto and the database, as ``ehcmpi import``
uses them.  The container is the one ``ehcmpi serve`` builds (same configuration), including
the background audit writer, which shares the GIL with the loop as it does in the server.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import workload
from loadgen import percentile

from ehcmpi.bootstrap import build
from ehcmpi.core.model import Actor
from ehcmpi.settings import load_settings

ACTOR = Actor("bench:inprocess", channel="api")
CHUNK = 500


def measure(config: pathlib.Path, start: int, duration: float) -> dict[str, Any]:
    """Register new patients from index ``start`` for ``duration`` seconds of register calls."""
    container = build(load_settings(str(config)))
    container.start()
    latencies: list[float] = []
    created = 0
    index = start
    cpu = 0.0
    try:
        while sum(latencies) < duration:
            requests = [workload.registration_request(i) for i in range(index, index + CHUNK)]
            index += CHUNK
            cpu -= time.process_time()  # this process: the loop and the audit writer
            for request in requests:
                began = time.perf_counter()
                result = container.registration.register(request, ACTOR)
                latencies.append(time.perf_counter() - began)
                created += result.created
            cpu += time.process_time()
    finally:
        container.close()
    spent = sum(latencies)
    ordered = sorted(latencies)
    return {
        "registrations": len(latencies),
        "created": created,
        "seconds": round(spent, 2),
        "rate": round(len(latencies) / spent, 1),
        "p50_ms": percentile(ordered, 50),
        "p95_ms": percentile(ordered, 95),
        "p99_ms": percentile(ordered, 99),
        "max_ms": round(ordered[-1] * 1000, 2),
        "cpu_ms_per_registration": round(cpu / len(latencies) * 1000, 3),
        "registered": [start, start + len(latencies)],
    }
