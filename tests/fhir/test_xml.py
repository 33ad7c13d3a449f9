"""FHIR XML over real HTTP (FHIR R4 §2.6, §3.1.0.1.10): bodies in XML, answers in XML when asked,
every answer valid FHIR XML (parsed back with ``fhir.resources``), errors included."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.patient import Patient
from fhirpy import SyncFHIRClient

from ehcmpi.bootstrap import Container
from ehcmpi.fhir.xml_format import xml_to_resource
from tests.fhir.support import (
    EHC_ID_SYSTEM,
    ZHANG_WEI_ID,
    chinese_patient,
    ehc_id,
    his_id,
    id_card,
    identifier,
    with_bad_check_digit,
)

PIXM = pathlib.Path(__file__).resolve().parents[3] / "shared" / "conformance" / "pixm"
FHIR_XML = "application/fhir+xml"
XML_HEADERS = {"Content-Type": FHIR_XML, "Accept": FHIR_XML}


def _xml(resource: dict[str, Any]) -> bytes:
    """A request body as FHIR XML, written by fhir.resources (not by the server's code)."""
    rendered = Patient.model_validate(resource).model_dump_xml()
    return rendered if isinstance(rendered, bytes) else str(rendered).encode()


def _count(container: Container) -> int:
    with container.uow() as uow:
        return uow.patients.count()


def test_a_patient_posted_in_xml_is_registered_and_answered_in_xml(
    http: httpx.Client, fhir: SyncFHIRClient
) -> None:
    created = http.post("/Patient", content=_xml(chinese_patient()), headers=XML_HEADERS)

    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith(FHIR_XML)
    patient = Patient.model_validate_xml(created.content)
    assert patient.name[0].text == "张伟"
    as_json = patient.model_dump(mode="json")
    assert identifier(as_json, "urn:oid:2.16.156.10011.1.3")["value"] == ZHANG_WEI_ID
    # The same patient, read by a third-party JSON client: XML and JSON say the same thing.
    read = fhir.reference("Patient", patient.id).to_resource()
    assert ehc_id(read.serialize()) == ehc_id(as_json)
    assert read["birthDate"] == "1985-03-12"


def test_read_in_xml_is_the_json_resource(http: httpx.Client) -> None:
    mpi_id = http.post("/Patient", json=chinese_patient()).json()["id"]

    as_json = http.get(f"/Patient/{mpi_id}").json()
    by_param = http.get(f"/Patient/{mpi_id}", params={"_format": "xml"})
    by_accept = http.get(f"/Patient/{mpi_id}", headers={"Accept": FHIR_XML})

    for response in (by_param, by_accept):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(FHIR_XML)
        assert response.headers["etag"] == f'W/"{as_json["meta"]["versionId"]}"'
        again = Patient.model_validate_xml(response.content).model_dump(mode="json")
        assert again == Patient.model_validate(as_json).model_dump(mode="json")
    assert b'<Patient xmlns="http://hl7.org/fhir">' in by_param.content


def test_every_format_spelling_is_understood(http: httpx.Client) -> None:
    for fmt in ("xml", "text/xml", "application/xml", "application/fhir+xml"):
        response = http.get("/metadata", params={"_format": fmt})
        assert response.headers["content-type"].startswith(FHIR_XML), fmt
    # An unencoded "+" reads as a space in a query string; still XML.
    raw = http.get("/metadata?_format=application/fhir+xml")
    assert raw.headers["content-type"].startswith(FHIR_XML)
    for fmt in ("json", "application/json", "application/fhir+json"):
        response = http.get("/metadata", params={"_format": fmt})
        assert response.headers["content-type"].startswith("application/fhir+json"), fmt


def test_accept_weights_and_format_parameter_precedence(http: httpx.Client) -> None:
    weighed = http.get(
        "/metadata", headers={"Accept": "application/fhir+json;q=0.5, application/fhir+xml"}
    )
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    browser = http.get("/metadata", headers={"Accept": browser_accept})
    anything = http.get("/metadata", headers={"Accept": "*/*"})
    overridden = http.get("/metadata", params={"_format": "json"}, headers={"Accept": FHIR_XML})

    assert weighed.headers["content-type"].startswith(FHIR_XML)
    assert browser.headers["content-type"].startswith(FHIR_XML)
    assert anything.headers["content-type"].startswith("application/fhir+json")
    assert overridden.headers["content-type"].startswith("application/fhir+json")


def test_unsupported_formats_are_406_and_unsupported_bodies_415(
    http: httpx.Client, container: Container
) -> None:
    for headers, params in (
        ({"Accept": "text/turtle"}, {}),
        ({"Accept": "application/fhir+json; fhirVersion=3.0"}, {}),
        ({}, {"_format": "ttl"}),
        ({}, {"_format": "html"}),
    ):
        response = http.get("/metadata", headers=headers, params=params)
        assert response.status_code == 406, (headers, params)
        assert response.json()["issue"][0]["code"] == "not-supported"
    unsupported = http.post(
        "/Patient", content=b"name=zhang", headers={"Content-Type": "text/plain"}
    )
    assert unsupported.status_code == 415
    assert _count(container) == 0


def test_capability_statement_and_search_bundle_in_xml(http: httpx.Client) -> None:
    http.post("/Patient", json=chinese_patient())

    statement = http.get("/metadata", params={"_format": "xml"})
    bundle = http.get("/Patient", params={"name": "张", "_format": "xml"})

    parsed = CapabilityStatement.model_validate_xml(statement.content)
    assert "application/fhir+xml" in parsed.format
    found = Bundle.model_validate_xml(bundle.content)
    assert found.type == "searchset"
    assert found.total == 1
    assert found.entry[0].resource.get_resource_type() == "Patient"


def test_errors_are_operation_outcomes_in_xml(http: httpx.Client) -> None:
    missing = http.get("/Patient/NO-SUCH-ID", headers={"Accept": FHIR_XML})
    no_route = http.get("/Observation", params={"_format": "xml"})

    for response, status in ((missing, 404), (no_route, 404)):
        assert response.status_code == status
        assert response.headers["content-type"].startswith(FHIR_XML)
        outcome = OperationOutcome.model_validate_xml(response.content)
        assert outcome.issue[0].code == "not-found"


def test_a_bad_check_digit_in_xml_is_refused_with_the_reason(
    http: httpx.Client, container: Container
) -> None:
    body = chinese_patient(id_card(with_bad_check_digit(ZHANG_WEI_ID)), his_id("H-XML-1"))

    response = http.post("/Patient", content=_xml(body), headers=XML_HEADERS)

    assert response.status_code == 400
    outcome = OperationOutcome.model_validate_xml(response.content)
    assert "居民身份证" in outcome.issue[0].diagnostics
    assert "校验" in outcome.issue[0].diagnostics
    assert _count(container) == 0


def test_malformed_and_hostile_xml_is_400_and_writes_nothing(
    http: httpx.Client, container: Container
) -> None:
    bodies = {
        "truncated": b'<Patient xmlns="http://hl7.org/fhir"><gender value="male">',
        "no namespace": b'<Patient><gender value="male"/></Patient>',
        "entity": b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>',
        "no value": b'<Patient xmlns="http://hl7.org/fhir"><gender/></Patient>',
        "bad boolean": b'<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>',
        "repeated": b'<Patient xmlns="http://hl7.org/fhir"><gender value="male"/>'
        b'<gender value="female"/></Patient>',
    }
    for what, body in bodies.items():
        response = http.post("/Patient", content=body, headers={"Content-Type": FHIR_XML})
        assert response.status_code == 400, what
        assert response.json()["issue"][0]["code"] == "structure", what
        assert "root:" not in response.text  # nothing of /etc/passwd
    assert _count(container) == 0


def test_xml_validation_errors_name_the_element(http: httpx.Client) -> None:
    unknown = http.post(
        "/Patient", headers={"Content-Type": FHIR_XML},
        content=b'<Patient xmlns="http://hl7.org/fhir"><nickname value="W"/></Patient>',
    )  # fmt: skip
    nested = http.post(
        "/Patient", headers={"Content-Type": FHIR_XML},
        content=b'<Patient xmlns="http://hl7.org/fhir"><identifier><period>'
        b'<start value="yesterday"/></period></identifier></Patient>',
    )  # fmt: skip

    assert unknown.status_code == 400
    assert unknown.json()["issue"][0]["expression"] == ["Patient.nickname"]
    assert nested.status_code == 400
    assert nested.json()["issue"][0]["expression"] == ["Patient.identifier[0].period.start"]


def test_the_xml_reader_gives_the_igs_json_for_the_igs_xml() -> None:
    """The PIXm IG publishes each example in XML and JSON: reading the XML must give the JSON."""
    for xml_name, json_name in (
        ("xml/pixm-request-mohralice-red-all.xml", "pixm_request_01_red_all.json"),
        ("xml/pixm-request-mohralice-red-to-blue.xml", "pixm_request_02_red_to_blue.json"),
        ("xml/pixm-response-mohralice-red-all.xml", "pixm_response_01_red_all.json"),
        ("xml/pixm-response-mohralice-red-to-blue.xml", "pixm_response_02_red_to_blue.json"),
    ):
        read = xml_to_resource((PIXM / xml_name).read_bytes())
        assert read == json.loads((PIXM / json_name).read_text(encoding="utf-8")), xml_name


def test_primitive_extensions_contained_resources_and_narrative_survive_xml() -> None:
    """FHIR R4 §2.6.2: ``_element`` with id/extension, null-padded arrays, ``div`` as XHTML,
    a contained resource: the XML (written by hand as §2.6 shows) reads as the JSON."""
    xml = """<Patient xmlns="http://hl7.org/fhir">
      <id value="p1"/>
      <text><status value="generated"/>
        <div xmlns="http://www.w3.org/1999/xhtml"><p>张伟 <b>男</b></p></div></text>
      <contained><Organization><id value="o1"/><name value="北京协和医院"/></Organization>
      </contained>
      <active value="true"/>
      <name><text value="张伟"/><given value="伟"/>
        <given id="g2" value="小伟"><extension url="http://example.org/nick">
          <valueBoolean value="true"/></extension></given></name>
      <birthDate value="1985-03-12">
        <extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime">
          <valueDateTime value="1985-03-12T08:30:00+08:00"/></extension></birthDate>
      <multipleBirthInteger value="2"/>
      <managingOrganization><reference value="#o1"/></managingOrganization>
    </Patient>"""
    expected: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "p1",
        "text": {"status": "generated",
                 "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>张伟 <b>男</b></p></div>'},
        "contained": [{"resourceType": "Organization", "id": "o1", "name": "北京协和医院"}],
        "active": True,
        "name": [{"text": "张伟", "given": ["伟", "小伟"],
                  "_given": [None, {"id": "g2", "extension": [
                      {"url": "http://example.org/nick", "valueBoolean": True}]}]}],
        "birthDate": "1985-03-12",
        "_birthDate": {"extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
            "valueDateTime": "1985-03-12T08:30:00+08:00"}]},
        "multipleBirthInteger": 2,
        "managingOrganization": {"reference": "#o1"},
    }  # fmt: skip

    read = xml_to_resource(xml.encode())

    assert read == expected
    Patient.model_validate(read)


def test_a_parameters_body_in_xml_reaches_an_operation(http: httpx.Client) -> None:
    """Every route that reads a body reads XML: the PDQm ``$match`` Parameters, in XML."""
    http.post("/Patient", json=chinese_patient())
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": chinese_patient()}]}  # fmt: skip
    rendered = Parameters.model_validate(body).model_dump_xml()

    response = http.post("/Patient/$match", content=rendered, headers=XML_HEADERS)

    assert response.status_code == 200, response.text
    bundle = Bundle.model_validate_xml(response.content)
    assert bundle.entry and bundle.entry[0].resource.id
    assert EHC_ID_SYSTEM in {i.system for i in bundle.entry[0].resource.identifier}
