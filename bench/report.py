"""What a benchmark run prints and records: the table, the verdicts against the issue's
targets, and the facts about the machine and the code that was measured."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import platform
import sqlite3
import subprocess
import sys
import time
from typing import Any

import procstat
import stack

CONNECTIONS = 32
TARGETS = {"register_rps": 1000, "lookup_rps": 3000, "p99_ms": 25.0, "scale_tolerance": 0.10}


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _row(backend: str, what: str, r: dict[str, Any], patients: str = "") -> str:
    c = r.get("cores")
    cores = ""
    if c:
        other, steal = _other(c), c.get("steal", 0.0)
        flag = "  !" if other > NOISY or steal > NOISY else ""
        cores = (
            f"{c['server']:4.2f} {c['postgres']:4.2f} {c['loadgen']:4.2f} {other:4.2f} "
            f"{steal:4.2f}{flag}"
        )
    per = r.get("cpu_ms_per_request", {}).get("server", r.get("cpu_ms_per_registration"))
    errors = f"{r.get('errors', 0)}/{r.get('misses', 0)}"
    return (
        f"{backend:<10} {what:<48} {patients:>9} {r['rps']:>7,.0f} {r['p50_ms']:>6.1f} "
        f"{r.get('p95_ms', float('nan')):>6.1f} {r['p99_ms']:>6.1f} {r['max_ms']:>7.1f} "
        f"{errors:>8} {per if per is not None else float('nan'):>7.2f}   {cores}"
    )


NOISY = 0.15  # cores used by other processes above which a phase is not comparable


def _other(cores: dict[str, Any]) -> float:
    """Cores used by everything but the server, its database and the load generator."""
    return max(0.0, cores["machine_busy"] - cores["server"] - cores["postgres"] - cores["loadgen"])


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{'backend':<10} {'phase':<48} {'patients':>9} {'req/s':>7} {'p50':>6} {'p95':>6} "
        f"{'p99':>6} {'max':>7} {'err/miss':>8} {'cpu ms':>7}   cores: srv  db   gen  oth  stl",
        "-" * 142,
    ]
    for name, out in results["backends"].items():
        ip = out["inprocess"]
        lines.append(_row(name, "in-process register (1 thread)", {**ip, "rps": ip["rate"]}))
        for config in out["servers"]:
            for r in config["phases"].values():
                patients = f"{r['patients']:,}" if "patients" in r else ""
                lines.append(_row(name, r["label"], r, patients))
        if "uvicorn_workers" in out:
            w = out["uvicorn_workers"]
            lines += [_row(name, w[k]["label"], w[k]) for k in ("register", "lookup")]
        for s in out.get("scale", []):
            w = f", {s['http_workers']} workers" if s["http_workers"] > 1 else ""
            at = f"{s['patients']:,}"
            lines.append(_row(name, f"HTTP lookup, 32 conns{w}", s["lookup"], at))
            if "search" in s:
                lines.append(_row(name, f"HTTP search (PDQm mix), 32 conns{w}", s["search"], at))
            if "register" in s:
                lines.append(_row(name, f"HTTP register, 32 conns{w}", s["register"], at))
            if s["seeded"]:
                lines.append(
                    f"{name:<10}   (seeded {s['seeded']:,} patients in {s['seed_seconds']:.0f} s"
                    f" = {s['seed_rate']:,}/s, VACUUM ANALYZE {s['vacuum_seconds']:.0f} s, "
                    f"database {s['database_bytes'] / 2**30:.2f} GiB)"
                )
    lines.append("-" * 142)
    lines.append(
        "latencies in ms; err/miss = non-2xx or broken connections / lookups answered with an "
        "empty Bundle;\ncpu ms = server CPU per request (in-process: per registration); cores ="
        " average cores used by the server, PostgreSQL,\nthe load generator and everything else"
        " during the phase (the machine's cores are shared by all four), and stolen by the"
        " hypervisor"
    )
    noisy = [
        r["label"]
        for out in results["backends"].values()
        for r in _all_phases(out)
        if _other(r["cores"]) > NOISY or r["cores"].get("steal", 0.0) > NOISY
    ]
    if noisy:
        lines.append(
            f"! {len(noisy)} phase(s) ran while other processes used, or the hypervisor stole, "
            f"more than {NOISY} core: their numbers are lower than this machine can do"
        )
    return "\n".join(lines)


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets on PostgreSQL, for each server configuration measured."""
    pg = results["backends"].get("postgresql")
    if pg is None:
        return []
    checks: list[tuple[str, float, str, float]] = []
    for config in pg["servers"]:
        p, w = config["phases"], f"http_workers={config['http_workers']}"
        reg, look, t = p["register"], p["lookup"], TARGETS
        checks += [
            (f"{w}: registrations/s over HTTP, 32 clients", reg["rps"], ">=", t["register_rps"]),
            (f"{w}: lookups/s over HTTP, 32 clients", look["rps"], ">=", t["lookup_rps"]),
            (f"{w}: p99 ms, registrations, 32 clients", reg["p99_ms"], "<=", t["p99_ms"]),
            (f"{w}: p99 ms, lookups, 32 clients", look["p99_ms"], "<=", t["p99_ms"]),
        ]
        for key in ("register_1", "lookup_1", "register_at_rate", "lookup_at_rate"):
            if key in p:
                checks.append((f"{w}: p99 ms, {p[key]['label']}", p[key]["p99_ms"], "<=", 25.0))
    if pg.get("scale"):
        big = pg["scale"][-1]
        small = next(c for c in pg["servers"] if c["http_workers"] == big["http_workers"])
        look = small["phases"]["lookup"]
        tolerance = TARGETS["scale_tolerance"]
        at = f"http_workers={big['http_workers']}: lookup"
        checks += [
            (
                f"{at}s/s at {big['patients']:,} vs {look['patients']:,} patients",
                big["lookup"]["rps"],
                ">=",
                round(look["rps"] * (1 - tolerance), 1),
            ),
            (
                f"{at} p99 ms at {big['patients']:,} vs {look['patients']:,} patients",
                big["lookup"]["p99_ms"],
                "<=",
                round(max(look["p99_ms"] * (1 + tolerance), look["p99_ms"] + 1), 2),
            ),
        ]
    errors = sum(
        r["errors"] + r["misses"] for out in results["backends"].values() for r in _all_phases(out)
    )
    checks.append(("errors + misses, all phases, both backends", errors, "<=", 0))
    return [
        {
            "check": what,
            "value": value,
            "target": f"{op} {target}",
            "pass": value >= target if op == ">=" else value <= target,
        }
        for what, value, op, target in checks
    ]


def _all_phases(out: dict[str, Any]) -> list[dict[str, Any]]:
    found = [r for config in out["servers"] for r in config["phases"].values()]
    if "uvicorn_workers" in out:
        found += [out["uvicorn_workers"]["register"], out["uvicorn_workers"]["lookup"]]
    for s in out.get("scale", []):
        found += [s[k] for k in ("lookup", "register", "search") if k in s]
    return found


# --- environment ---------------------------------------------------------------------------


def _git() -> dict[str, Any]:
    def git(*a: str) -> str:
        done = subprocess.run(["git", *a], capture_output=True, text=True, cwd=stack.REPO)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def _cpu_model() -> str:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _idle_check() -> float:
    busy0, _, steal0 = procstat.machine_seconds()
    time.sleep(1.0)
    busy1, _, steal1 = procstat.machine_seconds()
    return round(busy1 - busy0 + steal1 - steal0, 2)


def _workload() -> int:
    """A fixed piece of pure Python — dicts, string formatting and splitting, JSON — the kind
    of work the server's Python does."""
    import json

    seen: dict[str, int] = {}
    for i in range(40_000):
        key = f"{i % 997:04d}|{i % 13}"
        seen[key] = seen.get(key, 0) + len(key.split("|")[0])
    return len(json.dumps(seen)) + len(json.loads(json.dumps(sorted(seen.items()))))


SPEED_REPEATS = 7


def machine_speed(repeats: int = SPEED_REPEATS) -> float:
    """Milliseconds for :func:`_workload`, best of ``repeats``: the same code measured on
    another day (this VM's speed has moved by half from one day to the next) is compared
    through it."""
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        _workload()
        best = min(best, time.perf_counter() - began)
    return round(best * 1000, 1)


def speed_line(meta: dict[str, Any]) -> str:
    return (
        f"machine speed: a fixed piece of Python took {meta['speed_ms']} ms"
        f" (best of {SPEED_REPEATS}; lower is faster) on Python {meta['python']}"
        f" ({meta['python_executable']}): compare runs of different days by it, on the same"
        " interpreter"
    )


def _pg_version(server: str) -> str:
    import psycopg

    try:
        with psycopg.connect(f"{server}/postgres", connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except psycopg.OperationalError as exc:
        raise SystemExit(f"bench: PostgreSQL unreachable at {server}: {exc}") from None


def meta(args: argparse.Namespace, backends: list[str]) -> dict[str, Any]:
    busy = _idle_check()
    if busy > 0.15:
        log(f"warning: the machine is busy before the run ({busy} cores): numbers will be lower")
    return {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([pathlib.Path(sys.executable).name, *sys.argv]),
        "args": vars(args),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "busy_cores_before_run": busy,
        "speed_ms": machine_speed(),
        "python": platform.python_version(),
        "python_executable": os.path.realpath(sys.executable),
        "postgresql": _pg_version(args.pg) if "postgresql" in backends else None,
        "sqlite": sqlite3.sqlite_version,
        "git": _git(),
        "connections": CONNECTIONS,
        "note": (
            "server, database and load generator share the same cores; the load generator is"
            " a separate process (asyncio + uvloop, raw HTTP/1.1 keep-alive)"
        ),
        "targets": TARGETS,
    }
