"""``GET /fhir/Patient/{id}/_history`` and ``/_history/{vid}``: every version of a patient
(§4.1.2 患者基本信息维护) as FHIR R4 ``history-instance`` and ``vread``."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor
from tests.fhir.support import chinese_patient, diagnostics

CLERK = Actor("clerk", frozenset(), "test")


def _create(http: httpx.Client) -> dict[str, Any]:
    response = http.post("/Patient", json=chinese_patient())
    assert response.status_code == 201, response.text
    return dict(response.json())


def _rename(http: httpx.Client, created: dict[str, Any], name: str) -> dict[str, Any]:
    body = dict(created, name=[{"use": "official", "text": name}])
    response = http.put(f"/Patient/{created['id']}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _history(http: httpx.Client, patient_id: str, **params: str) -> dict[str, Any]:
    response = http.get(f"/Patient/{patient_id}/_history", params=params)
    assert response.status_code == 200, response.text
    bundle = dict(response.json())
    Bundle.model_validate(bundle)  # a valid FHIR Bundle
    return bundle


def test_history_lists_every_version_newest_first(http: httpx.Client) -> None:
    created = _create(http)
    _rename(http, created, "张伟明")
    _rename(http, created, "张伟强")

    bundle = _history(http, created["id"])

    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "history"
    assert bundle["total"] == 3
    entries = bundle["entry"]
    assert [e["resource"]["meta"]["versionId"] for e in entries] == ["3", "2", "1"]
    assert [e["resource"]["name"][0]["text"] for e in entries] == ["张伟强", "张伟明", "张伟"]
    assert [e["request"]["method"] for e in entries] == ["PUT", "PUT", "POST"]
    assert entries[-1]["response"]["status"].startswith("201")
    assert entries[0]["response"]["etag"] == 'W/"3"'
    assert all(e["fullUrl"].endswith(f"/Patient/{created['id']}") for e in entries)


def test_count_and_since_narrow_the_history(http: httpx.Client) -> None:
    created = _create(http)
    _rename(http, created, "张伟明")

    newest = _history(http, created["id"], _count="1")
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    none_since = _history(http, created["id"], _since=future)
    all_since = _history(http, created["id"], _since="2000-01-01T00:00:00+00:00")

    assert [e["resource"]["meta"]["versionId"] for e in newest["entry"]] == ["2"]
    assert none_since["total"] == 0 and none_since["entry"] == []
    assert all_since["total"] == 2


def test_vread_returns_the_version_as_it_was(http: httpx.Client) -> None:
    created = _create(http)
    _rename(http, created, "张伟明")

    response = http.get(f"/Patient/{created['id']}/_history/1")

    assert response.status_code == 200, response.text
    old = response.json()
    assert old["name"][0]["text"] == "张伟"
    assert old["meta"]["versionId"] == "1"
    assert response.headers["etag"] == 'W/"1"'
    modified = parsedate_to_datetime(response.headers["last-modified"])
    stored = dt.datetime.fromisoformat(old["meta"]["lastUpdated"])
    assert modified == stored.replace(microsecond=0)
    current = http.get(f"/Patient/{created['id']}/_history/2").json()
    assert current == http.get(f"/Patient/{created['id']}").json()


def test_unknown_versions_and_patients_are_404(http: httpx.Client) -> None:
    created = _create(http)

    for path in (
        f"/Patient/{created['id']}/_history/2",
        f"/Patient/{created['id']}/_history/abc",
        "/Patient/" + "0" * 64 + "/_history/1",
        "/Patient/" + "0" * 64 + "/_history",
    ):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response.json()["issue"][0]["code"] == "not-found"


def test_bad_history_parameters_are_400(http: httpx.Client) -> None:
    created = _create(http)

    for params in ({"_count": "0"}, {"_count": "x"}, {"_since": "yesterday"}, {"_at": "2020"}):
        response = http.get(f"/Patient/{created['id']}/_history", params=params)
        assert response.status_code == 400, params
        assert response.json()["resourceType"] == "OperationOutcome"


def test_a_cancellation_is_a_deletion_in_the_history(
    http: httpx.Client, container: Container
) -> None:
    created = _create(http)
    container.maintenance.cancel(created["id"], "重复建档", CLERK)

    bundle = _history(http, created["id"])

    deleted, first = bundle["entry"]
    assert deleted["request"] == {"method": "DELETE", "url": f"Patient/{created['id']}"}
    assert "resource" not in deleted
    assert deleted["response"]["etag"] == 'W/"2"'
    assert first["resource"]["name"][0]["text"] == "张伟"
    gone = http.get(f"/Patient/{created['id']}/_history/2")
    assert gone.status_code == 410
    assert created["id"] in diagnostics(gone.json())
    assert http.get(f"/Patient/{created['id']}/_history/1").status_code == 200
