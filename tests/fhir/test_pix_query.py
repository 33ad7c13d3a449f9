"""``GET /fhir/Patient/$ihe-pix``: PIXm ITI-83 over real HTTP (RULES.md 23–25)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fhir.support import ZHANG_WEI_ID, chinese_patient, id_card
from tests.support import DOMAINS_TOML

HIS = "urn:oid:1.2.156.112604.1.2.1"
ID_CARD = "urn:oid:2.16.156.10011.1.3"
PIX = "/Patient/$ihe-pix"
assert "1.2.156.112604.1.2.1" in DOMAINS_TOML  # the test server knows the HIS domain


def _register(http: httpx.Client) -> dict[str, Any]:
    body = chinese_patient(id_card(ZHANG_WEI_ID), {"system": HIS, "value": "H-1"})
    created = http.post("/Patient", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def _params(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Parameters"
    return list(body["parameter"])


def test_all_other_identifiers_and_the_patient(http: httpx.Client) -> None:
    patient = _register(http)
    found = _params(http.get(PIX, params={"sourceIdentifier": f"{HIS}|H-1"}))
    identifiers = {(p["valueIdentifier"]["system"], p["valueIdentifier"]["value"])
                   for p in found if p["name"] == "targetIdentifier"}  # fmt: skip
    assert (ID_CARD, ZHANG_WEI_ID) in identifiers
    assert (HIS, "H-1") not in identifiers  # the queried identifier is never returned
    assert any(s == "urn:oid:2.16.156.10011.1.19" for s, _ in identifiers)  # the EHC ID
    targets = [p["valueReference"]["reference"] for p in found if p["name"] == "targetId"]
    assert targets == [f"Patient/{patient['id']}"]


def test_target_system_restricts_the_answer(http: httpx.Client) -> None:
    _register(http)
    found = _params(http.get(PIX, params={"sourceIdentifier": f"{HIS}|H-1",
                                          "targetSystem": ID_CARD}))  # fmt: skip
    identifiers = [p["valueIdentifier"] for p in found if p["name"] == "targetIdentifier"]
    assert identifiers == [{"system": ID_CARD, "value": ZHANG_WEI_ID}]


def test_errors_have_the_statuses_pixm_asks_for(http: httpx.Client) -> None:
    _register(http)
    unknown_id = http.get(PIX, params={"sourceIdentifier": f"{HIS}|NOBODY"})
    assert unknown_id.status_code == 404
    assert unknown_id.json()["issue"][0]["code"] == "not-found"
    assert "Patient Identifier not found" in unknown_id.json()["issue"][0]["diagnostics"]
    unknown_domain = http.get(PIX, params={"sourceIdentifier": "urn:oid:9.9.9|X"})
    assert unknown_domain.status_code == 400
    assert unknown_domain.json()["issue"][0]["code"] == "code-invalid"
    unknown_target = http.get(PIX, params={"sourceIdentifier": f"{HIS}|H-1",
                                           "targetSystem": "urn:oid:8.8.8"})  # fmt: skip
    assert unknown_target.status_code == 403
    assert "targetSystem not found" in unknown_target.json()["issue"][0]["diagnostics"]
    missing = http.get(PIX)
    assert missing.status_code == 400
    assert missing.json()["resourceType"] == "OperationOutcome"
