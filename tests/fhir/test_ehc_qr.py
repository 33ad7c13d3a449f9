"""``$ehc-qr`` and ``$ehc-qr-verify`` over real HTTP (guideline §4.2.3; flow §5.2.3).

The patient's app asks for a code (text, PNG, SVG); the registration desk's scanner sends
what it read; the answer is the patient and EHC ID, or an OperationOutcome with the precise
reason and its status.  Every reason is provoked through the API.
"""

from __future__ import annotations

import base64
import datetime as dt

import httpx
import pytest

from ehcmpi.bootstrap import Container
from ehcmpi.core.qr_format import seal_block
from tests.fhir.ehc_support import (
    DESK,
    ORG,
    add_desk,
    generate,
    parameters,
    refused,
    register,
    values,
    verify,
)
from tests.fhir.support import EHC_ID_SYSTEM, chinese_patient, citizen_id


@pytest.fixture
def patient(http: httpx.Client) -> tuple[str, str]:
    add_desk(http)
    return register(http)


def test_the_app_shows_a_dynamic_code_and_the_desk_verifies_it(
    http: httpx.Client, patient: tuple[str, str]
) -> None:
    mpi_id, ehc_id = patient
    code = values(http.post(f"/Patient/{mpi_id}/$ehc-qr"))  # no body: a dynamic code
    assert code["qr"].startswith(f"{ehc_id}:1:") and len(code["qr"].split(":")[2]) == 32
    assert code["ehcId"] == {"system": EHC_ID_SYSTEM, "value": ehc_id}
    assert (code["kind"], code["dynamic"], code["maxVerifications"]) == ("formal", True, 3)
    lifetime = dt.datetime.fromisoformat(code["expires"]) - dt.datetime.fromisoformat(
        code["generated"]
    )
    assert lifetime == dt.timedelta(seconds=120)

    found = values(verify(http, code["qr"]))
    assert found == {
        "patient": {"reference": f"Patient/{mpi_id}"},
        "ehcId": {"system": EHC_ID_SYSTEM, "value": ehc_id},
    }


def test_the_code_comes_as_a_png_or_svg_picture(
    http: httpx.Client, patient: tuple[str, str]
) -> None:
    png = generate(http, patient[0], ("image", "Code", "png"))["image"]
    assert png["contentType"] == "image/png"
    assert base64.b64decode(png["data"]).startswith(b"\x89PNG\r\n\x1a\n")
    svg = generate(http, patient[0], ("image", "Code", "svg"), ("dynamic", "Boolean", False))
    assert svg["qr"] == f"{patient[1]}:1" and "expires" not in svg
    assert svg["image"]["contentType"] == "image/svg+xml"
    assert b"<svg" in base64.b64decode(svg["image"]["data"])
    bad = http.post(f"/Patient/{patient[0]}/$ehc-qr", json=parameters(("image", "Code", "gif")))
    assert bad.status_code == 400 and "png" in bad.json()["issue"][0]["diagnostics"]


def test_every_refusal_has_its_reason_and_status(
    http: httpx.Client, patient: tuple[str, str], container: Container
) -> None:
    mpi_id, ehc_id = patient
    static = generate(http, mpi_id, ("dynamic", "Boolean", False))["qr"]

    assert "未登记" in refused(verify(http, static, ORG + "9999"), 403, "terminal_unknown")
    assert refused(verify(http, "not a code"), 422, "malformed").startswith("二维码格式错误")
    refused(verify(http, "AB" * 32 + ":1"), 404, "unknown")
    refused(verify(http, f"{ehc_id}:2"), 422, "tampered")

    dynamic = generate(http, mpi_id)["qr"]
    flipped = dynamic[:-1] + ("0" if dynamic[-1] != "0" else "1")
    refused(verify(http, flipped), 422, "tampered")
    for _ in range(3):
        assert verify(http, dynamic).status_code == 200
    assert "最大验证次数" in refused(verify(http, dynamic), 422, "used_up")

    # A code its app made ten minutes ago (the server's lifetime is 120 s).
    made = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    seal = container.crypto.qr_seal(seal_block(made, ehc_id, "1")).hex().upper()
    refused(verify(http, f"{ehc_id}:1:{seal}"), 422, "expired")

    account = parameters(("action", "Code", "suspend"), ("ehcId", "String", ehc_id),
                         ("reason", "String", "手机遗失"))  # fmt: skip
    assert http.post("/$ehc-account", json=account).status_code == 200
    assert "暂停" in refused(verify(http, static), 409, "suspended")
    account["parameter"][0]["valueCode"] = "cancel"
    assert http.post("/$ehc-account", json=account).status_code == 200
    refused(verify(http, static), 409, "cancelled")

    disable = parameters(("action", "Code", "disable"), ("code", "String", DESK))
    assert http.post("/$ehc-terminal", json=disable).status_code == 200
    refused(verify(http, static), 403, "terminal_disabled")


def test_bad_requests_are_400_and_nothing_is_recorded(
    http: httpx.Client, patient: tuple[str, str]
) -> None:
    response = verify(http, f"{patient[1]}:1", care_step="surgery")
    assert response.status_code == 400, response.text
    assert "诊疗环节" in response.json()["issue"][0]["diagnostics"]
    missing = http.post("/$ehc-qr-verify", json=parameters(("qr", "String", "x")))
    assert missing.status_code == 400
    body = parameters(("qr", "String", "x"), ("terminal", "String", DESK),
                      ("careStep", "Code", "registration"))  # fmt: skip
    body["parameter"][0]["valueString"] = 42
    assert http.post("/$ehc-qr-verify", json=body).status_code == 400
    body["parameter"][0] = {"name": "qr", "valueString": "x", "valueCode": "y"}
    assert http.post("/$ehc-qr-verify", json=body).status_code == 400
    listed = http.get("/$ehc-qr-records", params={"ehcId": patient[1]})
    assert listed.status_code == 200 and listed.json().get("parameter", []) == []


def test_a_patient_without_a_card_or_unknown_gets_no_code(
    http: httpx.Client, patient: tuple[str, str]
) -> None:
    unknown = http.post("/Patient/" + "F" * 64 + "/$ehc-qr")
    assert unknown.status_code == 404
    his = {"system": "urn:oid:1.2.156.112604.1.2.1", "value": "H-77"}
    no_doc = chinese_patient(his, name="王芳", gender="female", birth_date=None, phone=None)
    created = http.post("/Patient", json=no_doc)
    assert created.status_code == 201, created.text
    refused_ = http.post(f"/Patient/{created.json()['id']}/$ehc-qr")
    assert refused_.status_code == 409 and "尚无电子健康卡" in refused_.text


def test_records_and_statistics_follow_the_scans(
    http: httpx.Client, patient: tuple[str, str]
) -> None:
    mpi_id, ehc_id = patient
    born = dt.date(1990, 5, 4)
    other_mpi, other_ehc = register(
        http, citizen_id(born, 21), name="李强", birth_date=born, phone="13900000001"
    )
    code = generate(
        http, mpi_id, ("careStep", "Code", "registration"), ("channel", "String", "app")
    )
    verify(http, code["qr"])
    verify(http, code["qr"], care_step="pharmacy")
    verify(http, code["qr"], ORG + "0999")
    verify(http, generate(http, other_mpi)["qr"])

    body = http.get("/$ehc-qr-records", params={"ehcId": ehc_id}).json()
    records = [{p["name"]: next(v for k, v in p.items() if k.startswith("value"))
                for p in r["part"]} for r in body["parameter"]]  # fmt: skip
    assert [(r["event"], r["outcome"], r.get("terminal")) for r in records] == [
        ("verify", "terminal_unknown", ORG + "0999"),
        ("verify", "ok", DESK),
        ("verify", "ok", DESK),
        ("generate", "ok", None),
    ]
    assert records[1]["careStep"] == "pharmacy" and records[1]["channel"] == "fhir"
    assert records[3]["channel"] == "app" and records[3]["patient"]["reference"].endswith(mpi_id)
    failures = http.get("/$ehc-qr-records", params={"failures": "true", "ehcId": ehc_id}).json()
    assert len(failures["parameter"]) == 1

    stats = http.get("/$ehc-qr-stats", params={"by": "terminal"})
    assert stats.status_code == 200, stats.text
    groups = {g["part"][0]["valueString"]: {p["name"]: p.get("valueInteger") for p in g["part"]}
              for g in stats.json()["parameter"]}  # fmt: skip
    assert groups[DESK]["verified"] >= 3 and groups[DESK]["verifiedOk"] >= 3
    assert groups[ORG + "0999"]["failed"] >= 1
    assert other_ehc != ehc_id
    bad = http.get("/$ehc-qr-stats", params={"by": "week"})
    assert bad.status_code == 400


def test_the_operations_are_in_the_capability_statement(http: httpx.Client) -> None:
    statement = http.get("/metadata").json()
    system = {o["name"] for o in statement["rest"][0].get("operation", [])}
    assert {"ehc-qr-verify", "ehc-account", "ehc-terminal", "ehc-client-app",
            "ehc-qr-records", "ehc-qr-stats"} <= system  # fmt: skip
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert "ehc-qr" in {o["name"] for o in patient["operation"]}
    definition = http.get("/OperationDefinition/ehc-qr-verify")
    assert definition.status_code == 200
    assert {p["name"] for p in definition.json()["parameter"]} >= {"qr", "terminal", "careStep"}


def test_a_scanner_may_send_xml(http: httpx.Client, patient: tuple[str, str]) -> None:
    xml = (
        '<Parameters xmlns="http://hl7.org/fhir">'
        f'<parameter><name value="qr"/><valueString value="{patient[1]}:1"/></parameter>'
        f'<parameter><name value="terminal"/><valueString value="{DESK}"/></parameter>'
        '<parameter><name value="careStep"/><valueCode value="triage"/></parameter>'
        "</Parameters>"
    )
    answer = http.post(
        "/$ehc-qr-verify",
        content=xml.encode(),
        headers={"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"},
    )
    assert values(answer)["patient"] == {"reference": f"Patient/{patient[0]}"}
