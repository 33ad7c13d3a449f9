"""``POST /fhir/Patient/$match``: PDQm ITI-119 over real HTTP (RULES.md 28), and the published
PDQm 3.2.0 examples replayed against this server.

A registration clerk's app asks "is this person already in the index?" before registering:
the answer ranks golden records by how likely each is the same person, says how sure the
engine is (score, match grade) and why (per-field explanation) — and registers nothing.
"""

from __future__ import annotations

import copy
import json
import pathlib
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fhirpy import SyncFHIRClient
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container
from ehcmpi.core.matching.grading import MatchGrade
from ehcmpi.storage.tables import audit_log
from tests.fhir.snapshot import snapshot
from tests.fhir.support import (
    HIS_SYSTEM,
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    chinese_patient,
    citizen_id,
    diagnostics,
    his_id,
    id_card,
    with_bad_check_digit,
)

MATCH = "/Patient/$match"
LIS_SYSTEM = "urn:oid:1.2.156.112604.1.2.2"
GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"
EXPLANATION_URL = "http://ehcmpi.org/fhir/StructureDefinition/match-explanation"
GRADES = {g.value for g in MatchGrade}
PDQM = pathlib.Path(__file__).resolve().parents[3] / "shared" / "conformance" / "pdqm"


def _register(http: httpx.Client, body: dict[str, Any]) -> str:
    created = http.post("/Patient", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _demographics(name: str = "张伟", phone: str | None = "13800138000") -> dict[str, Any]:
    """What a clerk types without the ID card at hand: name, sex, birth date, maybe a phone."""
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"text": name}],
        "gender": "male",
        "birthDate": ZHANG_WEI_BIRTH.isoformat(),
    }
    if phone:
        patient["telecom"] = [{"system": "phone", "value": phone}]
    return patient


def _parameters(patient: dict[str, Any], **options: Any) -> dict[str, Any]:
    parameter: list[dict[str, Any]] = [{"name": "resource", "resource": patient}]
    for name, value in options.items():
        kind = "valueBoolean" if isinstance(value, bool) else "valueInteger"
        parameter.append({"name": name, kind: value})
    return {"resourceType": "Parameters", "parameter": parameter}


def _bundle(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    bundle = dict(response.json())
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset")
    return bundle


def _matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _grade(entry: dict[str, Any]) -> str:
    (grade,) = [e["valueCode"] for e in entry["search"]["extension"] if e["url"] == GRADE_URL]
    return str(grade)


def _explanation(entry: dict[str, Any]) -> dict[str, Any]:
    (ext,) = [e for e in entry["search"]["extension"] if e["url"] == EXPLANATION_URL]
    values = {
        e["url"]: next(v for k, v in e.items() if k.startswith("value"))
        for e in ext["extension"]
        if e["url"] != "field"
    }
    fields = {}
    for field in (e for e in ext["extension"] if e["url"] == "field"):
        parts = {
            p["url"]: next(v for k, v in p.items() if k.startswith("value"))
            for p in field["extension"]
        }
        fields[parts["name"]] = parts
    return {**values, "fields": fields}


def test_an_id_card_finds_its_patient_as_a_certain_match(http: httpx.Client) -> None:
    mpi_id = _register(http, chinese_patient(id_card(ZHANG_WEI_ID), his_id("H-1")))

    bundle = _bundle(
        http.post(MATCH, json={"resourceType": "Patient", "identifier": [id_card(ZHANG_WEI_ID)]})
    )

    (entry,) = _matches(bundle)
    assert bundle["total"] == 1
    assert entry["resource"]["id"] == mpi_id
    assert entry["fullUrl"] == f"{http.base_url}/Patient/{mpi_id}".replace("fhir//", "fhir/")
    assert _grade(entry) == "certain"
    assert 0.999 <= entry["search"]["score"] <= 1
    why = _explanation(entry)
    assert why["outcome"] == "MATCH" and why["rules"].startswith("zh-synthetic")
    assert why["fields"]["document"]["level"] == "exact"
    assert why["fields"]["document"]["weight"] > 15
    assert "level" not in why["fields"]["household"]  # no phone or address given: missing
    assert "document=exact" in why["summary"]


def test_demographics_rank_the_person_before_a_homophone(http: httpx.Client) -> None:
    zhang = _register(http, chinese_patient(id_card(ZHANG_WEI_ID), his_id("H-1")))
    homophone = _register(
        http,
        {
            "resourceType": "Patient",
            "name": [{"text": "章伟"}],
            "identifier": [{"system": LIS_SYSTEM, "value": "L-9"}],
            "gender": "male",
            "birthDate": ZHANG_WEI_BIRTH.isoformat(),
        },
    )

    bundle = _bundle(http.post(MATCH, json=_parameters(_demographics())))

    found = _matches(bundle)
    assert [e["resource"]["id"] for e in found] == [zhang, homophone]
    assert [_grade(e) for e in found] == ["certain", "probable"]
    scores = [e["search"]["score"] for e in found]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert _explanation(found[1])["fields"]["name"]["level"] == "pinyin"
    assert _explanation(found[0])["fields"]["household"]["level"] == "phone"


def test_only_certain_matches_and_count(http: httpx.Client) -> None:
    zhang = _register(http, chinese_patient(id_card(ZHANG_WEI_ID), his_id("H-1")))
    _register(
        http,
        {
            "resourceType": "Patient",
            "name": [{"text": "章伟"}],
            "identifier": [{"system": LIS_SYSTEM, "value": "L-9"}],
            "gender": "male",
            "birthDate": ZHANG_WEI_BIRTH.isoformat(),
        },
    )

    certain = _matches(
        _bundle(http.post(MATCH, json=_parameters(_demographics(), onlyCertainMatches=True)))
    )
    first = _matches(_bundle(http.post(MATCH, json=_parameters(_demographics(), count=1))))
    no_phone = _matches(
        _bundle(
            http.post(MATCH, json=_parameters(_demographics(phone=None), onlyCertainMatches=True))
        )
    )

    assert [(e["resource"]["id"], _grade(e)) for e in certain] == [(zhang, "certain")]
    assert [e["resource"]["id"] for e in first] == [zhang]
    assert no_phone == []  # name and birth date alone are only probable: no certain match


def test_two_certain_records_are_not_one_certain_answer(http: httpx.Client) -> None:
    # Two golden records with different ID numbers (never linked) and the same demographics.
    _register(http, chinese_patient(id_card(ZHANG_WEI_ID), his_id("H-1")))
    _register(http, chinese_patient(id_card(citizen_id(ZHANG_WEI_BIRTH, 15)), his_id("H-2")))

    both = _matches(_bundle(http.post(MATCH, json=_demographics())))
    certain = _bundle(http.post(MATCH, json=_parameters(_demographics(), onlyCertainMatches=True)))

    assert [_grade(e) for e in both] == ["certain", "certain"]
    assert "entry" not in certain and certain["total"] == 0  # ITI-119 Case 5


def test_no_match_is_an_empty_searchset(http: httpx.Client) -> None:
    _register(http, chinese_patient(id_card(ZHANG_WEI_ID)))
    stranger = {
        "resourceType": "Patient",
        "name": [{"text": "欧阳娜娜"}],
        "gender": "female",
        "birthDate": "2001-02-03",
    }

    bundle = _bundle(http.post(MATCH, json=stranger))

    assert bundle["total"] == 0 and "entry" not in bundle


def test_other_identifiers_are_named_in_a_warning_not_used(http: httpx.Client) -> None:
    _register(http, chinese_patient(id_card(ZHANG_WEI_ID), his_id("H-1")))
    query = _demographics()
    query["identifier"] = [his_id("H-1"), {"system": "http://example.org/mrn", "value": "7"}]

    bundle = _bundle(http.post(MATCH, json=query))

    assert bundle["total"] == 1 and len(_matches(bundle)) == 1
    (outcome,) = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    issue = outcome["resource"]["issue"][0]
    assert issue["severity"] == "warning"  # ITI-119 Case 10: never error in a 200
    assert HIS_SYSTEM in issue["diagnostics"] and "http://example.org/mrn" in issue["diagnostics"]


def test_match_writes_nothing(http: httpx.Client, container: Container, engine: Engine) -> None:
    _register(http, chinese_patient(id_card(ZHANG_WEI_ID), his_id("H-1")))
    before = snapshot(engine)
    # What registration would link (a MATCH) and what it would queue for review (章伟).
    for body in (
        _demographics(),
        _demographics("章伟", None),
        _demographics("Zhang Wei"),
        {"resourceType": "Patient", "identifier": [id_card(ZHANG_WEI_ID)]},
    ):
        assert _matches(_bundle(http.post(MATCH, json=body)))

    assert snapshot(engine) == before
    assert len(before["patients"]) == 1
    container.audit.flush()  # only the call audit records the lookups (§6 安全审计)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log.c.action, audit_log.c.outcome)).all()
    actions = [tuple(row) for row in rows]
    assert actions.count(("match", "success")) == 4


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (
            {"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
            400,
            "Parameters or a Patient",
        ),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 2}]},
            400,
            "missing parameter resource",
        ),
        (
            _parameters({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
            400,
            "must be a Patient",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "resource", "resource": _demographics()},
                    {"name": "onlyCertainMatches", "valueString": "yes"},
                ],
            },
            400,
            "onlyCertainMatches",
        ),
        (_parameters(_demographics(), count=0), 400, "positive integer"),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "resource", "resource": _demographics()},
                    {"name": "limit", "valueInteger": 3},
                ],
            },
            400,
            "limit",
        ),
        ({**_demographics(), "birthDate": "1985-13-45"}, 400, "birthDate"),
        (
            {
                "resourceType": "Patient",
                "identifier": [id_card(with_bad_check_digit(ZHANG_WEI_ID))],
            },
            400,
            "居民身份证",
        ),
    ],
)
def test_bad_input_is_an_operation_outcome_and_writes_nothing(
    http: httpx.Client, engine: Engine, body: dict[str, Any], status: int, says: str
) -> None:
    _register(http, chinese_patient(id_card(ZHANG_WEI_ID)))
    before = snapshot(engine)

    response = http.post(MATCH, json=body)

    assert response.status_code == status, response.text
    assert response.json()["issue"][0]["severity"] == "error"
    assert says in diagnostics(response.json())
    assert snapshot(engine) == before


def test_malformed_json_is_400(http: httpx.Client) -> None:
    response = http.post(
        MATCH, content=b"{not json", headers={"content-type": "application/fhir+json"}
    )
    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "structure"


def test_a_fhir_client_runs_the_operation(http: httpx.Client, fhir: SyncFHIRClient) -> None:
    mpi_id = _register(http, chinese_patient(id_card(ZHANG_WEI_ID)))

    bundle = fhir.execute("Patient/$match", method="post", data=_parameters(_demographics()))

    assert bundle["resourceType"] == "Bundle"
    assert [e["resource"]["id"] for e in bundle["entry"]] == [mpi_id]


def test_the_capability_statement_names_the_pdqm_operation(http: httpx.Client) -> None:
    (rest,) = http.get("/metadata").json()["rest"]
    (patient,) = [r for r in rest["resource"] if r["type"] == "Patient"]
    operations = {o["name"]: o["definition"] for o in patient["operation"]}
    assert operations["match"] == "https://profiles.ihe.net/ITI/PDQm/OperationDefinition/PDQmMatch"


# --- the published PDQm 3.2.0 examples, replayed ------------------------------------------


def _example(name: str) -> dict[str, Any]:
    return dict(json.loads((PDQM / name).read_text(encoding="utf-8")))


def _ex_patient() -> dict[str, Any]:
    """``Patient-ex-patient`` as this index can hold it: its identifier in a configured
    domain (``http://example.org/exampleSystem`` is not one), and one name — ehcmpi keeps one
    name per record and would take the official "John Jacob Jingleheimer Schmidt" (since 1960),
    while the IG's $match input asks for "John Schmidt", the usual name."""
    patient = _example("fixtures/Patient-ex-patient.json")
    patient["identifier"] = [his_id("8675309")]
    patient["name"] = [n for n in patient["name"] if n["use"] == "usual"]
    return patient


def _input_patient_on_file() -> dict[str, Any]:
    """The $match input patient itself, registered by another hospital system."""
    patient = copy.deepcopy(_example("pdqm_match_input_patient.json"))
    patient["identifier"] = [{"system": LIS_SYSTEM, "value": "8675309"}]
    del patient["id"]
    return patient


def _like_example(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Our Bundle has the shape of the IG's example Bundle (PDQm MatchParametersOut)."""
    assert (ours["resourceType"], ours["type"]) == (theirs["resourceType"], theirs["type"])
    mine, published = _matches(ours), _matches(theirs)
    assert len(mine) == len(published)
    for entry in mine + published:
        assert entry["resource"]["resourceType"] == "Patient"
        assert set(entry["search"]) >= {"mode", "score", "extension"}
        assert 0 <= entry["search"]["score"] <= 1
        assert _grade(entry) in GRADES
    scores = [e["search"]["score"] for e in mine]
    assert scores == sorted(scores, reverse=True)
    for entry in ours.get("entry", []):
        if entry["search"]["mode"] == "outcome":  # allowed with a 200, never error/fatal
            assert all(i["severity"] not in ("error", "fatal") for i in entry["resource"]["issue"])


def test_case_7_nothing_on_file_is_the_empty_example(http: httpx.Client) -> None:
    ours = _bundle(http.post(MATCH, json=_example("pdqm_match_request_01_patient_only.json")))
    _like_example(ours, _example("pdqm_match_response_03_empty.json"))


def test_case_1_one_record_found(http: httpx.Client) -> None:
    mpi_id = _register(http, _ex_patient())
    for request in ("pdqm_match_request_01_patient_only.json", "pdqm_match_input_patient.json"):
        ours = _bundle(http.post(MATCH, json=_example(request)))
        _like_example(ours, _example("pdqm_match_response_01_one_certain.json"))
        (entry,) = _matches(ours)
        assert entry["resource"]["id"] == mpi_id
        # "Schmidt John" against "John Schmidt": same birth date, the name only reordered.
        assert _grade(entry) == "probable"
        assert _explanation(entry)["fields"]["birth_date"]["level"] == "exact"


def test_case_4_only_certain_but_the_match_is_not_certain(http: httpx.Client) -> None:
    _register(http, _ex_patient())
    ours = _bundle(http.post(MATCH, json=_example("pdqm_match_request_02_onlyCertainMatches.json")))
    _like_example(ours, _example("pdqm_match_response_03_empty.json"))


def test_cases_2_3_6_several_records(http: httpx.Client) -> None:
    ex_patient = _register(http, _ex_patient())
    on_file = _register(http, _input_patient_on_file())  # probable to ex-patient: not linked
    assert on_file != ex_patient

    multiple = _bundle(http.post(MATCH, json=_example("pdqm_match_request_01_patient_only.json")))
    certain = _bundle(
        http.post(MATCH, json=_example("pdqm_match_request_02_onlyCertainMatches.json"))
    )
    counted = _bundle(http.post(MATCH, json=_example("pdqm_match_request_03_count.json")))

    _like_example(multiple, _example("pdqm_match_response_02_multiple.json"))  # Case 2
    assert [(e["resource"]["id"], _grade(e)) for e in _matches(multiple)] == [
        (on_file, "certain"),
        (ex_patient, "probable"),
    ]
    _like_example(certain, _example("pdqm_match_response_01_one_certain.json"))  # Case 3
    assert [_grade(e) for e in _matches(certain)] == ["certain"]
    _like_example(counted, _example("pdqm_match_response_01_one_certain.json"))  # Case 6
    assert [e["resource"]["id"] for e in _matches(counted)] == [on_file]


def test_case_9_failure_is_an_operation_outcome_like_the_example(http: httpx.Client) -> None:
    published = _example("pdqm_match_response_06_operationoutcome_failure.json")
    request = _example("pdqm_match_request_01_patient_only.json")
    del request["parameter"][0]["resource"]["resourceType"]  # not a resource any more

    response = http.post(MATCH, json=request)

    assert 400 <= response.status_code < 500
    ours = response.json()
    assert ours["resourceType"] == published["resourceType"]
    assert ours["issue"][0]["severity"] == published["issue"][0]["severity"] == "error"


def test_xml_in_and_out(http: httpx.Client) -> None:
    """PDQm suppliers shall support both encodings (ITI-119 2:3.119.4.1.2.1)."""
    mpi_id = _register(http, chinese_patient(id_card(ZHANG_WEI_ID)))
    xml = "application/fhir+xml"
    body = f"""<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="resource"/>
      <resource><Patient><identifier><system value="urn:oid:2.16.156.10011.1.3"/>
      <value value="{ZHANG_WEI_ID}"/></identifier></Patient></resource></parameter>
      <parameter><name value="count"/><valueInteger value="5"/></parameter></Parameters>"""

    response = http.post(MATCH, content=body.encode(), headers={"Content-Type": xml, "Accept": xml})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(xml)
    assert f'<id value="{mpi_id}"/>' in response.text
    assert '<valueCode value="certain"/>' in response.text
    assert '<mode value="match"/>' in response.text
