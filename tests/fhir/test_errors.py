"""Every error leaves as an OperationOutcome with the right status, never a stack trace."""

from __future__ import annotations

import http.client
import pathlib
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest

from ehcmpi.bootstrap import build
from ehcmpi.fhir.app import create_app
from ehcmpi.settings import load_settings
from ehcmpi.storage.engine import create_database_engine
from tests.fhir.conftest import LiveServer
from tests.fhir.support import FHIR_JSON, chinese_patient


def test_an_unknown_route_is_404_operation_outcome(http: httpx.Client) -> None:
    response = http.get("/Observation")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert response.json()["issue"][0]["code"] == "not-found"


def test_a_method_the_server_does_not_offer_is_405(http: httpx.Client) -> None:
    response = http.delete("/Patient/ABC")

    assert response.status_code == 405
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.headers["allow"] == "GET"  # RFC 9110: a 405 names the allowed methods


@pytest.fixture
def broken_server(tmp_path: pathlib.Path, key_file: pathlib.Path) -> Iterator[str]:
    """A server on a database that was never migrated: every query fails in SQLAlchemy."""
    config = tmp_path / "ehcmpi.toml"
    config.write_text(f'[keys]\nfile = "{key_file}"\n', encoding="utf-8")
    settings = load_settings(str(config), environ={})
    engine = create_database_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with LiveServer(create_app(build(settings, engine=engine))) as server:
        yield server.base_url


def test_a_broken_database_is_a_500_without_internals(broken_server: str) -> None:
    created = httpx.post(f"{broken_server}/Patient", json=chinese_patient(), timeout=10)
    searched = httpx.get(f"{broken_server}/Patient", params={"name": "zhang"}, timeout=10)

    for response in (created, searched):
        assert response.status_code == 500
        assert response.json()["issue"][0]["code"] == "exception"
        for leak in ("Traceback", "sqlite", "OperationalError", "no such table", 'File "'):
            assert leak not in response.text


def test_a_500_keeps_the_clients_connection_usable(broken_server: str) -> None:
    url = urllib.parse.urlsplit(broken_server)
    connection = http.client.HTTPConnection(url.netloc, timeout=10)
    try:
        connection.request("GET", f"{url.path}/Patient?name=zhang")
        failed = connection.getresponse()
        failed.read()
        # The same keep-alive connection, as every HTTP/1.1 client pool reuses it.
        connection.request("GET", f"{url.path}/metadata")
        after = connection.getresponse()
        after.read()
    finally:
        connection.close()

    assert failed.status == 500
    assert after.status == 200
