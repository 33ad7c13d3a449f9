"""Shared by the electronic health card FHIR tests: Parameters builders, a registered patient
and the registration desk's scanner, verification and refusal checks."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fhir.support import EHC_ID_SYSTEM, ZHANG_WEI_ID, chinese_patient, id_card

ORG = "12100000400000000A"
DESK = ORG + "0301"
REASONS = "http://ehcmpi.org/fhir/CodeSystem/ehc-qr-verification"


def parameters(*items: tuple[str, str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": n, f"value{kind}": v} for n, kind, v in items],
    }


def values(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Parameters"
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in
            body["parameter"]}  # fmt: skip


def register(http: httpx.Client, number: str = ZHANG_WEI_ID, **demo: Any) -> tuple[str, str]:
    created = http.post("/Patient", json=chinese_patient(id_card(number), **demo))
    assert created.status_code == 201, created.text
    patient = created.json()
    ehc = next(i["value"] for i in patient["identifier"] if i["system"] == EHC_ID_SYSTEM)
    return patient["id"], ehc


def add_desk(http: httpx.Client) -> None:
    body = parameters(
        ("action", "Code", "register"),
        ("organization", "String", ORG),
        ("department", "String", "0301"),
        ("name", "String", "门诊挂号窗口 1"),
        ("type", "Code", "scanner"),
        ("location", "String", "门诊楼一层"),
    )
    assert http.post("/$ehc-terminal", json=body).status_code == 201


def verify(
    http: httpx.Client, qr: str, terminal: str = DESK, care_step: str = "registration"
) -> httpx.Response:
    body = parameters(
        ("qr", "String", qr), ("terminal", "String", terminal), ("careStep", "Code", care_step)
    )
    return http.post("/$ehc-qr-verify", json=body)


def generate(http: httpx.Client, mpi_id: str, *items: tuple[str, str, Any]) -> dict[str, Any]:
    return values(http.post(f"/Patient/{mpi_id}/$ehc-qr", json=parameters(*items)))


def refused(response: httpx.Response, status: int, reason: str) -> str:
    assert response.status_code == status, response.text
    issue = response.json()["issue"][0]
    assert issue["details"]["coding"] == [{"system": REASONS, "code": reason}]
    return str(issue["diagnostics"])
