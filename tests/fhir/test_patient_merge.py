"""``POST /fhir/Patient/$merge`` and ``$split`` over real HTTP (guideline §4.1.1 索引合并,
索引拆分; FHIR R5 Patient $merge parameter names).

A data-quality officer finds that the lab's 章伟 is the HIS patient 张伟 (one person typed two
ways) and merges them; later the merge proves wrong and is split again.  Every refused request
leaves the index exactly as it was.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from sqlalchemy.engine import Engine

from ehcmpi.fhir import patient_merge, patient_split
from tests.fhir.snapshot import snapshot
from tests.fhir.support import (
    ID_CARD_SYSTEM,
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    chinese_patient,
    diagnostics,
    his_id,
    id_card,
    identifier_values,
)

LIS_SYSTEM = "urn:oid:1.2.156.112604.1.2.2"
LIS_L9 = {"system": LIS_SYSTEM, "value": "L-9"}


def _register(http: httpx.Client, body: dict[str, Any]) -> str:
    created = http.post("/Patient", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _pair(http: httpx.Client) -> tuple[str, str]:
    """张伟 from the HIS with his ID card, and the lab's 章伟 with only a birth date."""
    zhang = _register(http, chinese_patient(id_card(ZHANG_WEI_ID), his_id("H-1")))
    lab = _register(
        http,
        {
            "resourceType": "Patient",
            "identifier": [LIS_L9],
            "name": [{"text": "章伟"}],
            "gender": "male",
            "birthDate": ZHANG_WEI_BIRTH.isoformat(),
        },
    )
    return zhang, lab


def _ref(mpi_id: str) -> dict[str, Any]:
    return {"reference": f"Patient/{mpi_id}"}


def _params(*parameter: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(parameter)}


def _merge_body(source: str, target: str, *more: dict[str, Any]) -> dict[str, Any]:
    return _params(
        {"name": "source-patient", "valueReference": _ref(source)},
        {"name": "target-patient", "valueReference": _ref(target)},
        *more,
    )


def _out(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Parameters"
    return {p["name"]: p["resource"] for p in body["parameter"]}


def _split_body(
    patient: str | None, source: dict[str, Any], *more: dict[str, Any]
) -> dict[str, Any]:
    parameter = [{"name": "source-identifier", "valueIdentifier": source}, *more]
    if patient is not None:
        parameter.insert(0, {"name": "patient", "valueReference": _ref(patient)})
    return _params(*parameter)


# --- $merge --------------------------------------------------------------------------------


def test_merge_folds_the_source_into_the_target(http: httpx.Client) -> None:
    zhang, lab = _pair(http)
    assert http.get("/Patient/$review-list").json()["parameter"][0]["valueInteger"] == 1
    body = _merge_body(lab, zhang, {"name": "reason", "valueString": "电话核实为同一人"})

    out = _out(http.post("/Patient/$merge", json=body))

    assert out["input"] == body
    assert out["outcome"]["issue"][0]["severity"] == "information"
    result = out["result"]
    assert result["id"] == zhang and result["active"] is True
    assert result["link"] == [{"other": _ref(lab), "type": "replaces"}]
    assert identifier_values(result, LIS_SYSTEM) == ["L-9"]
    assert identifier_values(result, ID_CARD_SYSTEM) == [ZHANG_WEI_ID]
    retired = http.get(f"/Patient/{lab}").json()
    assert retired["active"] is False
    lookup = http.get("/Patient", params={"identifier": f"{LIS_SYSTEM}|L-9"}).json()
    assert [e["resource"]["id"] for e in lookup["entry"]] == [zhang]
    # The question the review queue asked went away with the retired record.
    assert http.get("/Patient/$review-list").json()["parameter"] == [
        {"name": "total", "valueInteger": 0}
    ]


def test_merge_by_identifiers(http: httpx.Client) -> None:
    zhang, lab = _pair(http)
    body = _params(
        {"name": "source-patient-identifier", "valueIdentifier": LIS_L9},
        {"name": "target-patient-identifier", "valueIdentifier": id_card(ZHANG_WEI_ID)},
        {"name": "target-patient", "valueReference": _ref(zhang)},
    )

    result = _out(http.post("/Patient/$merge", json=body))["result"]

    assert result["id"] == zhang
    assert result["link"] == [{"other": _ref(lab), "type": "replaces"}]


def test_preview_answers_and_changes_nothing(http: httpx.Client, engine: Engine) -> None:
    zhang, lab = _pair(http)
    before = snapshot(engine)

    out = _out(
        http.post(
            "/Patient/$merge",
            json=_merge_body(lab, zhang, {"name": "preview", "valueBoolean": True}),
        )
    )

    assert out["result"]["id"] == zhang
    assert identifier_values(out["result"], LIS_SYSTEM) == ["L-9"]
    assert "preview" in out["outcome"]["issue"][0]["diagnostics"]
    assert snapshot(engine) == before
    assert http.get(f"/Patient/{lab}").json()["active"] is True


def test_result_patient_gives_the_survivor_its_demographics(http: httpx.Client) -> None:
    zhang, lab = _pair(http)
    wanted = chinese_patient(id_card(ZHANG_WEI_ID), LIS_L9, phone="13900139000")
    wanted["id"] = zhang
    before = http.get(f"/Patient/{zhang}").json()

    result = _out(
        http.post(
            "/Patient/$merge",
            json=_merge_body(lab, zhang, {"name": "result-patient", "resource": wanted}),
        )
    )["result"]

    assert result["telecom"] == [{"system": "phone", "value": "13900139000"}]
    stored = http.get(f"/Patient/{zhang}").json()
    assert stored["telecom"] == result["telecom"]
    assert int(stored["meta"]["versionId"]) > int(before["meta"]["versionId"])


def test_merging_an_already_merged_record_is_409(http: httpx.Client, engine: Engine) -> None:
    zhang, lab = _pair(http)
    _out(http.post("/Patient/$merge", json=_merge_body(lab, zhang)))
    before = snapshot(engine)

    again = http.post("/Patient/$merge", json=_merge_body(lab, zhang))

    assert again.status_code == 409, again.text
    assert again.json()["issue"][0]["code"] == "conflict"
    assert snapshot(engine) == before


def _not_the_target() -> dict[str, Any]:
    wanted = chinese_patient(id_card(ZHANG_WEI_ID))
    wanted["id"] = "0" * 64
    return wanted


@pytest.mark.parametrize(
    ("make", "status", "says"),
    [
        (lambda z, lab: _merge_body("NO-SUCH-PATIENT", z), 404, "NO-SUCH-PATIENT"),
        (lambda z, lab: _merge_body(z, z), 422, "same patient"),
        (
            lambda z, lab: _params({"name": "source-patient", "valueReference": _ref(lab)}),
            400,
            "target-patient",
        ),
        (
            lambda z, lab: _params(
                {"name": "source-patient-identifier", "valueIdentifier": his_id("H-404")},
                {"name": "target-patient", "valueReference": _ref(z)},
            ),
            404,
            "H-404",
        ),
        (
            lambda z, lab: _params(
                {"name": "source-patient", "valueReference": _ref(lab)},
                {"name": "source-patient-identifier", "valueIdentifier": his_id("H-1")},
                {"name": "target-patient", "valueReference": _ref(z)},
            ),
            422,
            "different patients",
        ),
        (
            lambda z, lab: _merge_body(
                lab, z, {"name": "result-patient", "resource": _not_the_target()}
            ),
            422,
            "result-patient.id",
        ),
        (
            lambda z, lab: _merge_body(
                lab, z, {"name": "result-patient", "resource": chinese_patient(his_id("H-77"))}
            ),
            422,
            "H-77",
        ),
        (
            lambda z, lab: _merge_body(lab, z, {"name": "preview", "valueString": "yes"}),
            400,
            "preview",
        ),
        (lambda z, lab: _merge_body(lab, z, {"name": "force", "valueBoolean": True}), 400, "force"),
    ],
)
def test_refused_merges_write_nothing(
    http: httpx.Client, engine: Engine, make: Any, status: int, says: str
) -> None:
    zhang, lab = _pair(http)
    before = snapshot(engine)

    response = http.post("/Patient/$merge", json=make(zhang, lab))

    assert response.status_code == status, response.text
    assert says in diagnostics(response.json())
    assert snapshot(engine) == before


def test_a_fhir_client_merges(http: httpx.Client, fhir: SyncFHIRClient) -> None:
    zhang, lab = _pair(http)
    out = fhir.execute("Patient/$merge", method="post", data=_merge_body(lab, zhang))
    assert out["parameter"][2]["resource"]["id"] == zhang


# --- $split --------------------------------------------------------------------------------


def test_split_undoes_the_merge(http: httpx.Client) -> None:
    zhang, lab = _pair(http)
    _out(http.post("/Patient/$merge", json=_merge_body(lab, zhang)))

    out = _out(
        http.post(
            "/Patient/$split",
            json=_split_body(zhang, LIS_L9, {"name": "reason", "valueString": "不是同一人"}),
        )
    )

    assert out["result"]["id"] == lab and out["result"]["active"] is True
    assert out["remaining"]["id"] == zhang
    assert identifier_values(out["remaining"], LIS_SYSTEM) == []
    assert http.get(f"/Patient/{lab}").json()["active"] is True


def test_split_of_a_linked_source_makes_a_new_record(http: httpx.Client) -> None:
    zhang = _register(http, chinese_patient(id_card(ZHANG_WEI_ID), his_id("H-1")))
    pinyin = {
        "resourceType": "Patient",
        "identifier": [LIS_L9],
        "name": [{"text": "Zhang Wei"}],
        "gender": "male",
        "birthDate": ZHANG_WEI_BIRTH.isoformat(),
        "telecom": [{"system": "phone", "value": "13800138000"}],
    }
    assert _register_or_link(http, pinyin) == zhang  # the lab's record linked by itself

    out = _out(http.post(f"/Patient/{zhang}/$split", json=_split_body(None, LIS_L9)))

    split_off = out["result"]["id"]
    assert split_off != zhang and out["remaining"]["id"] == zhang
    assert identifier_values(out["result"], LIS_SYSTEM) == ["L-9"]
    lookup = http.get("/Patient", params={"identifier": f"{LIS_SYSTEM}|L-9"}).json()
    assert [e["resource"]["id"] for e in lookup["entry"]] == [split_off]
    twice = http.post(f"/Patient/{zhang}/$split", json=_split_body(None, LIS_L9))
    assert twice.status_code == 404


def _register_or_link(http: httpx.Client, body: dict[str, Any]) -> str:
    response = http.post("/Patient", json=body)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def test_split_preview_changes_nothing(http: httpx.Client, engine: Engine) -> None:
    zhang, lab = _pair(http)
    _out(http.post("/Patient/$merge", json=_merge_body(lab, zhang)))
    before = snapshot(engine)

    out = _out(
        http.post(
            "/Patient/$split",
            json=_split_body(zhang, LIS_L9, {"name": "preview", "valueBoolean": True}),
        )
    )

    assert out["result"]["id"] == lab
    assert snapshot(engine) == before
    assert http.get(f"/Patient/{lab}").json()["active"] is False


@pytest.mark.parametrize(
    ("make", "status", "says"),
    [
        (
            lambda z, lab: ("/Patient/$split", _split_body("NO-SUCH-PATIENT", LIS_L9)),
            404,
            "NO-SUCH-PATIENT",
        ),
        (lambda z, lab: ("/Patient/$split", _split_body(z, LIS_L9)), 404, "L-9"),
        (
            lambda z, lab: ("/Patient/$split", _split_body(z, his_id("H-1"))),
            409,
            "only source record",
        ),
        (lambda z, lab: ("/Patient/$split", _split_body(None, his_id("H-1"))), 400, "patient"),
        (
            lambda z, lab: (
                "/Patient/$split",
                _params({"name": "patient", "valueReference": _ref(z)}),
            ),
            400,
            "source-identifier",
        ),
        (lambda z, lab: (f"/Patient/{z}/$split", _split_body(lab, his_id("H-1"))), 422, "URL"),
    ],
)
def test_refused_splits_write_nothing(
    http: httpx.Client, engine: Engine, make: Any, status: int, says: str
) -> None:
    zhang, lab = _pair(http)
    path, body = make(zhang, lab)
    before = snapshot(engine)

    response = http.post(path, json=body)

    assert response.status_code == status, response.text
    assert says in diagnostics(response.json())
    assert snapshot(engine) == before


def test_splitting_a_merged_record_is_409(http: httpx.Client, engine: Engine) -> None:
    zhang, lab = _pair(http)
    _out(http.post("/Patient/$merge", json=_merge_body(lab, zhang)))
    before = snapshot(engine)

    response = http.post(f"/Patient/{lab}/$split", json=_split_body(None, LIS_L9))

    assert response.status_code == 409, response.text
    assert snapshot(engine) == before


# --- declared ------------------------------------------------------------------------------


def test_the_capability_statement_names_our_definitions(http: httpx.Client) -> None:
    (rest,) = http.get("/metadata").json()["rest"]
    (patient,) = [r for r in rest["resource"] if r["type"] == "Patient"]
    operations = {o["name"]: o["definition"] for o in patient["operation"]}
    base = "http://ehcmpi.org/fhir/OperationDefinition"
    assert operations["merge"] == f"{base}/Patient-merge"
    assert operations["split"] == f"{base}/Patient-split"
    for module in (patient_merge, patient_split):
        (operation,) = module.CAPABILITY.operations
        definition = operation.resource
        assert definition is not None and definition["url"] == operation.definition
        assert definition["resourceType"] == "OperationDefinition"
        declared = {p["name"] for p in definition["parameter"] if p["use"] == "in"}
        assert declared == set(module.DECLARED)
    merge = patient_merge.DEFINITION
    assert merge["base"] == "http://hl7.org/fhir/OperationDefinition/Patient-merge"
    assert {"source-patient", "target-patient", "result-patient", "preview"} <= set(
        patient_merge.DECLARED
    )
    assert patient_split.DEFINITION["instance"] is True


def test_our_definitions_are_served(http: httpx.Client) -> None:
    for name in ("merge", "split", "review-list", "review-decide"):
        response = http.get(f"/OperationDefinition/Patient-{name}")
        assert response.status_code == 200, response.text
        definition = response.json()
        assert definition["code"] == name and definition["resource"] == ["Patient"]
        assert definition["url"] == f"http://ehcmpi.org/fhir/OperationDefinition/Patient-{name}"
