"""``ehcmpi simulate insurance``: run the simulated 社保/医保身份识别系统 (guideline §5.1.3).

For tests and demos of the reader entry and of degradation (§6.5): point ``[insurance] url``
at it, then switch it to failing with ``POST /admin/mode``.  Prints one line with the address
it listens on (``--port 0`` picks a free port) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import Any

from ehcmpi.settings import ConfigError


def _persons(path: str | None) -> list[dict[str, str]] | None:
    if path is None:
        return None
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"无法读取参保人文件 (cannot read persons file) {path}: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(p, dict) for p in data):
        raise ConfigError(f"参保人文件须为对象数组 (persons file must be a JSON array): {path}")
    return [{str(k): str(v) for k, v in p.items()} for p in data]


def cmd_simulate_insurance(args: argparse.Namespace) -> None:
    from ehcmpi.external.insurance_sim import make_server

    try:
        server = make_server(args.host, args.port, _persons(args.data))
    except OSError as exc:
        raise ConfigError(f"无法监听 (cannot listen on) {args.host}:{args.port}: {exc}") from None
    host, port = server.server_address[:2]
    print(f"insurance simulator listening on http://{host!s}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()


def add_simulate(commands: Any) -> None:
    simulate = commands.add_parser("simulate", help="simulated external systems (tests, demos)")
    systems = simulate.add_subparsers(dest="system", required=True)
    insurance = systems.add_parser("insurance", help="社保/医保身份识别系统 simulator")
    insurance.add_argument("--host", default="127.0.0.1")
    insurance.add_argument("--port", type=int, default=8091, help="0: any free port")
    insurance.add_argument("--data", help="JSON file of insured persons (default: built-in)")
    insurance.set_defaults(func=cmd_simulate_insurance)
