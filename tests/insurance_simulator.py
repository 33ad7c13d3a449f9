"""``ehcmpi simulate insurance`` as a real process, for tests that need the insurance identity
system (社保/医保身份识别系统): start it, make it fail, count the calls that reach it, kill it
and restart it on the same port."""

from __future__ import annotations

import pathlib
import subprocess
import time
from typing import Any

import httpx

from tests.cli.support import EHCMPI, environment


class Simulator:
    def __init__(self, data: pathlib.Path | None = None) -> None:
        self._data = data
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Simulator:
        args = [str(EHCMPI), "simulate", "insurance", "--port", str(self.port)]
        if self._data is not None:
            args += ["--data", str(self._data)]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment()
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.process.kill()
            raise RuntimeError(f"simulator did not start: {line!r} {self.process.stderr}")
        self.port = int(line.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        """Kill the process: connections are refused from now on."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        """Start again on the same port (the index is configured with its URL)."""
        deadline = time.monotonic() + 10
        while True:
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def mode(self, mode: str, delay: float | None = None) -> None:
        body: dict[str, Any] = {"mode": mode} | ({"delay": delay} if delay is not None else {})
        httpx.post(f"{self.url}/admin/mode", json=body, timeout=5).raise_for_status()

    def calls(self) -> int:
        """How many verifications reached the simulator so far."""
        stats = httpx.get(f"{self.url}/admin/stats", timeout=5).json()
        return int(stats["verify_calls"])

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
