"""CodeSystem and ValueSet resources and the terminology operations over real HTTP (FHIR R4
§4.8, §4.9): guideline Appendix A document types, GB/T 2261.1 gender, GB/T 3304 ethnicity."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.valueset import ValueSet

from ehcmpi.bootstrap import Container
from ehcmpi.terminology.document_types import DOCUMENT_TYPES
from ehcmpi.terminology.ethnicity import ETHNICITIES
from ehcmpi.terminology.gender import GENDERS
from ehcmpi.terminology.validators import mod11_2_check_char
from tests.fhir.support import (
    DOCUMENT_TYPE_CODESYSTEM,
    PASSPORT_SYSTEM,
    ZHANG_WEI_ID,
    chinese_patient,
    his_id,
    id_card,
)

BASE = "http://ehcmpi.org/fhir"
DOC_TYPES = f"{BASE}/CodeSystem/document-type"
GENDER = f"{BASE}/CodeSystem/gb-t-2261-1-gender"
ETHNICITY = f"{BASE}/CodeSystem/gb-t-3304-ethnicity"
SIZES = {DOC_TYPES: len(DOCUMENT_TYPES), GENDER: len(GENDERS), ETHNICITY: len(ETHNICITIES)}
assert DOC_TYPES == DOCUMENT_TYPE_CODESYSTEM


def _values(parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters → name: value (the first value[x] of each)."""
    Parameters.model_validate(parameters)
    out: dict[str, Any] = {}
    for p in parameters["parameter"]:
        value = next((v for k, v in p.items() if k.startswith("value")), p.get("part"))
        out.setdefault(p["name"], value)
    return out


def test_the_three_code_systems_are_listed_and_complete(http: httpx.Client) -> None:
    bundle = http.get("/CodeSystem").json()

    assert bundle["total"] == 3
    by_url = {e["resource"]["url"]: e["resource"] for e in bundle["entry"]}
    assert set(by_url) == set(SIZES)
    for url, resource in by_url.items():
        CodeSystem.model_validate(resource)
        assert resource["count"] == len(resource["concept"]) == SIZES[url]
        assert resource["content"] == "complete"
        read = http.get(f"/CodeSystem/{resource['id']}")
        assert read.status_code == 200
        assert read.json() == resource


def test_appendix_a_reads_with_chinese_displays_and_english_designations(
    http: httpx.Client,
) -> None:
    resource = http.get("/CodeSystem/document-type").json()

    concepts = {c["code"]: c for c in resource["concept"]}
    assert list(concepts) == ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "99"]
    assert concepts["01"]["display"] == "居民身份证"
    assert {"language": "en", "value": "Resident identity card"} in concepts["01"]["designation"]
    assert http.get("/CodeSystem", params={"url": GENDER}).json()["total"] == 1
    assert http.get("/CodeSystem", params={"_id": "nope"}).json()["total"] == 0


def test_unknown_code_system_or_value_set_is_404(http: httpx.Client) -> None:
    for path in ("/CodeSystem/icd-10", "/ValueSet/icd-10"):
        response = http.get(path)
        assert response.status_code == 404
        assert response.json()["issue"][0]["code"] == "not-found"


def test_value_sets_read_and_include_their_code_system(http: httpx.Client) -> None:
    for resource_id, url in (("document-type", DOC_TYPES), ("gb-t-3304-ethnicity", ETHNICITY)):
        resource = http.get(f"/ValueSet/{resource_id}").json()
        ValueSet.model_validate(resource)
        assert resource["url"] == f"{BASE}/ValueSet/{resource_id}"
        assert resource["compose"]["include"][0]["system"] == url
    assert http.get("/ValueSet").json()["total"] == 3


def test_lookup_gives_name_display_and_designations(http: httpx.Client) -> None:
    response = http.get("/CodeSystem/$lookup", params={"system": ETHNICITY, "code": "03"})

    assert response.status_code == 200
    found = _values(response.json())
    assert found["display"] == "回族"
    assert "GB/T 3304" in found["name"]
    designations = [
        {part["name"]: next(v for k, v in part.items() if k.startswith("value"))
         for part in p["part"]}
        for p in response.json()["parameter"] if p["name"] == "designation"
    ]  # fmt: skip
    assert {"language": "zh", "value": "回族"} in designations
    assert {"language": "en", "value": "Hui"} in designations
    english = http.get("/CodeSystem/$lookup",
                       params={"system": GENDER, "code": "1", "displayLanguage": "en"})  # fmt: skip
    assert _values(english.json())["display"] == "Male"


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"system": DOC_TYPES, "code": "42"}, 404, "not-found"),
        ({"system": "http://loinc.org", "code": "1"}, 404, "not-found"),
        ({"system": DOC_TYPES}, 400, "required"),
        ({"system": DOC_TYPES, "code": "01", "version": "1999"}, 404, "not-found"),
        ({"system": DOC_TYPES, "code": "01", "property": "parent"}, 400, "not-supported"),
        ({"system": DOC_TYPES, "code": "01", "displayLanguage": "fr"}, 400, "not-supported"),
    ],
)
def test_lookup_errors(http: httpx.Client, params: dict[str, str], status: int, code: str) -> None:
    response = http.get("/CodeSystem/$lookup", params=params)

    assert response.status_code == status
    assert response.json()["issue"][0]["code"] == code


def test_validate_code_against_a_code_system(http: httpx.Client) -> None:
    ok = http.get("/CodeSystem/$validate-code", params={"url": DOC_TYPES, "code": "03"})
    bad = http.get("/CodeSystem/$validate-code", params={"url": DOC_TYPES, "code": "11"})
    english = http.get("/CodeSystem/document-type/$validate-code",
                       params={"code": "03", "display": "Passport"})  # fmt: skip
    wrong = http.get("/CodeSystem/gb-t-2261-1-gender/$validate-code",
                     params={"code": "1", "display": "女性"})  # fmt: skip

    assert _values(ok.json()) == {"result": True, "display": "护照"}
    assert _values(bad.json())["result"] is False
    assert "'11'" in _values(bad.json())["message"]
    assert _values(english.json())["result"] is True
    assert _values(wrong.json())["result"] is False
    assert "男性" in _values(wrong.json())["message"]
    unknown = http.get("/CodeSystem/$validate-code", params={"url": "http://x.org", "code": "1"})
    assert unknown.status_code == 404


def test_validate_code_against_a_value_set(http: httpx.Client) -> None:
    vs = f"{BASE}/ValueSet/gb-t-3304-ethnicity"
    ok = http.get("/ValueSet/$validate-code",
                  params={"url": vs, "system": ETHNICITY, "code": "01"})  # fmt: skip
    other_system = http.get("/ValueSet/$validate-code",
                            params={"url": vs, "system": GENDER, "code": "01"})  # fmt: skip
    not_in = http.get("/ValueSet/gb-t-3304-ethnicity/$validate-code", params={"code": "57"})

    assert _values(ok.json()) == {"result": True, "display": "汉族"}
    assert _values(other_system.json())["result"] is False
    assert _values(not_in.json())["result"] is False
    assert http.get("/ValueSet/$validate-code", params={"code": "01"}).status_code == 400


def test_expand_filters_and_pages(http: httpx.Client) -> None:
    everything = http.get("/ValueSet/$expand", params={"url": f"{BASE}/ValueSet/document-type"})
    filtered = http.get("/ValueSet/gb-t-3304-ethnicity/$expand", params={"filter": "hui"})
    chinese = http.get("/ValueSet/gb-t-3304-ethnicity/$expand", params={"filter": "哈"})
    page = http.get("/ValueSet/gb-t-3304-ethnicity/$expand",
                    params={"offset": "10", "count": "5", "displayLanguage": "en"})  # fmt: skip

    expansion = everything.json()["expansion"]
    ValueSet.model_validate(everything.json())
    assert expansion["total"] == len(DOCUMENT_TYPES)
    assert [c["code"] for c in expansion["contains"]][:2] == ["01", "02"]
    assert [c["display"] for c in filtered.json()["expansion"]["contains"]] == ["回族"]
    assert {c["display"] for c in chinese.json()["expansion"]["contains"]} == {"哈尼族", "哈萨克族"}
    paged = page.json()["expansion"]
    assert paged["total"] == len(ETHNICITIES)
    assert paged["offset"] == 10
    assert [c["code"] for c in paged["contains"]] == ["11", "12", "13", "14", "15"]
    assert paged["contains"][0]["display"] == "Man"
    assert http.get("/ValueSet/document-type/$expand", params={"count": "-1"}).status_code == 400


def _parameters(**values: tuple[str, Any]) -> dict[str, Any]:
    """A Parameters body: name=(value type, value)."""
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": n, f"value{t}": v} for n, (t, v) in values.items()],
    }


def test_the_operations_take_a_parameters_body_by_post(http: httpx.Client) -> None:
    lookup = http.post(
        "/CodeSystem/$lookup",
        json=_parameters(
            system=("Uri", ETHNICITY), code=("Code", "03"), displayLanguage=("Code", "en")
        ),
    )
    validated = http.post(
        "/CodeSystem/document-type/$validate-code",
        json=_parameters(code=("Code", "03"), display=("String", "护照")),
    )
    in_value_set = http.post(
        "/ValueSet/$validate-code",
        json=_parameters(url=("Uri", f"{BASE}/ValueSet/gb-t-3304-ethnicity"), code=("Code", "57")),
    )
    expanded = http.post("/ValueSet/gb-t-3304-ethnicity/$expand", json=_parameters(
        offset=("Integer", 10), count=("Integer", 5)))  # fmt: skip

    assert lookup.status_code == 200, lookup.text
    assert _values(lookup.json())["display"] == "Hui"
    assert _values(validated.json()) == {"result": True, "display": "护照"}
    assert _values(in_value_set.json())["result"] is False
    contains = expanded.json()["expansion"]["contains"]
    assert [c["code"] for c in contains] == ["11", "12", "13", "14", "15"]


@pytest.mark.parametrize(
    ("path", "body", "query", "expected"),
    [
        # a parameter the operation does not have
        ("/CodeSystem/$lookup", _parameters(system=("Uri", ETHNICITY), code=("Code", "03"),
                                            colour=("String", "red")), {}, 400),
        # the same parameter twice
        ("/ValueSet/document-type/$expand",
         {"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 1},
                                                      {"name": "count", "valueInteger": 2}]},
         {}, 400),
        # a parameter in the URL of a POST (only _format rides there)
        ("/CodeSystem/$lookup", _parameters(system=("Uri", ETHNICITY)), {"code": "03"}, 400),
        # not a Parameters resource
        ("/CodeSystem/$lookup", {"resourceType": "Patient"}, {}, 400),
        # a value that is not a primitive
        ("/CodeSystem/$validate-code", {"resourceType": "Parameters", "parameter": [
            {"name": "url", "valueUri": DOC_TYPES},
            {"name": "code", "valueCoding": {"system": DOC_TYPES, "code": "03"}}]}, {}, 400),
        # and the unknown code system is still 404
        ("/CodeSystem/$lookup", _parameters(system=("Uri", "http://x.org"), code=("Code", "1")),
         {}, 404),
    ],
)  # fmt: skip
def test_a_wrong_parameters_body_is_refused_with_an_outcome(
    http: httpx.Client, path: str, body: dict[str, Any], query: dict[str, str], expected: int
) -> None:
    response = http.post(path, json=body, params=query)
    assert response.status_code == expected, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_every_document_identifier_of_a_patient_is_typed_from_the_code_system(
    http: httpx.Client,
) -> None:
    passport = {"system": PASSPORT_SYSTEM, "value": "E12345678"}
    patient = http.post("/Patient", json=chinese_patient(id_card(ZHANG_WEI_ID), passport,
                                                          his_id("H-T-1"))).json()  # fmt: skip

    documents = [i for i in patient["identifier"]
                 if i["system"] in ("urn:oid:2.16.156.10011.1.3", PASSPORT_SYSTEM)]  # fmt: skip
    assert len(documents) == 2
    for ident in documents:
        (coding,) = ident["type"]["coding"]
        assert coding["system"] == DOC_TYPES
        asked = {"url": coding["system"], "code": coding["code"], "display": coding["display"]}
        check = http.get("/CodeSystem/$validate-code", params=asked)
        assert _values(check.json())["result"] is True, coding
    assert {i["type"]["coding"][0]["code"] for i in documents} == {"01", "03"}


@pytest.mark.parametrize(
    ("doc_type", "first17", "name_zh"),
    [
        ("01", "11010519850312013", "居民身份证"),
        ("09", "81000019900101001", "港澳台居民居住证"),
        ("10", "93315619900101001", "外国人永久居留身份证"),
    ],
)
def test_a_document_number_failing_its_check_digit_is_refused_with_the_reason(
    http: httpx.Client, container: Container, doc_type: str, first17: str, name_zh: str
) -> None:
    good = first17 + mod11_2_check_char(first17)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    system = "urn:oid:2.16.156.10011.1.3" if doc_type == "01" else f"{BASE}/sid/doc-{doc_type}"
    body = chinese_patient({"system": system, "value": bad}, birth_date=dt.date(1990, 1, 1))

    response = http.post("/Patient", json=body)

    assert response.status_code == 400, response.text
    text = response.json()["issue"][0]["diagnostics"]
    assert name_zh in text
    assert "校验" in text
    with container.uow() as uow:
        assert uow.patients.count() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/CodeSystem/document-type/$validate-code",
        "/ValueSet/document-type/$validate-code",
        "/ValueSet/document-type/$expand",
    ],
)
def test_an_instance_operation_refuses_a_url_that_is_not_its_own(
    http: httpx.Client, path: str
) -> None:
    response = http.get(path, params={"url": GENDER, "code": "01"} if "validate" in path
                        else {"url": f"{BASE}/ValueSet/gb-t-2261-1-gender"})  # fmt: skip
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["url"] and "url does not match" in issue["diagnostics"]
