"""``GET /fhir/Patient/{id}``: read by master-index ID; cancelled reads as 410 Gone."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound
from fhirpy.base.resource import serialize

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor
from tests.fhir.support import FHIR_JSON, ZHANG_WEI_ID, chinese_patient, diagnostics, ehc_id

ADMIN = Actor("admin", frozenset({"admin"}), "test")


def _create(http: httpx.Client) -> dict[str, object]:
    response = http.post("/Patient", json=chinese_patient())
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_fhir_client_reads_a_registered_patient(http: httpx.Client, fhir: SyncFHIRClient) -> None:
    created = _create(http)

    patient = serialize(fhir.reference("Patient", str(created["id"])).to_resource())

    assert patient["id"] == created["id"]
    assert ehc_id(patient) == ehc_id(created)
    assert patient["name"][0]["text"] == "张伟"
    assert patient["active"] is True
    assert any(i["value"] == ZHANG_WEI_ID for i in patient["identifier"])


def test_read_carries_the_version_as_etag(http: httpx.Client) -> None:
    created = _create(http)

    response = http.get(f"/Patient/{created['id']}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert response.headers["etag"] == 'W/"1"'
    assert response.json()["meta"]["versionId"] == "1"


def test_read_carries_the_last_update_time(http: httpx.Client) -> None:
    created = _create(http)

    response = http.get(f"/Patient/{created['id']}")

    updated = dt.datetime.fromisoformat(response.json()["meta"]["lastUpdated"])
    assert updated.tzinfo is not None
    assert abs(dt.datetime.now(dt.UTC) - updated) < dt.timedelta(minutes=5)
    modified = parsedate_to_datetime(response.headers["last-modified"])
    assert modified == updated.replace(microsecond=0)


def test_an_unknown_id_is_404_operation_outcome(http: httpx.Client, fhir: SyncFHIRClient) -> None:
    response = http.get("/Patient/" + "0" * 64)

    assert response.status_code == 404
    assert response.json()["issue"][0]["code"] == "not-found"
    with pytest.raises(ResourceNotFound):
        fhir.reference("Patient", "F" * 64).to_resource()


def test_a_cancelled_patient_is_410_gone(http: httpx.Client, container: Container) -> None:
    created = _create(http)
    container.maintenance.cancel(str(created["id"]), "重复建档", ADMIN)

    response = http.get(f"/Patient/{created['id']}")

    assert response.status_code == 410
    outcome = response.json()
    assert outcome["issue"][0]["code"] == "deleted"
    assert str(created["id"]) in diagnostics(outcome)


def test_a_restored_patient_reads_again_with_a_new_version(
    http: httpx.Client, container: Container
) -> None:
    created = _create(http)
    container.maintenance.cancel(str(created["id"]), "误注销", ADMIN)
    container.maintenance.restore(str(created["id"]), ADMIN)

    response = http.get(f"/Patient/{created['id']}")

    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"3"'
