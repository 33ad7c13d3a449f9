"""``$bind-medium``, ``$unbind-medium`` and ``$media`` over HTTP (guideline §4.4.2
多卡（码）协同管理), the insurance simulator, a real process, checking who holds a card."""

from __future__ import annotations

from typing import Any

import httpx

from ehcmpi.bootstrap import Container
from ehcmpi.core.verifier import BreakerState
from ehcmpi.external.insurance_sim import DEFAULT_PERSONS
from tests.fhir import reader_support
from tests.fhir.reader_support import BREAKER_FAILURES, output, parameters
from tests.fhir.support import ZHANG_WEI_ID, chinese_patient, diagnostics, his_id, id_card
from tests.insurance_simulator import Simulator

simulator, reader_server = reader_support.simulator, reader_support.reader_server
wired, client = reader_support.wired, reader_support.client
FHIR_JSON = {"Content-Type": "application/fhir+json"}
LI_NA = DEFAULT_PERSONS[0]


def register(client: httpx.Client, number: str, name: str) -> str:
    body = chinese_patient(id_card(number), name=name, birth_date=None, phone=None)
    del body["gender"]
    response = client.post("/Patient", json=body, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def bind(client: httpx.Client, mpi_id: str, kind: str, value: str, **more: str) -> httpx.Response:
    items = [("medium", kind), ("value", value), *more.items()]
    return client.post(f"/Patient/{mpi_id}/$bind-medium", json=parameters(*items),
                       headers=FHIR_JSON)  # fmt: skip


def unbind(client: httpx.Client, mpi_id: str, kind: str, value: str, **more: str) -> httpx.Response:
    items = [("medium", kind), ("value", value), *more.items()]
    return client.post(f"/Patient/{mpi_id}/$unbind-medium", json=parameters(*items),
                       headers=FHIR_JSON)  # fmt: skip


def bindings(client: httpx.Client, mpi_id: str, history: bool = False) -> list[dict[str, Any]]:
    query = "?history=true" if history else ""
    body = client.get(f"/Patient/{mpi_id}/$media{query}").json()
    return [
        {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in item["part"]}
        for item in body["parameter"]
        if item["name"] == "binding"
    ]


def test_a_card_is_bound_to_its_verified_holder_once(
    client: httpx.Client, wired: Container
) -> None:
    li_na = register(client, LI_NA["docNumber"], "李娜")
    first = bind(client, li_na, "social-security-card", LI_NA["cardNumber"].lower(),
                 reason="窗口补录")  # fmt: skip
    again = bind(client, li_na, "social-security-card", LI_NA["cardNumber"])

    assert first.status_code == 201 and again.status_code == 200, first.text
    binding = output(first.json(), "binding")
    assert binding["value"] == LI_NA["cardNumber"] and binding["verified"] is True
    assert binding["reason"] == "窗口补录" and binding["patient"]["reference"] == f"Patient/{li_na}"
    assert [b["value"] for b in bindings(client, li_na)] == [LI_NA["cardNumber"]]


def test_a_card_of_someone_else_or_unknown_to_the_insurance_system_is_refused(
    client: httpx.Client, wired: Container
) -> None:
    zhang = register(client, ZHANG_WEI_ID, "张伟")
    other = bind(client, zhang, "social-security-card", LI_NA["cardNumber"])
    assert other.status_code == 409 and "持卡人" in diagnostics(other.json())
    unknown = bind(client, zhang, "social-security-card", "K99999999")
    assert unknown.status_code == 404
    bad = bind(client, zhang, "library-card", "12345678")
    assert bad.status_code == 400 and "social-security-card" in diagnostics(bad.json())
    nobody = bind(client, "F" * 64, "insurance-voucher", "YB1100000000")
    assert nobody.status_code == 404
    assert bindings(client, zhang, history=True) == []


def test_a_medium_moves_only_after_it_is_unbound_and_history_keeps_both(
    client: httpx.Client, wired: Container
) -> None:
    zhang = register(client, ZHANG_WEI_ID, "张伟")
    li_na = register(client, LI_NA["docNumber"], "李娜")
    voucher = "YB1100000000099"
    assert bind(client, zhang, "insurance-voucher", voucher).status_code == 201
    taken = bind(client, li_na, "insurance-voucher", voucher)
    assert taken.status_code == 409 and zhang in diagnostics(taken.json())

    ended = unbind(client, zhang, "insurance-voucher", voucher, reason="绑定错误")
    assert ended.status_code == 200, ended.text
    part = output(ended.json(), "binding")
    assert part["active"] is False and part["endReason"] == "绑定错误" and "endedAt" in part
    assert unbind(client, zhang, "insurance-voucher", voucher).status_code == 404
    assert bind(client, li_na, "insurance-voucher", voucher).status_code == 201

    assert bindings(client, zhang) == []
    history = bindings(client, zhang, history=True)
    assert [(b["value"], b["active"]) for b in history] == [(voucher, False)]
    assert [b["active"] for b in bindings(client, li_na)] == [True]


def test_while_the_insurance_system_is_down_a_card_is_bound_unverified_then_verified(
    client: httpx.Client, wired: Container, simulator: Simulator
) -> None:
    li_na = register(client, LI_NA["docNumber"], "李娜")
    simulator.mode("error")
    down = bind(client, li_na, "social-security-card", LI_NA["cardNumber"])
    assert down.status_code == 201 and output(down.json(), "binding")["verified"] is False

    for _ in range(BREAKER_FAILURES):  # the bound card is still served, unverified
        read = client.post("/Patient/$read-medium", headers=FHIR_JSON, json=parameters(
            ("medium", "social-security-card"), ("value", LI_NA["cardNumber"])))  # fmt: skip
        assert output(read.json(), "verification") == "unavailable"
    assert wired.insurance is not None
    assert wired.insurance.breaker.state is BreakerState.OPEN

    simulator.mode("ok")
    reader_support.wait_until_not_open(wired)
    read = client.post("/Patient/$read-medium", headers=FHIR_JSON, json=parameters(
        ("medium", "social-security-card"), ("value", LI_NA["cardNumber"])))  # fmt: skip
    assert output(read.json(), "binding")["verified"] is True
    assert [b["verified"] for b in bindings(client, li_na)] == [True]


def test_media_lists_the_record_s_own_media_and_refuses_unknown_parameters(
    client: httpx.Client, wired: Container
) -> None:
    zhang = register(client, ZHANG_WEI_ID, "张伟")
    media = client.get(f"/Patient/{zhang}/$media").json()
    own = [{p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in m["part"]}
           for m in media["parameter"]]  # fmt: skip
    assert [m["kind"] for m in own] == ["ehc", "id-card"]
    assert own[1]["value"] == ZHANG_WEI_ID and own[1]["documentType"] == "01"
    assert client.get(f"/Patient/{zhang}/$media?colour=red").status_code == 400
    assert client.get(f"/Patient/{zhang}/$media?history=maybe").status_code == 400
    assert client.get(f"/Patient/{'0' * 64}/$media").status_code == 404


def test_media_of_a_record_merged_away_are_the_survivor_s(
    client: httpx.Client, wired: Container
) -> None:
    """§4.1.1 索引合并: after a merge the survivor lists, re-binds and unbinds the card that
    was bound to the retired record (the reader already resolves it to the survivor)."""
    li_na = register(client, LI_NA["docNumber"], "李娜")
    assert bind(client, li_na, "social-security-card", LI_NA["cardNumber"]).status_code == 201
    body = chinese_patient(his_id("H-LN-2"), name="李娜", birth_date=None, phone=None)
    created = client.post("/Patient", json=body, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    survivor = created.json()["id"]
    assert bindings(client, survivor) == []

    merge = {"resourceType": "Parameters", "parameter": [
        {"name": "source-patient", "valueReference": {"reference": f"Patient/{li_na}"}},
        {"name": "target-patient", "valueReference": {"reference": f"Patient/{survivor}"}},
    ]}  # fmt: skip
    merged = client.post("/Patient/$merge", json=merge, headers=FHIR_JSON)
    assert merged.status_code == 200, merged.text

    assert [b["value"] for b in bindings(client, survivor)] == [LI_NA["cardNumber"]]
    again = bind(client, survivor, "social-security-card", LI_NA["cardNumber"])
    assert again.status_code == 200, again.text  # already the survivor's: nothing written
    ended = unbind(client, survivor, "social-security-card", LI_NA["cardNumber"])
    assert ended.status_code == 200, ended.text
    assert bindings(client, survivor) == []
    assert [b["value"] for b in bindings(client, survivor, history=True)] == [LI_NA["cardNumber"]]
