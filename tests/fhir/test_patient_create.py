"""``POST /fhir/Patient``: registration (§4.1.2 索引注册, §5.1.1, §5.1.6) over real HTTP."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
from fhirpy import SyncFHIRClient
from fhirpy.base.resource import serialize

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor
from tests.fhir.support import (
    ARCHIVE_NUMBER_SYSTEM,
    DOCUMENT_TYPE_CODESYSTEM,
    EHC_ID_SYSTEM,
    EXT_DATA_QUALITY,
    EXT_ETHNICITY,
    EXT_REPRESENTATION,
    FHIR_JSON,
    HIS_SYSTEM,
    ID_CARD_SYSTEM,
    MPI_ID_SYSTEM,
    PASSPORT_SYSTEM,
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    chinese_patient,
    citizen_id,
    citizen_id_ending_in_x,
    diagnostics,
    ehc_id,
    his_id,
    id_card,
    identifier,
    identifier_values,
    with_bad_check_digit,
)

JSON_HEADERS = {"Content-Type": FHIR_JSON}
ADMIN = Actor("admin", frozenset({"admin"}), "test")


def _post(http: httpx.Client, resource: dict[str, Any]) -> httpx.Response:
    return http.post("/Patient", json=resource, headers=JSON_HEADERS)


def _count(container: Container) -> int:
    with container.uow() as uow:
        return uow.patients.count()


def _search_total(http: httpx.Client, **params: str) -> int:
    response = http.get("/Patient", params=params)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


# --- happy path, with a third-party FHIR client ---------------------------------------------


def test_fhir_client_registers_a_chinese_patient_with_an_ehc_id(fhir: SyncFHIRClient) -> None:
    body = chinese_patient()
    body.pop("resourceType")

    saved, created = fhir.resources("Patient").get_or_create(fhir.resource("Patient", **body))

    assert created is True
    patient = serialize(saved)
    assert re.fullmatch(r"[0-9A-F]{64}", ehc_id(patient))
    assert identifier_values(patient, MPI_ID_SYSTEM) == [patient["id"]]
    document = identifier(patient, ID_CARD_SYSTEM)
    assert document["value"] == ZHANG_WEI_ID
    assert document["type"]["coding"][0]["system"] == DOCUMENT_TYPE_CODESYSTEM
    assert document["type"]["coding"][0]["code"] == "01"
    official, pinyin = patient["name"]
    assert (official["family"], official["given"]) == ("张", ["伟"])
    assert pinyin["text"] == "zhang wei"
    assert {"url": EXT_REPRESENTATION, "valueCode": "SYL"} in pinyin["extension"]
    assert patient["gender"] == "male"
    assert patient["birthDate"] == "1985-03-12"
    assert patient["telecom"] == [{"system": "phone", "value": "13800138000"}]
    assert patient["address"][0]["city"] == "北京市"
    ethnicity = [e for e in patient["extension"] if e["url"] == EXT_ETHNICITY]
    assert ethnicity[0]["valueCoding"]["code"] == "01"


def test_fhir_client_registering_the_same_person_again_gets_the_same_patient(
    fhir: SyncFHIRClient,
) -> None:
    body = chinese_patient()
    body.pop("resourceType")
    first, _ = fhir.resources("Patient").get_or_create(fhir.resource("Patient", **body))

    again, created = fhir.resources("Patient").get_or_create(fhir.resource("Patient", **body))

    assert created is False
    assert again["id"] == first["id"]
    assert ehc_id(serialize(again)) == ehc_id(serialize(first))


def test_create_answers_201_with_location_then_200_for_the_same_document(
    http: httpx.Client,
) -> None:
    first = _post(http, chinese_patient())
    second = _post(http, chinese_patient())

    assert first.status_code == 201
    assert first.headers["content-type"].startswith(FHIR_JSON)
    patient = first.json()
    assert first.headers["location"].endswith(f"/fhir/Patient/{patient['id']}/_history/1")
    assert http.get(first.headers["location"].split("/_history")[0]).status_code == 200
    assert second.status_code == 200
    assert second.json()["id"] == patient["id"]
    assert ehc_id(second.json()) == ehc_id(patient)


def test_a_lower_case_x_check_character_is_the_same_person(http: httpx.Client) -> None:
    number = citizen_id_ending_in_x(dt.date(1990, 7, 1))
    upper = _post(http, chinese_patient(id_card(number), birth_date=dt.date(1990, 7, 1)))
    lower = _post(http, chinese_patient(id_card(number.lower()), birth_date=None))

    assert (upper.status_code, lower.status_code) == (201, 200)
    assert ehc_id(lower.json()) == ehc_id(upper.json())
    assert identifier(lower.json(), ID_CARD_SYSTEM)["value"] == number


def test_a_passport_registers_with_an_ehc_id(http: httpx.Client) -> None:
    passport = {
        "type": {"coding": [{"system": DOCUMENT_TYPE_CODESYSTEM, "code": "03"}]},
        "system": PASSPORT_SYSTEM,
        "value": "E12345678",
    }
    response = _post(http, chinese_patient(passport, name="John Smith"))

    assert response.status_code == 201, response.text
    patient = response.json()
    # SM4 blocks of "03" + number, zero padded: one 16-byte block for a short passport number.
    assert re.fullmatch(r"([0-9A-F]{32})+", ehc_id(patient))
    document = identifier(patient, PASSPORT_SYSTEM)
    assert document["value"] == "E12345678"
    assert document["type"]["coding"][0]["code"] == "03"


# --- §5.1.6 信息缺失: a hospital ID first, the 身份证 later -------------------------------------


def test_patient_without_document_gets_a_temporary_archive_number(http: httpx.Client) -> None:
    response = _post(http, chinese_patient(his_id("H0001"), birth_date=None))

    assert response.status_code == 201, response.text
    patient = response.json()
    assert identifier_values(patient, EHC_ID_SYSTEM) == []
    archive = identifier(patient, ARCHIVE_NUMBER_SYSTEM)
    assert archive["use"] == "temp"
    assert identifier_values(patient, HIS_SYSTEM) == ["H0001"]
    quality = [e["valueString"] for e in patient["extension"] if e["url"] == EXT_DATA_QUALITY]
    assert quality == ["no-document"]


def test_a_document_arriving_later_issues_the_ehc_id_on_the_same_patient(
    http: httpx.Client,
) -> None:
    first = _post(http, chinese_patient(his_id("H0001"), birth_date=None)).json()

    response = _post(http, chinese_patient(his_id("H0001"), id_card(ZHANG_WEI_ID)))

    assert response.status_code == 200, response.text
    patient = response.json()
    assert patient["id"] == first["id"]
    assert re.fullmatch(r"[0-9A-F]{64}", ehc_id(patient))
    archive = identifier(patient, ARCHIVE_NUMBER_SYSTEM)
    assert archive == {**identifier(first, ARCHIVE_NUMBER_SYSTEM), "use": "old"}
    quality = [
        e["valueString"] for e in patient.get("extension", []) if e["url"] == EXT_DATA_QUALITY
    ]
    assert "no-document" not in quality


# --- refusals: status, OperationOutcome, nothing written --------------------------------------


def test_a_bad_check_digit_is_refused_with_400_and_nothing_is_written(
    http: httpx.Client, container: Container
) -> None:
    before = _count(container)
    bad = chinese_patient(id_card(with_bad_check_digit(ZHANG_WEI_ID)), his_id("H0404"))

    response = _post(http, bad)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith(FHIR_JSON)
    text = diagnostics(response.json())
    assert "居民身份证" in text
    assert "校验位" in text
    assert _count(container) == before
    assert _search_total(http, identifier=f"{HIS_SYSTEM}|H0404") == 0
    assert _search_total(http, name="张伟") == 0


def test_a_birth_date_contradicting_the_number_is_refused_with_422(
    http: httpx.Client, container: Container
) -> None:
    response = _post(http, chinese_patient(birth_date=ZHANG_WEI_BIRTH + dt.timedelta(days=1)))

    assert response.status_code == 422
    assert "出生日期" in diagnostics(response.json())
    assert _count(container) == 0


def test_malformed_json_is_400(http: httpx.Client) -> None:
    response = http.post("/Patient", content=b'{"resourceType": "Patient",', headers=JSON_HEADERS)

    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "structure"


def test_a_body_that_is_not_a_patient_is_400(http: httpx.Client) -> None:
    response = _post(http, {"resourceType": "Observation", "status": "final"})

    assert response.status_code == 400
    assert "Patient" in diagnostics(response.json())


def test_an_invalid_fhir_date_is_400_naming_the_element(
    http: httpx.Client, container: Container
) -> None:
    body = chinese_patient()
    body["birthDate"] = "1990-13-01"

    response = _post(http, body)

    assert response.status_code == 400  # invalid per the FHIR model (FHIR R4 §3.1.0.4)
    assert "birthDate" in diagnostics(response.json())
    assert response.json()["issue"][0]["expression"] == ["Patient.birthDate"]
    assert _count(container) == 0


def test_a_content_type_neither_json_nor_xml_is_415(http: httpx.Client) -> None:
    response = http.post(
        "/Patient", content=b"resourceType=Patient",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip

    assert response.status_code == 415
    assert response.json()["resourceType"] == "OperationOutcome"


def test_plain_application_json_is_accepted(http: httpx.Client) -> None:
    response = http.post("/Patient", json=chinese_patient())  # httpx sends application/json

    assert response.status_code == 201


def test_an_identifier_of_an_unconfigured_system_is_422(
    http: httpx.Client, container: Container
) -> None:
    stranger = {"system": "urn:oid:1.2.3.4.5", "value": "X1"}

    response = _post(http, chinese_patient(id_card(ZHANG_WEI_ID), stranger))

    assert response.status_code == 422
    outcome = response.json()
    assert "urn:oid:1.2.3.4.5" in diagnostics(outcome)
    assert outcome["issue"][0]["expression"] == ["Patient.identifier[1]"]
    assert _count(container) == 0


def test_asking_for_a_format_other_than_json_or_xml_is_406(http: httpx.Client) -> None:
    read = http.get("/metadata", headers={"Accept": "text/turtle"})
    create = http.post("/Patient", json=chinese_patient(), headers={"Accept": "text/html"})
    by_format = http.get("/metadata", params={"_format": "ttl"})

    assert (read.status_code, create.status_code, by_format.status_code) == (406, 406, 406)
    assert read.json()["resourceType"] == "OperationOutcome"


def test_a_second_patient_gets_a_different_ehc_id(http: httpx.Client) -> None:
    first = _post(http, chinese_patient()).json()
    other = citizen_id(dt.date(1992, 2, 29), 24)
    second = _post(
        http, chinese_patient(id_card(other), name="李娜", gender="female", birth_date=None)
    ).json()

    assert second["id"] != first["id"]
    assert ehc_id(second) != ehc_id(first)
    assert second["birthDate"] == "1992-02-29"  # taken from the number


def test_a_name_given_as_family_and_given_is_the_same_name(http: httpx.Client) -> None:
    body = chinese_patient()
    body["name"] = [{"use": "official", "family": "张", "given": ["伟"]}]

    patient = _post(http, body).json()

    assert patient["name"][0]["text"] == "张伟"
    assert patient["name"][1]["text"] == "zhang wei"


def test_registering_a_cancelled_patient_again_is_409(
    http: httpx.Client, container: Container
) -> None:
    patient = _post(http, chinese_patient()).json()
    container.maintenance.cancel(patient["id"], "重复建档", ADMIN)

    response = _post(http, chinese_patient())

    assert response.status_code == 409
    assert patient["id"] in diagnostics(response.json())


def test_identifiers_of_two_different_patients_are_409_and_change_nothing(
    http: httpx.Client, container: Container
) -> None:
    li_na = citizen_id(dt.date(1992, 2, 29), 24)
    lina = chinese_patient(id_card(li_na), his_id("H7"), name="李娜", gender="female")
    lina.pop("birthDate")
    assert _post(http, chinese_patient(id_card(ZHANG_WEI_ID))).status_code == 201
    assert _post(http, lina).status_code == 201

    response = _post(http, chinese_patient(id_card(ZHANG_WEI_ID), his_id("H7")))

    assert response.status_code == 409
    assert _count(container) == 2
    found = http.get("/Patient", params={"identifier": f"{HIS_SYSTEM}|H7"}).json()
    assert found["entry"][0]["resource"]["name"][0]["text"] == "李娜"


# --- the mother's maiden name (PDQm Patient, FHIR extension patient-mothersMaidenName) --------

MAIDEN_NAME = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"


def _with_mother(body: dict[str, Any], value: Any, kind: str = "valueString") -> dict[str, Any]:
    body["extension"] = [*body.get("extension", []), {"url": MAIDEN_NAME, kind: value}]
    return body


def _mother(resource: dict[str, Any]) -> list[str]:
    return [e["valueString"] for e in resource.get("extension", []) if e["url"] == MAIDEN_NAME]


def test_the_mothers_maiden_name_is_kept_read_back_and_versioned(http: httpx.Client) -> None:
    created = _post(http, _with_mother(chinese_patient(), " 李秀英 "))
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]

    read = http.get(f"/Patient/{patient_id}")
    as_xml = http.get(f"/Patient/{patient_id}", params={"_format": "xml"})

    assert _mother(created.json()) == _mother(read.json()) == ["李秀英"]
    assert f'<extension url="{MAIDEN_NAME}"><valueString value="李秀英"/>' in as_xml.text
    # A PUT without the extension removes it; the earlier version still shows it.
    body = read.json()
    body["extension"] = [e for e in body["extension"] if e["url"] != MAIDEN_NAME]
    updated = http.put(f"/Patient/{patient_id}", json=body)
    assert updated.status_code == 200, updated.text
    assert _mother(http.get(f"/Patient/{patient_id}").json()) == []
    assert _mother(http.get(f"/Patient/{patient_id}/_history/1").json()) == ["李秀英"]
    assert _search_total(http, mothersMaidenName="李") == 0


def test_a_mothers_maiden_name_that_is_no_string_or_too_long_is_422_and_nothing_is_written(
    http: httpx.Client, container: Container
) -> None:
    coded = _post(http, _with_mother(chinese_patient(), {"code": "li"}, "valueCoding"))
    too_long = _post(http, _with_mother(chinese_patient(), "李" * 201))

    for response in (coded, too_long):
        assert response.status_code == 422, response.text
        issue = response.json()["issue"][0]
        assert "母亲姓名" in issue["diagnostics"]
        assert issue["expression"][0].startswith("Patient.extension")
    assert _count(container) == 0
