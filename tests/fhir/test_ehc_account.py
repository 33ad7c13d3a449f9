"""``$ehc-account`` over real HTTP (guideline §4.2.2 账户信息管理, 账户生命周期管理).

The card office reads a patient's card and its history, suspends it when the phone is lost,
resumes it, re-issues it, cancels it; a patient without documents gets a temporary card
(电子就诊卡) and a code for it.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.fhir.ehc_support import add_desk, parameters, refused, register, values, verify
from tests.fhir.support import EHC_ID_SYSTEM, chinese_patient


def account_change(
    http: httpx.Client, action: str, ehc_id: str, reason: str | None = "手机遗失", **more: str
) -> httpx.Response:
    items: list[tuple[str, str, Any]] = [("action", "Code", action), ("ehcId", "String", ehc_id)]
    if reason is not None:
        items.append(("reason", "String", reason))
    items += [(name, "Code", value) for name, value in more.items()]
    return http.post("/$ehc-account", json=parameters(*items))


def account(response: httpx.Response) -> dict[str, Any]:
    """The first account of the answer: its parts by name, ``event`` as a list."""
    assert response.status_code == 200, response.text
    parts = response.json()["parameter"][0]["part"]
    out: dict[str, Any] = {"event": []}
    for part in parts:
        if part["name"] == "event":
            out["event"].append({p["name"]: next(v for k, v in p.items() if k.startswith("value"))
                                 for p in part["part"]})  # fmt: skip
        else:
            out[part["name"]] = next(v for k, v in part.items() if k.startswith("value"))
    return out


def test_a_card_lives_its_life_and_keeps_its_history(http: httpx.Client) -> None:
    mpi_id, ehc_id = register(http)
    card = account(http.get("/$ehc-account", params={"patient": mpi_id}))
    assert card["ehcId"] == {"system": EHC_ID_SYSTEM, "value": ehc_id}
    assert (card["status"], card["kind"], card["documentType"]["code"]) == (
        "normal",
        "formal",
        "01",
    )
    assert [e["action"] for e in card["event"]] == ["issue"]

    suspended = account(account_change(http, "suspend", ehc_id))
    assert suspended["status"] == "suspended"
    again = account_change(http, "suspend", ehc_id)
    assert again.status_code == 409 and "暂停" in again.json()["issue"][0]["diagnostics"]
    account(account_change(http, "resume", ehc_id, None))
    reissued = account(account_change(http, "reissue", ehc_id, "补发", kind="temporary"))
    assert (reissued["status"], reissued["kind"]) == ("normal", "temporary")
    cancelled = account(account_change(http, "cancel", ehc_id, "本人申请注销"))
    assert cancelled["status"] == "revoked"

    history = account(http.get("/$ehc-account", params={"ehcId": ehc_id}))["event"]
    assert [(e["action"], e.get("from"), e["to"]) for e in history] == [
        ("issue", None, "normal"),
        ("suspend", "normal", "suspended"),
        ("resume", "suspended", "normal"),
        ("reissue", "normal", "normal"),
        ("cancel", "normal", "revoked"),
    ]
    assert history[1]["reason"] == "手机遗失" and history[4]["reason"] == "本人申请注销"
    assert history[1]["actor"].startswith("fhir:") and history[3]["kind"] == "temporary"
    assert account_change(http, "resume", ehc_id, None).status_code == 409


def test_mistakes_are_refused_and_change_nothing(http: httpx.Client) -> None:
    _, ehc_id = register(http)
    no_reason = account_change(http, "suspend", ehc_id, None)
    assert no_reason.status_code == 400 and "原因" in no_reason.text
    assert account_change(http, "suspend", "AB" * 32).status_code == 404
    assert account_change(http, "freeze", ehc_id).status_code == 400
    kind_on_suspend = account_change(http, "suspend", ehc_id, kind="temporary")
    assert kind_on_suspend.status_code == 400
    assert http.get("/$ehc-account", params={"patient": "F" * 64}).status_code == 404
    assert http.get("/$ehc-account").status_code == 400
    card = account(http.get("/$ehc-account", params={"ehcId": ehc_id}))
    assert card["status"] == "normal" and len(card["event"]) == 1


def test_a_patient_without_documents_gets_a_temporary_card(http: httpx.Client) -> None:
    add_desk(http)
    his = {"system": "urn:oid:1.2.156.112604.1.2.1", "value": "H-0042"}
    body = chinese_patient(his, name="无名氏", gender="female", birth_date=None, phone=None)
    created = http.post("/Patient", json=body)
    assert created.status_code == 201, created.text
    mpi_id = created.json()["id"]

    issue = parameters(
        ("action", "Code", "issue-temporary"),
        ("patient", "Reference", {"reference": f"Patient/{mpi_id}"}),
        ("reason", "String", "急诊无证件 (emergency, no documents)"),
    )
    card = account(http.post("/$ehc-account", json=issue))
    assert (card["kind"], card["status"], card["documentType"]["code"]) == (
        "temporary",
        "normal",
        "99",
    )
    assert http.post("/$ehc-account", json=issue).status_code == 409  # one is enough

    code = values(http.post(f"/Patient/{mpi_id}/$ehc-qr"))
    assert code["kind"] == "temporary" and code["qr"].split(":")[1] == "2"
    found = values(verify(http, code["qr"]))
    assert found["patient"] == {"reference": f"Patient/{mpi_id}"}
    refused(verify(http, code["ehcId"]["value"] + ":1"), 422, "tampered")
