"""Fixtures of the reader-entry tests: the insurance simulator as a real process and a live
FHIR server configured to call it with short timeouts and a quick circuit breaker.

Import the fixtures into a test module (``from tests.fhir.reader_support import …``).
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.core.verifier import BreakerState
from ehcmpi.fhir.app import create_app
from ehcmpi.settings import load_settings
from tests.fhir.conftest import LiveServer
from tests.insurance_simulator import Simulator
from tests.support import write_config

#: small on purpose: tests watch the breaker open and close
BREAKER_FAILURES = 2
BREAKER_RESET_SECONDS = 1.5
INSURANCE_TOML = """
[insurance]
url = "{url}"
timeout_seconds = 0.5
retries = 1
backoff_seconds = 0.05
breaker_failures = {failures}
breaker_reset_seconds = {reset}
"""


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator() as running:
        yield running


@pytest.fixture(scope="module")
def reader_server(
    database_url: str,
    key_file: pathlib.Path,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_engine: Engine,
    simulator: Simulator,
) -> Iterator[tuple[str, Container]]:
    """A server whose ``[insurance] url`` is the simulator: base URL and container."""
    extra = INSURANCE_TOML.format(
        url=simulator.url, failures=BREAKER_FAILURES, reset=BREAKER_RESET_SECONDS
    )
    path = write_config(tmp_path_factory.mktemp("reader") / "ehcmpi.toml", database_url,
                        key_file, extra)  # fmt: skip
    wired = build(load_settings(str(path), environ={}), engine=migrated_engine)
    with LiveServer(create_app(wired)) as server:
        yield server.base_url, wired


def wait_until_not_open(container: Container) -> None:
    assert container.insurance is not None
    breaker = container.insurance.breaker
    deadline = time.monotonic() + 10 * BREAKER_RESET_SECONDS
    while breaker.state is BreakerState.OPEN and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def wired(
    reader_server: tuple[str, Container], engine: Engine, simulator: Simulator
) -> Iterator[Container]:
    """The server's container on an emptied database, the simulator answering normally and
    the breaker not open (a half-open breaker closes on the next good answer)."""
    if simulator.process is None:
        simulator.restart()
    simulator.mode("ok")
    wait_until_not_open(reader_server[1])
    yield reader_server[1]
    reader_server[1].audit.flush()


@pytest.fixture
def client(reader_server: tuple[str, Container], wired: Container) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=reader_server[0], timeout=15) as http:
        yield http


def parameters(*items: tuple[str, Any]) -> dict[str, Any]:
    """A Parameters body: ``("medium", "id-card")`` → valueCode, a dict → resource."""
    codes = {"medium", "documentType", "careStep", "channel"}
    out = []
    for name, value in items:
        if isinstance(value, dict):
            out.append({"name": name, "resource": value})
        else:
            out.append({"name": name, f"value{'Code' if name in codes else 'String'}": value})
    return {"resourceType": "Parameters", "parameter": out}


def output(body: dict[str, Any], name: str) -> Any:
    """The value (or resource, or parts as a dict) of one output parameter; None if absent."""
    assert body["resourceType"] == "Parameters", body
    for item in body["parameter"]:
        if item["name"] != name:
            continue
        if "part" in item:
            return {p["name"]: _value(p) for p in item["part"]}
        return _value(item)
    return None


def _value(item: dict[str, Any]) -> Any:
    if "resource" in item:
        return item["resource"]
    return next(v for k, v in item.items() if k.startswith("value"))
