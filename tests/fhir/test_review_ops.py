"""``GET /fhir/Patient/$review-list`` and ``POST /fhir/Patient/$review-decide`` over real HTTP
(guideline §4.1.1 索引合并 人工确认).

The lab's 章伟 (only a birth date) might be the HIS patient 张伟: the registration queued the
pair.  An operator sees both records side by side with the engine's reasons and decides; the
first decision wins.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from sqlalchemy.engine import Engine

from ehcmpi.fhir import review_decide, review_list
from tests.fhir.snapshot import snapshot
from tests.fhir.support import (
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    chinese_patient,
    diagnostics,
    his_id,
    id_card,
)

LIST, DECIDE = "/Patient/$review-list", "/Patient/$review-decide"
LIS_SYSTEM = "urn:oid:1.2.156.112604.1.2.2"


def _register(http: httpx.Client, body: dict[str, Any]) -> str:
    created = http.post("/Patient", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _lab(value: str, name: str = "章伟") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": LIS_SYSTEM, "value": value}],
        "name": [{"text": name}],
        "gender": "male",
        "birthDate": ZHANG_WEI_BIRTH.isoformat(),
    }


def _pair(http: httpx.Client) -> tuple[str, str]:
    zhang = _register(http, chinese_patient(id_card(ZHANG_WEI_ID), his_id("H-1")))
    return zhang, _register(http, _lab("L-9"))


def _value(part: dict[str, Any]) -> Any:
    if "resource" in part:
        return part["resource"]
    if "part" in part:
        return part["part"]
    return next(v for k, v in part.items() if k.startswith("value"))


def _tasks(response: httpx.Response) -> tuple[int, list[dict[str, Any]]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Parameters"
    (total,) = [p["valueInteger"] for p in body["parameter"] if p["name"] == "total"]
    tasks = []
    for param in (p for p in body["parameter"] if p["name"] == "task"):
        task: dict[str, Any] = {}
        for part in param["part"]:
            task.setdefault(part["name"], []).append(_value(part))
        tasks.append({k: v[0] if k != "field" else v for k, v in task.items()})
    return total, tasks


def _explanation(task: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"fields": {}}
    for part in task["explanation"]:
        if part["name"] == "field":
            field = {p["name"]: _value(p) for p in part["part"]}
            out["fields"][field["name"]] = field
        else:
            out[part["name"]] = _value(part)
    return out


def _decide(task: str, decision: str, reason: str | None = None) -> dict[str, Any]:
    parameter = [{"name": "task", "valueString": task}, {"name": "decision", "valueCode": decision}]
    if reason:
        parameter.append({"name": "reason", "valueString": reason})
    return {"resourceType": "Parameters", "parameter": parameter}


def test_the_queue_shows_both_records_and_why(http: httpx.Client) -> None:
    zhang, lab = _pair(http)

    total, (task,) = _tasks(http.get(LIST))

    assert total == 1
    assert task["status"] == "OPEN"
    assert (task["record"]["id"], task["candidate"]["id"]) == (lab, zhang)
    assert task["record"]["name"][0]["text"] == "章伟"
    assert task["candidate"]["name"][0]["text"] == "张伟"
    assert task["grade"] in ("probable", "possible") and 0.5 <= task["score"] < 0.999
    why = _explanation(task)
    assert (why["outcome"], why["origin"]) == ("POSSIBLE_MATCH", "AUTO")
    assert why["weight"] == pytest.approx(task["weight"], abs=1e-3)
    assert why["fields"]["name"]["level"] == "pinyin"
    assert why["fields"]["birth_date"]["level"] == "exact"
    assert why["rules"].startswith("zh-synthetic")
    # One task by id, as `ehcmpi review show` prints it.
    total, (shown,) = _tasks(http.get(LIST, params={"task": task["id"]}))
    assert total == 1 and shown["id"] == task["id"] and shown["record"]["id"] == lab


def test_pages_of_the_queue(http: httpx.Client, fhir: SyncFHIRClient) -> None:
    _pair(http)
    _register(http, _lab("L-10", "张玮"))  # another possible duplicate of 张伟

    total, first = _tasks(http.get(LIST, params={"_count": "1"}))
    _, second = _tasks(http.get(LIST, params={"_count": "1", "_offset": "1"}))
    answer = fhir.execute(LIST.lstrip("/"), method="get", params={"_count": 5})

    assert total == 2 and len(first) == len(second) == 1
    assert first[0]["id"] != second[0]["id"]
    assert first[0]["weight"] >= second[0]["weight"]  # highest weight first
    assert len([p for p in answer["parameter"] if p["name"] == "task"]) == 2


def test_match_merges_and_the_first_decision_wins(http: httpx.Client, engine: Engine) -> None:
    zhang, lab = _pair(http)
    _, (task,) = _tasks(http.get(LIST))

    decided = http.post(DECIDE, json=_decide(task["id"], "match", "电话核实为同一人"))

    assert decided.status_code == 200, decided.text
    out = {p["name"]: p["resource"] for p in decided.json()["parameter"]}
    assert out["result"]["id"] == zhang
    assert http.get(f"/Patient/{lab}").json()["active"] is False
    assert _tasks(http.get(LIST))[0] == 0
    _, (done,) = _tasks(http.get(LIST, params={"task": task["id"]}))
    assert (done["status"], done["resolution"]) == ("DONE", "MATCH")
    before = snapshot(engine)
    second = http.post(DECIDE, json=_decide(task["id"], "no-match"))
    assert second.status_code == 409
    assert "already decided" in diagnostics(second.json())
    assert snapshot(engine) == before


def test_no_match_keeps_them_apart(http: httpx.Client) -> None:
    zhang, lab = _pair(http)
    _, (task,) = _tasks(http.get(LIST))

    decided = http.post(DECIDE, json=_decide(task["id"], "no-match"))

    assert decided.status_code == 200, decided.text
    out = {p["name"]: p["resource"] for p in decided.json()["parameter"]}
    assert out["result"]["id"] == lab
    assert http.get(f"/Patient/{lab}").json()["active"] is True
    assert http.get(f"/Patient/{zhang}").json()["active"] is True
    assert _tasks(http.get(LIST))[0] == 0


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (_decide("no-such-task", "match"), 404, "no-such-task"),
        (None, 400, "match or no-match"),  # decision "maybe" for the real task
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "decision", "valueCode": "match"}],
            },
            400,
            "missing parameter task",
        ),
        (chinese_patient(id_card(ZHANG_WEI_ID)), 400, "Parameters"),
    ],
)
def test_refused_decisions_write_nothing(
    http: httpx.Client, engine: Engine, body: dict[str, Any] | None, status: int, says: str
) -> None:
    _pair(http)
    _, (task,) = _tasks(http.get(LIST))
    before = snapshot(engine)

    response = http.post(DECIDE, json=body or _decide(task["id"], "maybe"))

    assert response.status_code == status, response.text
    assert says in diagnostics(response.json())
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"task": "no-such-task"}, 404),
        ({"_count": "abc"}, 400),
        ({"_count": "0"}, 400),
        ({"_offset": "-1"}, 400),
        ({"status": "open"}, 400),
    ],
)
def test_bad_list_requests(http: httpx.Client, params: dict[str, str], status: int) -> None:
    response = http.get(LIST, params=params)
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_capability_statement_names_the_review_operations(http: httpx.Client) -> None:
    (rest,) = http.get("/metadata").json()["rest"]
    (patient,) = [r for r in rest["resource"] if r["type"] == "Patient"]
    operations = {o["name"]: o["definition"] for o in patient["operation"]}
    base = "http://ehcmpi.org/fhir/OperationDefinition"
    assert operations["review-list"] == f"{base}/Patient-review-list"
    assert operations["review-decide"] == f"{base}/Patient-review-decide"
    assert review_list.DEFINITION["affectsState"] is False
    assert review_decide.DEFINITION["affectsState"] is True
    assert {p["name"] for p in review_decide.DEFINITION["parameter"] if p["use"] == "in"} == {
        "task",
        "decision",
        "reason",
    }
