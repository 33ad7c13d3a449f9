"""``DELETE /fhir/Patient/{id}``: 索引注销 (§4.1.2) as the FHIR delete interaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor
from tests.fhir.support import HIS_SYSTEM, chinese_patient, citizen_id, his_id, id_card

ADMIN = Actor("admin", frozenset({"admin"}), "test")
PIX = "/Patient/$ihe-pix"


def _create(http: httpx.Client, *identifiers: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/Patient", json=chinese_patient(*identifiers))
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_delete_cancels_the_index(http: httpx.Client) -> None:
    created = _create(http)

    response = http.delete(f"/Patient/{created['id']}")

    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "information"
    assert response.headers["etag"] == 'W/"2"'
    read = http.get(f"/Patient/{created['id']}")
    assert read.status_code == 410
    assert read.json()["issue"][0]["code"] == "deleted"


def test_a_cancelled_patient_leaves_the_pix_answers(http: httpx.Client) -> None:
    created = _create(http, id_card(citizen_id(dt.date(1985, 3, 12), 13)), his_id("H-31"))
    query = {"sourceIdentifier": f"{HIS_SYSTEM}|H-31"}
    assert http.get(PIX, params=query).status_code == 200

    http.delete(f"/Patient/{created['id']}")

    assert http.get(PIX, params=query).status_code == 404
    assert http.post("/Patient", json=chinese_patient(his_id("H-31"))).status_code == 409


def test_deleting_twice_changes_nothing_more(http: httpx.Client) -> None:
    created = _create(http)
    http.delete(f"/Patient/{created['id']}")

    again = http.delete(f"/Patient/{created['id']}")

    assert again.status_code == 200
    assert again.headers["etag"] == 'W/"2"'
    assert len(http.get(f"/Patient/{created['id']}/_history").json()["entry"]) == 2


def test_an_unknown_patient_is_404(http: httpx.Client) -> None:
    response = http.delete("/Patient/" + "0" * 64)

    assert response.status_code == 404
    assert response.json()["issue"][0]["code"] == "not-found"


def test_a_merged_record_is_409_and_stays_merged(http: httpx.Client, container: Container) -> None:
    survivor = _create(http, id_card(citizen_id(dt.date(1985, 3, 12), 13)))
    other = chinese_patient(id_card(citizen_id(dt.date(1990, 1, 1), 21)), name="李强",
                            birth_date=dt.date(1990, 1, 1), phone=None)  # fmt: skip
    retired = http.post("/Patient", json=other).json()
    container.merges.merge(survivor["id"], retired["id"], ADMIN, reason="重复建档")

    response = http.delete(f"/Patient/{retired['id']}")

    assert response.status_code == 409
    assert survivor["id"] in response.json()["issue"][0]["diagnostics"]
    merged = http.get(f"/Patient/{retired['id']}").json()
    assert merged["active"] is False
    assert merged["link"] == [{"other": {"reference": f"Patient/{survivor['id']}"},
                               "type": "replaced-by"}]  # fmt: skip


def test_an_administrator_restores_a_deleted_patient(
    http: httpx.Client, container: Container
) -> None:
    created = _create(http)
    http.delete(f"/Patient/{created['id']}")

    container.maintenance.restore(created["id"], ADMIN)

    read = http.get(f"/Patient/{created['id']}")
    assert read.status_code == 200 and read.json()["meta"]["versionId"] == "3"


def test_fhirpy_deletes_and_then_cannot_read(http: httpx.Client, fhir: SyncFHIRClient) -> None:
    created = _create(http)

    fhir.delete("Patient", created["id"])

    with pytest.raises(ResourceNotFound):
        fhir.reference("Patient", created["id"]).to_resource()
