"""``GET /fhir/Patient/{id}``: read by master-index ID; cancelled reads as 410 Gone."""

from __future__ import annotations

import asyncio
import datetime as dt
from email.utils import parsedate_to_datetime

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound
from fhirpy.base.resource import serialize

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor
from tests.fhir.support import (
    FHIR_JSON,
    ZHANG_WEI_ID,
    chinese_patient,
    citizen_id,
    diagnostics,
    ehc_id,
    id_card,
)

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


def test_reads_sent_together_are_answered_each_with_its_own_patient_and_audit(
    fhir_base: str, http: httpx.Client, container: Container
) -> None:
    """Reads that reach a worker together share a round trip (``ihe/turn_batch.py``); each
    still gets its own patient, its own 404 and its own call-audit entry."""
    ids = [str(_create_numbered(http, n)["id"]) for n in range(3)]
    unknown = "0" * 64
    asked = [ids[k % 3] if k % 4 else unknown for k in range(24)]

    async def read_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=fhir_base, timeout=10) as client:
            return await asyncio.gather(*(client.get(f"/Patient/{i}") for i in asked))

    answers = asyncio.run(read_all())

    for mpi_id, response in zip(asked, answers, strict=True):
        if mpi_id == unknown:
            assert response.status_code == 404, response.text
            assert response.json()["resourceType"] == "OperationOutcome"
        else:
            assert response.status_code == 200, response.text
            assert response.json()["id"] == mpi_id
    container.audit.flush()
    with container.uow() as uow:
        reads = uow.audit.recent(100, action="read")
    assert sorted((e.target, e.outcome) for e in reads) == sorted(
        (i, "error:not-found" if i == unknown else "success") for i in asked
    )


def _create_numbered(http: httpx.Client, n: int) -> dict[str, object]:
    born = dt.date(1980 + n, 3, 1 + n)
    resource = chinese_patient(
        id_card(citizen_id(born, 11 + 2 * n)), name=("王芳", "李强", "赵敏")[n], birth_date=born,
        phone=None,
    )  # fmt: skip
    response = http.post("/Patient", json=resource)
    assert response.status_code == 201, response.text
    return dict(response.json())
