"""``PUT /fhir/Patient/{id}``: 患者基本信息维护 with versioning (ETag / If-Match)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor
from tests.fhir.support import (
    ARCHIVE_NUMBER_SYSTEM,
    EHC_ID_SYSTEM,
    chinese_patient,
    citizen_id,
    diagnostics,
    his_id,
    id_card,
    identifier_values,
    with_bad_check_digit,
)

ADMIN = Actor("admin", frozenset({"admin"}), "test")


def _create(http: httpx.Client, resource: dict[str, Any] | None = None) -> dict[str, Any]:
    response = http.post("/Patient", json=resource or chinese_patient())
    assert response.status_code == 201, response.text
    return dict(response.json())


def _renamed(created: dict[str, Any], name: str) -> dict[str, Any]:
    body = dict(created)
    body["name"] = [{"use": "official", "text": name}]
    body["telecom"] = [{"system": "phone", "value": "13900000001"}]
    return body


def test_update_bumps_the_version_and_keeps_identifiers(
    http: httpx.Client, container: Container
) -> None:
    created = _create(http)

    response = http.put(
        f"/Patient/{created['id']}", json=_renamed(created, "张伟明"), headers={"If-Match": 'W/"1"'}
    )

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'
    body = response.json()
    assert body["name"][0]["text"] == "张伟明"
    assert body["telecom"] == [{"system": "phone", "value": "13900000001"}]
    assert identifier_values(body, EHC_ID_SYSTEM) == identifier_values(created, EHC_ID_SYSTEM)
    history = container.query.history(created["id"], ADMIN)
    assert [v.snapshot.demographics.name for v in history] == ["张伟", "张伟明"]


def test_the_old_version_stays_readable_and_metadata_says_versioned_update(
    http: httpx.Client,
) -> None:
    created = _create(http)
    updated = http.put(f"/Patient/{created['id']}", json=_renamed(created, "张伟明"))

    old = http.get(f"/Patient/{created['id']}/_history/1")

    assert "last-modified" in updated.headers
    assert old.status_code == 200 and old.json()["name"][0]["text"] == "张伟"
    statement = http.get("/metadata").json()
    (patient,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    assert patient["versioning"] == "versioned-update"
    assert patient["readHistory"] is True
    assert patient["conditionalUpdate"] is True and patient["conditionalDelete"] == "single"
    assert {"vread", "history-instance", "delete"} <= {i["code"] for i in patient["interaction"]}


def test_a_stale_if_match_is_412_and_changes_nothing(http: httpx.Client) -> None:
    created = _create(http)
    http.put(f"/Patient/{created['id']}", json=_renamed(created, "张伟明"))

    stale = http.put(
        f"/Patient/{created['id']}", json=_renamed(created, "张三"), headers={"If-Match": 'W/"1"'}
    )

    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert http.get(f"/Patient/{created['id']}").json()["name"][0]["text"] == "张伟明"


def test_a_malformed_if_match_or_mismatched_id_is_400(http: httpx.Client) -> None:
    created = _create(http)

    bad_etag = http.put(f"/Patient/{created['id']}", json=created, headers={"If-Match": "v1"})
    other_id = http.put("/Patient/" + "0" * 64, json=created)

    assert bad_etag.status_code == 400
    assert other_id.status_code == 400


def test_update_of_an_unknown_or_cancelled_patient(
    http: httpx.Client, container: Container
) -> None:
    created = _create(http)
    unknown = dict(created, id="F" * 64)
    assert http.put("/Patient/" + "F" * 64, json=unknown).status_code == 404

    container.maintenance.cancel(created["id"], "重复建档", ADMIN)
    assert http.put(f"/Patient/{created['id']}", json=created).status_code == 409


def test_adding_a_first_valid_document_issues_the_ehc_id(http: httpx.Client) -> None:
    """§5.1.6: the archive patient's record gets its EHC ID; the archive number stays."""
    created = _create(http, chinese_patient(his_id("H-77"), birth_date=None))
    assert identifier_values(created, EHC_ID_SYSTEM) == []
    number = citizen_id(dt.date(1985, 3, 12), 13)
    body = dict(created, identifier=[id_card(number)])

    response = http.put(f"/Patient/{created['id']}", json=body)

    assert response.status_code == 200, response.text
    updated = response.json()
    assert len(identifier_values(updated, EHC_ID_SYSTEM)) == 1
    assert identifier_values(updated, ARCHIVE_NUMBER_SYSTEM) == identifier_values(
        created, ARCHIVE_NUMBER_SYSTEM
    )
    assert updated["birthDate"] == "1985-03-12"


def test_a_bad_document_in_an_update_is_400_and_changes_nothing(http: httpx.Client) -> None:
    created = _create(http, chinese_patient(his_id("H-78")))
    bad = with_bad_check_digit(citizen_id(dt.date(1985, 3, 12), 13))
    body = _renamed(created, "改名") | {"identifier": [id_card(bad)]}

    response = http.put(f"/Patient/{created['id']}", json=body)

    assert response.status_code == 400
    assert "居民身份证" in diagnostics(response.json())
    stored = http.get(f"/Patient/{created['id']}").json()
    assert stored["name"][0]["text"] == "张伟" and stored["meta"]["versionId"] == "1"


def test_an_over_long_name_is_422_not_a_server_error(http: httpx.Client) -> None:
    response = http.post("/Patient", json=chinese_patient(name="张" * 201))

    assert response.status_code == 422
    assert "姓名" in diagnostics(response.json())
