"""``GET /fhir/metadata``: a truthful CapabilityStatement."""

from __future__ import annotations

from typing import Any

import httpx
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationdefinition import OperationDefinition

from ehcmpi.fhir.patient_search import SUPPORTED

OPERATION_BASE = "http://ehcmpi.org/fhir/OperationDefinition/"

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
    # (the PDQm ITI-78 parameters, RULES.md 27, and the guideline's own)
    samples = {
        "identifier": "urn:oid:2.16.156.10011.1.3|110105198503120139",
        "_id": "ABC",
        "active": "true",
        "name": "zhang",
        "family": "张",
        "given": "伟",
        "birthdate": "1985-03-12",
        "gender": "male",
        "telecom": "13800138000",
        "address": "北京",
        "address-city": "北京市",
        "address-state": "北京市",
        "address-postalcode": "100020",
        "address-country": "CN",
        "mothersMaidenName": "李",
        "_count": "5",
    }
    for name in params:
        assert name in samples, f"advertised search parameter {name} has no sample here"
        query = {name: samples[name]} if name != "_count" else {"name": "z", "_count": "5"}
        response = http.get("/Patient", params=query)
        assert response.status_code == 200, (name, response.text)
    # …and a parameter it does not advertise, next to a real criterion, is ignored by default
    # (PDQm) but refused under ``Prefer: handling=strict`` (FHIR R4 search §3.1.1.4.2).
    unadvertised = {"family": "张", "general-practitioner": "X"}
    assert http.get("/Patient", params=unadvertised).status_code == 200
    strict = {"Prefer": "handling=strict"}
    assert http.get("/Patient", params=unadvertised, headers=strict).status_code == 400


def test_metadata_lists_json_and_xml_and_the_ihe_actors(http: httpx.Client) -> None:
    statement = http.get("/metadata").json()

    assert {"application/fhir+json", "application/fhir+xml", "json", "xml"} == set(
        statement["format"]
    )
    assert set(statement["instantiates"]) == {
        "https://profiles.ihe.net/ITI/PIXm/CapabilityStatement/IHE.PIXm.Manager",
        "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.PatientDemographicsSupplier",
    }
    (patient,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    assert set(patient["supportedProfile"]) == {
        "https://profiles.ihe.net/ITI/PIXm/StructureDefinition/IHE.PIXm.Patient",
        "https://profiles.ihe.net/ITI/PDQm/StructureDefinition/IHE.PDQm.Patient",
    }
    CapabilityStatement.model_validate(statement)


def _operations(statement: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    (rest,) = statement["rest"]
    found = [(r["type"], op) for r in rest["resource"] for op in r.get("operation", [])]
    return found + [("", op) for op in rest.get("operation", [])]


def test_every_operation_we_define_resolves_to_its_operation_definition(
    http: httpx.Client,
) -> None:
    operations = _operations(http.get("/metadata").json())
    ours = [(t, op) for t, op in operations if op["definition"].startswith(OPERATION_BASE)]

    assert {"lookup", "validate-code", "expand"} <= {op["name"] for _, op in ours}
    for resource_type, op in ours:
        definition_id = op["definition"].rsplit("/", 1)[-1]
        response = http.get(f"/OperationDefinition/{definition_id}")
        assert response.status_code == 200, op
        definition = response.json()
        OperationDefinition.model_validate(definition)
        assert definition["url"] == op["definition"]
        assert definition["id"] == definition_id
        assert definition["code"] == op["name"]
        if resource_type:
            assert resource_type in definition["resource"]


def test_operation_definitions_of_others_and_unknown_ids_are_404(http: httpx.Client) -> None:
    operations = _operations(http.get("/metadata").json())
    (pix,) = [op for _, op in operations if op["name"] == "ihe-pix"]

    foreign = http.get(f"/OperationDefinition/{pix['definition'].rsplit('/', 1)[-1]}")
    unknown = http.get("/OperationDefinition/Patient-nothing")

    assert foreign.status_code == unknown.status_code == 404
    assert unknown.json()["issue"][0]["code"] == "not-found"


def test_metadata_lists_the_terminology_resources_it_serves(http: httpx.Client) -> None:
    (rest,) = http.get("/metadata").json()["rest"]
    by_type = {r["type"]: r for r in rest["resource"]}

    for resource_type in ("CodeSystem", "ValueSet"):
        codes = {i["code"] for i in by_type[resource_type]["interaction"]}
        assert codes == {"read", "search-type"}
        assert http.get(f"/{resource_type}/document-type").status_code == 200
        assert http.get(f"/{resource_type}").status_code == 200
    assert {i["code"] for i in by_type["OperationDefinition"]["interaction"]} == {"read"}
