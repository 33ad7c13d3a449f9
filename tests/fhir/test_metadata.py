"""``GET /fhir/metadata``: a truthful CapabilityStatement."""

from __future__ import annotations

from typing import Any

import httpx

from ehcmpi.fhir.patient_search import SUPPORTED

# ``_format`` is a general parameter of every interaction (FHIR R4 http §3.1.0.1.10), not a
# search parameter, so it belongs in ``rest.resource.searchParam`` of no resource.
GENERAL_PARAMETERS = {"_format"}

#: How each FHIR RESTful interaction is invoked on Patient (FHIR R4 http §3.1.0).
INTERACTIONS = {
    "create": ("POST", "/Patient"),
    "read": ("GET", "/Patient/UNKNOWN"),
    "vread": ("GET", "/Patient/UNKNOWN/_history/1"),
    "update": ("PUT", "/Patient/UNKNOWN"),
    "patch": ("PATCH", "/Patient/UNKNOWN"),
    "delete": ("DELETE", "/Patient/UNKNOWN"),
    "history-instance": ("GET", "/Patient/UNKNOWN/_history"),
    "search-type": ("GET", "/Patient"),
}


def _patient(statement: dict[str, Any]) -> dict[str, Any]:
    (rest,) = statement["rest"]
    (patient,) = [r for r in rest["resource"] if r["type"] == "Patient"]
    return dict(patient)


def test_metadata_is_an_r4_capability_statement(http: httpx.Client) -> None:
    response = http.get("/metadata")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["rest"][0]["mode"] == "server"
    assert statement["implementation"]["url"] == str(http.base_url).rstrip("/")


def test_metadata_lists_patient_create_read_and_search(http: httpx.Client) -> None:
    patient = _patient(http.get("/metadata").json())

    assert {"create", "read", "search-type"} <= {i["code"] for i in patient["interaction"]}


def test_metadata_lists_exactly_the_interactions_the_server_serves(http: httpx.Client) -> None:
    listed = {i["code"] for i in _patient(http.get("/metadata").json())["interaction"]}

    assert listed <= set(INTERACTIONS)
    for code, (method, path) in INTERACTIONS.items():
        response = http.request(method, path)
        assert _served(response) == (code in listed), (code, response.status_code, response.text)


def _served(response: httpx.Response) -> bool:
    """False when no route answers: 405, or the router's own 404 (not "no such patient")."""
    if response.status_code == 405:
        return False
    return not (
        response.status_code == 404 and response.json()["issue"][0]["diagnostics"] == "Not Found"
    )


def test_metadata_lists_exactly_the_search_parameters_the_server_accepts(
    http: httpx.Client,
) -> None:
    params = {p["name"]: p["type"] for p in _patient(http.get("/metadata").json())["searchParam"]}

    assert set(params) == SUPPORTED - GENERAL_PARAMETERS
    assert params["identifier"] == "token"
    assert params["birthdate"] == "date"
    # Every advertised parameter is really accepted: none is refused as unsupported.
    samples = {
        "identifier": "urn:oid:2.16.156.10011.1.3|110105198503120139",
        "name": "zhang",
        "birthdate": "1985-03-12",
        "gender": "male",
        "telecom": "13800138000",
        "_count": "5",
    }
    for name in params:
        query = {name: samples[name]} if name != "_count" else {"name": "z", "_count": "5"}
        response = http.get("/Patient", params=query)
        assert response.status_code == 200, (name, response.text)
    # …and a parameter it does not advertise is refused, not silently ignored.
    assert http.get("/Patient", params={"address": "北京"}).status_code == 400
