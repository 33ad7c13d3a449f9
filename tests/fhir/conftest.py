"""The FHIR tests talk to the real app over real HTTP: uvicorn on 127.0.0.1, port 0.

One server per database backend for the whole session (starting uvicorn per test would
dominate the run time); each test still gets a clean database through the ``engine``
fixture, and ``container`` is the server's own container, so what a test does through
the services is what the server sees.
"""

from __future__ import annotations

import pathlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fhirpy import SyncFHIRClient
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.fhir.app import create_app
from ehcmpi.http_protocol import CoalescingProtocol
from ehcmpi.settings import Settings
from tests.support import settings_for


class LiveServer:
    """``uvicorn.Server`` serving an app in a background thread on a free local port, on
    the HTTP protocol ``ehcmpi serve`` uses."""

    def __init__(self, app: FastAPI) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/fhir"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", access_log=False, http=CoalescingProtocol
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@pytest.fixture(scope="session")
def server_settings(
    database_url: str, key_file: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The test configuration of the root ``settings`` fixture, for a session-long server."""
    path = tmp_path_factory.mktemp("fhir") / "ehcmpi.toml"
    return settings_for(path, database_url, key_file)


@pytest.fixture(scope="session")
def served(server_settings: Settings, migrated_engine: Engine) -> Iterator[tuple[str, Container]]:
    """A running server for this backend: its base URL (``…/fhir``) and its container."""
    wired = build(server_settings, engine=migrated_engine)
    with LiveServer(create_app(wired)) as server:
        yield server.base_url, wired


@pytest.fixture
def container(served: tuple[str, Container], engine: Engine) -> Iterator[Container]:
    """The server's container, on a database emptied before the test.

    Its audit entries are written before the test ends, so that none lands in a later test's
    freshly emptied database.
    """
    yield served[1]
    served[1].audit.flush()


@pytest.fixture
def fhir_base(served: tuple[str, Container], container: Container) -> str:
    return served[0]


@pytest.fixture
def http(fhir_base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fhir_base, timeout=10) as client:
        yield client


@pytest.fixture
def fhir(fhir_base: str) -> SyncFHIRClient:
    """A third-party FHIR client (fhirpy) pointed at the server."""
    return SyncFHIRClient(fhir_base)
