"""``$read-medium`` end to end over HTTP: the flows of guideline §5.1.1–§5.1.4 (and §5.1.6),
with the 社保/医保身份识别系统 simulator as a real process failing and recovering (§6.5)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor
from ehcmpi.core.verifier import BreakerState
from ehcmpi.external.insurance_sim import DEFAULT_PERSONS
from tests.fhir import reader_support
from tests.fhir.reader_support import BREAKER_FAILURES, BREAKER_RESET_SECONDS, output, parameters
from tests.fhir.support import (
    EHC_ID_SYSTEM,
    HIS_SYSTEM,
    ZHANG_WEI_ID,
    chinese_patient,
    diagnostics,
    his_id,
    with_bad_check_digit,
)
from tests.insurance_simulator import Simulator

simulator, reader_server = reader_support.simulator, reader_support.reader_server
wired, client = reader_support.wired, reader_support.client
FHIR_JSON = {"Content-Type": "application/fhir+json"}
LI_NA, WANG_QIANG = DEFAULT_PERSONS[0], DEFAULT_PERSONS[1]
ADMIN = Actor("admin-01", frozenset({"admin"}), "test")
ORG = "12100000400000000A"
DESK = ORG + "0301"


def read(client: httpx.Client, *items: tuple[str, Any]) -> httpx.Response:
    return client.post("/Patient/$read-medium", json=parameters(*items), headers=FHIR_JSON)


def patient_count(container: Container) -> int:
    with container.uow() as uow:
        return uow.patients.count()


def demographics(name: str = "张伟", *identifiers: dict[str, Any]) -> dict[str, Any]:
    """What a clerk adds to a card reading: name, phone, address (the number gives the rest)."""
    resource = chinese_patient(name=name, birth_date=None, phone=None)
    del resource["gender"], resource["address"]
    resource["identifier"] = list(identifiers)
    return resource


# --- §5.1.1 患者持居民身份证就医 ---------------------------------------------------------------


def test_flow_5_1_1_id_card_creates_the_ehc_id_once_and_finds_it_again(
    client: httpx.Client, wired: Container
) -> None:
    first = read(client, ("medium", "id-card"), ("value", ZHANG_WEI_ID),
                 ("patient", demographics("张伟", his_id("H-1001"))))  # fmt: skip
    again = read(client, ("medium", "id-card"), ("value", ZHANG_WEI_ID.lower()))

    assert first.status_code == again.status_code == 200, first.text
    body, later = first.json(), again.json()
    assert output(body, "created") is True and output(later, "created") is False
    assert output(body, "ehcIssued") is True and output(body, "verification") == "not-required"
    ehc = output(body, "ehcId")
    assert ehc["system"] == EHC_ID_SYSTEM and output(later, "ehcId") == ehc
    mpi_id = output(body, "patient")["reference"].removeprefix("Patient/")
    assert ehc["value"] == wired.crypto.ehc_id(mpi_id, "01", ZHANG_WEI_ID)
    record = output(later, "resource")
    assert record["id"] == mpi_id and record["name"][0]["text"] == "张伟"
    assert {"system": HIS_SYSTEM, "value": "H-1001"} in [
        {k: i[k] for k in ("system", "value")} for i in record["identifier"]
    ]
    assert client.get(f"/Patient/{mpi_id}").json()["id"] == mpi_id


def test_flow_5_1_1_bad_input_is_refused_and_changes_nothing(
    client: httpx.Client, wired: Container
) -> None:
    bad = read(client, ("medium", "id-card"), ("value", with_bad_check_digit(ZHANG_WEI_ID)),
               ("patient", demographics()))  # fmt: skip
    assert bad.status_code == 400 and "居民身份证" in diagnostics(bad.json())
    unknown = read(client, ("medium", "id-card"), ("value", ZHANG_WEI_ID))
    assert unknown.status_code == 422 and "姓名" in diagnostics(unknown.json())
    kind = read(client, ("medium", "passport-chip"), ("value", "E1"))
    assert kind.status_code == 400 and "id-card" in diagnostics(kind.json())
    empty = read(client, ("medium", "id-card"))
    assert empty.status_code == 400
    doubled = read(client, ("medium", "id-card"), ("value", ZHANG_WEI_ID),
                   ("patient", demographics("张伟", {"system": "urn:oid:2.16.156.10011.1.3",
                                                     "value": ZHANG_WEI_ID})))  # fmt: skip
    assert doubled.status_code == 400 and "medium" in diagnostics(doubled.json())
    stray = read(client, ("medium", "id-card"), ("value", ZHANG_WEI_ID), ("colour", "red"))
    assert stray.status_code == 400
    assert patient_count(wired) == 0


# --- §5.1.2 患者持电子健康卡就医 -------------------------------------------------------------


def test_flow_5_1_2_ehc_qr_code_resolves_to_the_patient_and_ehc_id(
    client: httpx.Client, wired: Container
) -> None:
    made = read(client, ("medium", "id-card"), ("value", ZHANG_WEI_ID),
                ("patient", demographics()))  # fmt: skip
    mpi_id = output(made.json(), "patient")["reference"].removeprefix("Patient/")
    wired.terminals.register_terminal(org_code=ORG, dept_code="0301", name="挂号窗口1",
                                      type="scanner", location="门诊一楼", actor=ADMIN)  # fmt: skip
    code = wired.qr.generate(mpi_id=mpi_id, channel="app", actor=ADMIN).text
    where = (("terminal", DESK), ("careStep", "registration"), ("channel", "his"))

    scanned = read(client, ("medium", "ehc-qr"), ("value", code), *where)
    assert scanned.status_code == 200, scanned.text
    body = scanned.json()
    assert output(body, "verification") == "verified" and output(body, "created") is False
    assert output(body, "ehcId") == output(made.json(), "ehcId")
    assert output(body, "resource")["id"] == mpi_id

    stranger = read(client, ("medium", "ehc-qr"), ("value", code), ("terminal", ORG + "9999"))
    assert stranger.status_code == 403
    tampered = read(client, ("medium", "ehc-qr"), ("value", code[:-4] + "0000"), *where)
    assert tampered.status_code == 400
    statuses = [read(client, ("medium", "ehc-qr"), ("value", code), *where).status_code
                for _ in range(3)]  # fmt: skip
    assert statuses[-1] == 422 and "最大验证次数" in diagnostics(
        read(client, ("medium", "ehc-qr"), ("value", code), *where).json()
    )
    unknown = read(client, ("medium", "ehc-qr"), ("value", "AB" * 32 + ":1"), *where)
    assert unknown.status_code == 404


# --- §5.1.3 患者持社保卡/医保电子凭证就医 ----------------------------------------------------


def test_flow_5_1_3_social_security_card_is_verified_registered_and_bound(
    client: httpx.Client, wired: Container, simulator: Simulator
) -> None:
    first = read(client, ("medium", "social-security-card"), ("value", LI_NA["cardNumber"]))
    again = read(client, ("medium", "social-security-card"), ("value", LI_NA["cardNumber"]))

    assert first.status_code == again.status_code == 200, first.text
    body = first.json()
    assert output(body, "created") is True and output(again.json(), "created") is False
    assert output(body, "verification") == "verified"
    assert output(body, "insurance") == {"status": "active", "type": "职工基本医疗保险",
                                          "area": "110100"}  # fmt: skip
    record = output(body, "resource")
    assert record["name"][0]["text"] == "李娜" and record["gender"] == "female"
    assert LI_NA["docNumber"] in [i["value"] for i in record["identifier"]]
    binding = output(body, "binding")
    assert binding["kind"] == "social-security-card" and binding["value"] == LI_NA["cardNumber"]
    assert binding["verified"] is True and binding["active"] is True
    assert output(again.json(), "ehcId") == output(body, "ehcId")

    media = client.get(f"/Patient/{record['id']}/$media").json()
    kinds = [output({"resourceType": "Parameters", "parameter": [p]}, p["name"])["kind"]
             for p in media["parameter"]]  # fmt: skip
    assert kinds == ["ehc", "id-card", "social-security-card"]


def test_flow_5_1_3_insurance_e_voucher_qr_joins_a_patient_known_by_id_card(
    client: httpx.Client, wired: Container
) -> None:
    known = read(client, ("medium", "id-card"), ("value", WANG_QIANG["docNumber"]),
                 ("patient", demographics("王强")))  # fmt: skip
    scanned = read(client, ("medium", "insurance-qr"), ("value", WANG_QIANG["qr"]))
    assert scanned.status_code == 200, scanned.text
    body = scanned.json()
    assert known.status_code == 200, known.text
    assert output(body, "created") is False
    assert output(body, "ehcId") == output(known.json(), "ehcId")
    assert output(body, "binding")["kind"] == "insurance-voucher"
    assert output(body, "binding")["value"] == WANG_QIANG["voucherId"]
    assert output(body, "insurance")["type"] == "城乡居民基本医疗保险"
    assert patient_count(wired) == 1


def test_flow_5_1_3_a_card_the_insurance_system_does_not_know_is_404(
    client: httpx.Client, wired: Container
) -> None:
    response = read(client, ("medium", "social-security-card"), ("value", "K99999999"))
    assert response.status_code == 404 and "未找到参保人" in diagnostics(response.json())
    malformed = read(client, ("medium", "social-security-card"), ("value", "卡-1"))
    assert malformed.status_code == 400
    assert patient_count(wired) == 0


# --- §5.1.4 患者持其他有效身份证件就医, §5.1.6 信息缺失 ----------------------------------------


def test_flow_5_1_4_other_documents_create_then_find_the_patient(
    client: httpx.Client, wired: Container
) -> None:
    holders = {  # passport, 港澳居民来往内地通行证, 外国人永久居留身份证 (2017)
        "03": ("E12345678", "JOHN SMITH"),
        "06": ("H12345678", "陈家明"),
        "10": ("USA110170015011", "MARY JONES"),
    }
    for doc_type, (number, name) in holders.items():
        medium = (("medium", "document"), ("documentType", doc_type), ("value", number))
        made = read(client, *medium, ("patient", demographics(name)))
        found = read(client, *medium)
        assert made.status_code == found.status_code == 200, made.text
        assert output(made.json(), "created") is True and output(found.json(), "created") is False
        assert output(found.json(), "ehcId") == output(made.json(), "ehcId") is not None
    untyped = read(client, ("medium", "document"), ("value", "E12345678"))
    assert untyped.status_code == 400 and patient_count(wired) == 3


def test_flow_5_1_6_no_medium_gives_a_temporary_archive_number(
    client: httpx.Client, wired: Container
) -> None:
    response = read(client, ("medium", "none"), ("patient", demographics("无名氏")))
    assert response.status_code == 200, response.text
    body = response.json()
    assert output(body, "ehcId") is None and output(body, "archiveNumber")["value"][:2] == "TA"
    assert read(client, ("medium", "none")).status_code == 422


# --- §6.5: the insurance system fails and recovers -----------------------------------------


def test_insurance_system_failing_and_recovering_the_index_keeps_serving(
    client: httpx.Client, wired: Container, simulator: Simulator
) -> None:
    card = ("medium", "social-security-card"), ("value", LI_NA["cardNumber"])
    made = read(client, *card).json()
    simulator.mode("error")

    degraded = read(client, *card)  # failure 1: bound card, answered from the binding
    assert degraded.status_code == 200
    assert output(degraded.json(), "verification") == "unavailable"
    assert output(degraded.json(), "insurance") is None
    assert output(degraded.json(), "ehcId") == output(made, "ehcId")
    refused = read(client, ("medium", "social-security-card"), ("value", WANG_QIANG["cardNumber"]))
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
    assert wired.insurance is not None
    assert wired.insurance.breaker.state is BreakerState.OPEN  # after BREAKER_FAILURES
    assert BREAKER_FAILURES == 2

    calls, started = simulator.calls(), time.monotonic()
    assert read(client, *card).json()["parameter"]  # still served
    assert read(client, ("medium", "insurance-qr"), ("value", LI_NA["qr"])).status_code == 503
    by_id = read(client, ("medium", "id-card"), ("value", ZHANG_WEI_ID),
                 ("patient", demographics()))  # fmt: skip
    assert by_id.status_code == 200  # media without the external system are untouched
    assert simulator.calls() == calls  # open: no call reached the failing system
    assert time.monotonic() - started < 1.0  # and nobody waited on timeouts

    simulator.mode("ok")
    time.sleep(BREAKER_RESET_SECONDS)
    recovered = read(client, *card)
    assert output(recovered.json(), "verification") == "verified"
    assert wired.insurance.breaker.state is BreakerState.CLOSED
    created = read(client, ("medium", "social-security-card"), ("value", WANG_QIANG["cardNumber"]))
    assert created.status_code == 200 and output(created.json(), "created") is True


def test_insurance_process_killed_and_restarted(
    client: httpx.Client, wired: Container, simulator: Simulator
) -> None:
    card = ("medium", "social-security-card"), ("value", LI_NA["cardNumber"])
    read(client, *card)
    simulator.stop()
    for _ in range(BREAKER_FAILURES):
        assert output(read(client, *card).json(), "verification") == "unavailable"
    assert wired.insurance is not None
    assert wired.insurance.breaker.state is BreakerState.OPEN

    simulator.restart()
    time.sleep(BREAKER_RESET_SECONDS)
    assert output(read(client, *card).json(), "verification") == "verified"


def test_a_slow_insurance_system_costs_at_most_the_timeouts(
    client: httpx.Client, wired: Container, simulator: Simulator
) -> None:
    card = ("medium", "social-security-card"), ("value", LI_NA["cardNumber"])
    read(client, *card)
    simulator.mode("slow", delay=5)
    started = time.monotonic()
    answer = read(client, *card)
    assert time.monotonic() - started < 2.5  # 2 attempts × 0.5 s + backoff, not 5 s
    assert output(answer.json(), "verification") == "unavailable"


def test_the_operations_are_in_the_capability_statement(
    client: httpx.Client, wired: Container
) -> None:
    statement = client.get("/metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    names = {o["name"] for o in patient["operation"]}
    assert {"read-medium", "bind-medium", "unbind-medium", "media"} <= names
    definition = client.get("/OperationDefinition/Patient-read-medium").json()
    assert definition["code"] == "read-medium" and definition["affectsState"] is True
    assert {p["name"] for p in definition["parameter"] if p["use"] == "in"} >= {"medium", "value"}
