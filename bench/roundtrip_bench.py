"""What a round trip to PostgreSQL costs, and what ``ehcmpi/storage/wire.py`` saves.

One transaction of five inserts and a commit (the shape of a registration's writes), sent

- ``cursor``: one statement at a time on psycopg's cursor (prepared), then ``commit()``;
- ``psycopg-pipeline``: in psycopg's own pipeline mode (one write and poll per statement);
- ``wire-batch``: as one ``storage.wire.Batch`` — BEGIN, the inserts and COMMIT queued in
  libpq and sent with one write.

Per transaction: wall time, this process's CPU (user + system) and the PostgreSQL backend's
CPU (from ``/proc``).  A scratch database is created and dropped; nothing else is touched::

    .venv/bin/python bench/roundtrip_bench.py [--transactions 2000] [--pg postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
import stack

from ehcmpi.storage.wire import Batch, statement

INSERT = "INSERT INTO t (a, b, c) VALUES (%(a)s, %(b)s, %(c)s)"
ROW = {"a": 1, "b": "张伟 zhang wei", "c": b"\x01" * 48}
INSERTS = 5


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def variants(conn: psycopg.Connection[Any]) -> dict[str, Callable[[], None]]:
    def cursor() -> None:
        with conn.cursor() as cur:
            for _ in range(INSERTS):
                cur.execute(INSERT, ROW, prepare=True)
        conn.commit()

    def psycopg_pipeline() -> None:
        with conn.cursor() as cur, conn.pipeline():
            for _ in range(INSERTS):
                cur.execute(INSERT, ROW)
            conn.execute("COMMIT", prepare=False)

    converted = statement(INSERT)

    def wire_batch() -> None:
        Batch(conn).send([b"BEGIN", *[(converted, ROW)] * INSERTS, b"COMMIT"])

    return {"cursor": cursor, "psycopg-pipeline": psycopg_pipeline, "wire-batch": wire_batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument(
        "--pg", default=os.environ.get("EHCMPI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
    )
    args = parser.parse_args()
    with stack.postgres_database(args.pg) as url, psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE t (a int, b text, c bytea)")
        conn.commit()
        backend = conn.info.backend_pid
        print(f"{INSERTS} inserts and a commit, {args.transactions} transactions each, "
              f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")  # fmt: skip
        print(f"{'':18} {'wall µs':>9} {'client CPU µs':>14} {'PostgreSQL CPU µs':>18}")
        for name, run in variants(conn).items():
            for _ in range(50):  # warm-up: statements prepared, caches filled
                run()
            wall, own, pg = time.perf_counter(), _own_cpu(), _backend_cpu(backend)
            for _ in range(args.transactions):
                run()
            n = args.transactions
            micros = [
                (time.perf_counter() - wall) / n * 1e6,
                (_own_cpu() - own) / n * 1e6,
                (_backend_cpu(backend) - pg) / n * 1e6,
            ]
            print(f"{name:18} {micros[0]:9.0f} {micros[1]:14.0f} {micros[2]:18.0f}")


if __name__ == "__main__":
    main()
