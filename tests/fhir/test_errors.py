"""Every error leaves as an OperationOutcome with the right status, never a stack trace."""

from __future__ import annotations

import http.client
import pathlib
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from ehcmpi.bootstrap import Container, build
from ehcmpi.fhir.app import create_app
from ehcmpi.settings import load_settings
from ehcmpi.storage import migrate
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.tables import metadata
from tests.fhir.conftest import LiveServer
from tests.fhir.support import FHIR_JSON, MPI_ID_SYSTEM, chinese_patient


def test_an_unknown_route_is_404_operation_outcome(http: httpx.Client) -> None:
    response = http.get("/Observation")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert response.json()["issue"][0]["code"] == "not-found"


def test_a_method_the_server_does_not_offer_is_405(http: httpx.Client) -> None:
    response = http.delete("/metadata")

    assert response.status_code == 405
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.headers["allow"] == "GET"  # RFC 9110: a 405 names the allowed methods


@pytest.fixture
def broken_server(tmp_path: pathlib.Path, key_file: pathlib.Path) -> Iterator[str]:
    """A server whose database lost its tables after it started: every query fails in
    SQLAlchemy."""
    config = tmp_path / "ehcmpi.toml"
    config.write_text(f'[keys]\nfile = "{key_file}"\n', encoding="utf-8")
    settings = load_settings(str(config), environ={})
    engine = create_database_engine(f"sqlite:///{tmp_path / 'broken.db'}")
    migrate.upgrade(engine)
    container = build(settings, engine=engine)
    metadata.drop_all(engine)
    with LiveServer(create_app(container)) as server:
        yield server.base_url


def test_a_broken_database_is_a_500_without_internals(broken_server: str) -> None:
    created = httpx.post(f"{broken_server}/Patient", json=chinese_patient(), timeout=10)
    searched = httpx.get(f"{broken_server}/Patient", params={"name": "zhang"}, timeout=10)
    # Answered on the event loop, in the turn's shared round trip (ihe/turn_batch.py).
    looked_up = httpx.get(
        f"{broken_server}/Patient", params={"identifier": f"{MPI_ID_SYSTEM}|{'A' * 64}"}, timeout=10
    )
    read = httpx.get(f"{broken_server}/Patient/{'A' * 64}", timeout=10)

    for response in (created, searched, looked_up, read):
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


def test_a_body_invalid_per_the_fhir_model_is_400_naming_every_element(
    http: httpx.Client, container: Container
) -> None:
    body = chinese_patient()
    body["birthDate"] = "1985-02-30"
    body["telecom"] = {"system": "phone", "value": "13800138000"}  # must be an array
    body["identifier"][0]["period"] = {"start": "yesterday"}

    response = http.post("/Patient", json=body)

    assert response.status_code == 400
    issues = response.json()["issue"]
    assert {i["code"] for i in issues} == {"invalid"}
    where = {i["expression"][0] for i in issues}
    assert {"Patient.birthDate", "Patient.telecom", "Patient.identifier[0].period.start"} <= where
    with container.uow() as uow:
        assert uow.patients.count() == 0


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b"[1, 2]", "structure", "resourceType"),
        (b'{"name": "zhang"}', "structure", "resourceType"),
        (b'{"resourceType": "Martian"}', "not-supported", "Martian"),
        (b'{"resourceType": "Patient", "nickname": "W"}', "invalid", "Patient.nickname"),
        (b"", "structure", "JSON"),
    ],
)
def test_a_body_that_is_no_fhir_resource_is_400(
    http: httpx.Client, body: bytes, code: str, words: str
) -> None:
    # $match takes a Parameters or a bare Patient: the shared reader alone judges the body.
    response = http.post("/Patient/$match", content=body, headers={"Content-Type": FHIR_JSON})

    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == code
    assert words in response.text


def test_a_500_in_xml_when_xml_was_asked_for(broken_server: str) -> None:
    response = httpx.get(f"{broken_server}/Patient", params={"name": "zhang", "_format": "xml"},
                         timeout=10)  # fmt: skip

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/fhir+xml")
    outcome = OperationOutcome.model_validate_xml(response.content)
    assert outcome.issue[0].code == "exception"
    assert "sqlite" not in response.text
