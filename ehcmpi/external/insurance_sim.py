"""A simulated 社保/医保身份识别系统 for tests and demos (``ehcmpi simulate insurance``).

It speaks the interface of :mod:`ehcmpi.external.verifier_http` and holds a few fake insured
persons (or those of a JSON file: a list of objects with the keys of ``DEFAULT_PERSONS``).
Its admin endpoints make it fail the way real interfaces fail, so that tests and demos can
watch the index degrade and recover (guideline §6.5):

- ``POST /verify`` ``{"kind", "value"}`` → 200 the person, 404 unknown card / code;
- ``POST /admin/mode`` ``{"mode": "ok" | "error" | "slow", "delay": seconds}`` — ``error``
  answers 503, ``slow`` answers after ``delay`` seconds (default 5);
- ``GET /admin/stats`` → ``{"mode", "verify_calls"}``: how many verifications reached it;
- ``GET /health``.

Standard library only (``http.server``), one thread per request.  Never for production.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ehcmpi.terminology.validators import mod11_2_check_char

MODES = ("ok", "error", "slow")


def _citizen(first17: str) -> str:
    return first17 + mod11_2_check_char(first17)


#: Fake people: card numbers, e-voucher QR texts and voucher ids are made up.
DEFAULT_PERSONS: tuple[dict[str, str], ...] = (
    {
        "name": "李娜",
        "gender": "2",
        "birthDate": "1990-07-15",
        "docType": "01",
        "docNumber": _citizen("11010819900715002"),
        "cardNumber": "K10000001",
        "qr": "YBQR0000000000000000000001",
        "voucherId": "YB11000000000001",
        "insuranceStatus": "active",
        "insuranceType": "职工基本医疗保险",
        "insuranceArea": "110100",
    },
    {
        "name": "王强",
        "gender": "1",
        "birthDate": "1978-01-03",
        "docType": "01",
        "docNumber": _citizen("31010419780103003"),
        "cardNumber": "K10000002",
        "qr": "YBQR0000000000000000000002",
        "voucherId": "YB31000000000002",
        "insuranceStatus": "active",
        "insuranceType": "城乡居民基本医疗保险",
        "insuranceArea": "310100",
    },
    {
        "name": "赵敏",
        "gender": "2",
        "birthDate": "1965-11-20",
        "docType": "01",
        "docNumber": _citizen("44010619651120004"),
        "cardNumber": "K10000003",
        "qr": "YBQR0000000000000000000003",
        "voucherId": "YB44000000000003",
        "insuranceStatus": "suspended",
        "insuranceType": "职工基本医疗保险",
        "insuranceArea": "440100",
    },
)


class SimulatorState:
    def __init__(self, persons: list[dict[str, str]]) -> None:
        self.persons = persons
        self.mode = "ok"
        self.delay = 5.0
        self.verify_calls = 0
        self.lock = threading.Lock()

    def find(self, kind: str, value: str) -> dict[str, str] | None:
        key = {"social-security-card": "cardNumber", "insurance-qr": "qr"}.get(kind)
        if key is None:
            return None
        wanted = value.strip().upper() if key == "cardNumber" else value.strip()
        return next((p for p in self.persons if p.get(key) == wanted), None)


def answer(person: dict[str, str], kind: str) -> dict[str, str]:
    medium_id = person["cardNumber"] if kind == "social-security-card" else person["voucherId"]
    keys = ("name", "gender", "birthDate", "docType", "docNumber", "insuranceStatus",
            "insuranceType", "insuranceArea")  # fmt: skip
    return {k: person[k] for k in keys if k in person} | {"mediumId": medium_id}


class Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/health":
            self._send(200, {"status": "up"})
        elif self.path == "/admin/stats":
            with state.lock:
                self._send(200, {"mode": state.mode, "verify_calls": state.verify_calls})
        else:
            self._send(404, {"error": "no such endpoint"})

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/verify":
            self._verify(body)
        elif self.path == "/admin/mode" and body.get("mode") in MODES:
            state = self.server.state
            with state.lock:
                state.mode = str(body["mode"])
                state.delay = float(body.get("delay", state.delay))
            self._send(200, {"mode": state.mode, "delay": state.delay})
        else:
            self._send(400 if self.path == "/admin/mode" else 404, {"error": "bad request"})

    def _verify(self, body: dict[str, Any]) -> None:
        state = self.server.state
        with state.lock:
            state.verify_calls += 1
            mode, delay = state.mode, state.delay
        if mode == "error":
            self._send(503, {"error": "模拟故障 (simulated failure)"})
            return
        if mode == "slow":
            time.sleep(delay)
        kind, value = str(body.get("kind", "")), str(body.get("value", ""))
        person = state.find(kind, value)
        if person is None:
            self._send(404, {"error": "未找到参保人 (no insured person for this card or code)"})
        else:
            self._send(200, answer(person, kind))


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: SimulatorState) -> None:
        super().__init__(address, Handler)
        self.state = state


def make_server(
    host: str = "127.0.0.1", port: int = 0, persons: list[dict[str, str]] | None = None
) -> SimulatorServer:
    chosen = list(DEFAULT_PERSONS) if persons is None else persons
    return SimulatorServer((host, port), SimulatorState(chosen))
