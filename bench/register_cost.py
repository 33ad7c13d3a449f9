"""What one ``POST /fhir/Patient`` costs the server's Python, in process: CPU time or
instructions.

The app of ``ehcmpi serve`` (``fhir.app.create_app``) behind uvicorn's HTTP protocol as the
server runs it (``http_protocol.CoalescingProtocol``), one protocol per client connection,
fed the load generator's own requests (``workload.register_request``) in rounds of
``--clients`` at once, as 16 clients of one worker send them at 32 connections and 2
workers; each round ends when every answer has been written.  Everything the worker does but
the socket's system calls: HTTP parsing, FHIR validation, the registration group on a request
thread, PostgreSQL through ``storage.wire``, rendering.  A new PostgreSQL database is created
and dropped, as in ``run.py``.

Throughput on a shared 2-core VM moves by half from one day to the next, which hides a change
worth a few per cent; ``--instructions`` runs this script twice under
``valgrind --tool=callgrind`` (``--rounds`` and ``--rounds`` + 40 rounds) and prints the
difference per registration: start-up cancels out, and the count does not move with
whatever else the machine does (it does with ``--rounds``: the extra rounds come later in a
growing database — alone, 3.30 M per registration over rounds 2–42, 3.67 M over 40–80; compare
runs with the same arguments).  It counts this process only (not PostgreSQL, not the kernel).

    .venv/bin/python bench/register_cost.py                   # CPU ms per registration
    .venv/bin/python bench/register_cost.py --instructions    # instructions per registration
    .venv/bin/python bench/register_cost.py --profile out.prof   # CPU profile (yappi)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from typing import Any

try:
    import yappi  # only for --profile: CPU time of every thread (pip install yappi)
except ImportError:
    yappi = None

import callgrind
import stack
import uvicorn
import uvloop
import workload
from uvicorn.server import ServerState

from ehcmpi.bootstrap import build
from ehcmpi.fhir.app import create_app
from ehcmpi.http_protocol import CoalescingProtocol
from ehcmpi.server import GC_THRESHOLDS
from ehcmpi.settings import load_settings

FIRST = workload.RANGES["check"]  # patient index of the first registration
HOST = "127.0.0.1:8080"


class Transport(asyncio.Transport):
    """One client connection's server end: keeps what the server writes."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._extra = {"peername": ("127.0.0.1", port), "sockname": ("127.0.0.1", 8080)}
        self.written = bytearray()
        self.answered: asyncio.Future[None] | None = None
        self._closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data
        if self.answered is not None and not self.answered.done() and b"\r\n\r\n" in self.written:
            self.answered.set_result(None)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        pass


async def _rounds(app: Any, clients: int, rounds: int, profile: str | None) -> float:
    """CPU seconds per registration over ``rounds`` rounds of ``clients`` at once."""
    loop = asyncio.get_running_loop()
    config = uvicorn.Config(app, access_log=False, lifespan="off", http=CoalescingProtocol)
    config.load()
    state = ServerState()
    connections = []
    for c in range(clients):
        transport = Transport(50000 + c)
        protocol = CoalescingProtocol(config=config, server_state=state, app_state={}, _loop=loop)
        protocol.connection_made(transport)
        connections.append((protocol, transport))
    requests = [workload.register_request(FIRST + i, HOST) for i in range(clients * (rounds + 2))]
    began = 0.0
    for r in range(rounds + 2):
        if r == 2:  # two rounds to warm up: prepared statements, caches, quick clients
            began = time.process_time()
            if profile:
                yappi.set_clock_type("cpu")
                yappi.start()
        for c, (protocol, transport) in enumerate(connections):
            transport.written.clear()
            transport.answered = loop.create_future()
            protocol.data_received(requests[r * clients + c])
        await asyncio.gather(*(t.answered for _, t in connections if t.answered is not None))
        await asyncio.sleep(0)  # the turn's last writes (CoalescedTransport)
        for _, transport in connections:
            if not transport.written.startswith(b"HTTP/1.1 201"):
                raise SystemExit(f"not registered: {bytes(transport.written[:300])!r}")
    spent = time.process_time() - began
    if profile:
        yappi.stop()
        yappi.get_func_stats().save(profile, type="pstat")
    return spent / (clients * rounds)


def measure(clients: int, rounds: int, pg: str, profile: str | None = None) -> float:
    with stack.scratch_dir() as root, stack.backend("postgresql", root, pg) as backend:
        container = build(load_settings(str(backend.config(stack.free_port()))))
        container.start()
        try:
            app = create_app(container)
            gc.collect()
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
            return uvloop.run(_rounds(app, clients, rounds, profile))
        finally:
            container.close()


def instructions(args: argparse.Namespace) -> int:
    """Instructions per registration: two runs under callgrind, differenced."""
    return callgrind.per_unit(
        __file__,
        lambda rounds: ["--clients", str(args.clients), "--rounds", str(rounds), "--pg", args.pg],
        args.rounds, 40, args.clients,
    )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=16, help="requests per round (16)")
    p.add_argument(
        "--rounds", type=int, default=0,
        help="rounds measured (200 for CPU time; with --instructions 10, then 50)",
    )  # fmt: skip
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--instructions", action="store_true", help="count instructions (valgrind)")
    p.add_argument(
        "--profile", metavar="FILE",
        help="write the measured rounds' CPU profile, all threads (pstats; needs yappi)",
    )  # fmt: skip
    args = p.parse_args()
    if args.profile and yappi is None:
        raise SystemExit("--profile needs yappi: .venv/bin/pip install yappi")
    args.rounds = args.rounds or (10 if args.instructions else 200)
    if args.instructions:
        n = instructions(args)
        print(f"{n:,} instructions per registration (rounds of {args.clients})")
    else:
        cpu = measure(args.clients, args.rounds, args.pg, args.profile)
        print(
            f"{cpu * 1000:.3f} ms CPU per registration (rounds of {args.clients},"
            f" {args.rounds} rounds)"
        )


if __name__ == "__main__":
    main()
