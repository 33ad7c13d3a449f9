"""``$ehc-terminal`` and ``$ehc-client-app`` over real HTTP (guideline §4.2.1 注册管理).

Hospital IT registers the scanners of its departments and the apps that show codes; a
disabled scanner can no longer verify, an app must present its current secret.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.fhir.ehc_support import ORG, parameters, refused, register, verify

GOV_ORG = "455000001"  # a 9-character 组织机构代码


def parts(response: httpx.Response, status: int = 200) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    return [
        {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in item["part"]}
        for item in response.json().get("parameter", [])
    ]


def terminal(
    http: httpx.Client, org: str, dept: str, serial: str = "", **kw: str
) -> httpx.Response:
    items: list[tuple[str, str, Any]] = [
        ("action", "Code", "register"),
        ("organization", "String", org),
        ("department", "String", dept),
        ("name", "String", kw.get("name", "自助机")),
        ("type", "Code", kw.get("type", "kiosk")),
    ]
    if serial:
        items.append(("serial", "String", serial))
    return http.post("/$ehc-terminal", json=parameters(*items))


def test_terminals_are_registered_listed_changed_and_disabled(http: httpx.Client) -> None:
    [kiosk] = parts(terminal(http, ORG, "0101", "2", name="门诊自助机 2"), 201)
    assert kiosk["code"] == ORG + "01012"
    assert (kiosk["organization"], kiosk["department"], kiosk["status"]) == (ORG, "0101", "active")
    parts(terminal(http, GOV_ORG, "0201", type="handheld"), 201)

    duplicate = terminal(http, ORG, "0101", "2")
    assert duplicate.status_code == 409
    for org, dept, what in ((ORG[:-1], "0101", "机构代码"), (ORG, "101", "科室代码")):
        bad = terminal(http, org, dept)
        assert bad.status_code == 400 and what in bad.json()["issue"][0]["diagnostics"]
    assert terminal(http, ORG, "0102", type="robot").status_code == 400

    move = parameters(("action", "Code", "update"), ("code", "String", ORG + "01012"),
                      ("location", "String", "门诊楼二层"))  # fmt: skip
    [moved] = parts(http.post("/$ehc-terminal", json=move))
    assert moved["location"] == "门诊楼二层" and moved["name"] == "门诊自助机 2"

    off = parameters(("action", "Code", "disable"), ("code", "String", GOV_ORG + "0201"))
    parts(http.post("/$ehc-terminal", json=off))
    active = parts(http.get("/$ehc-terminal", params={"status": "active"}))
    assert [t["code"] for t in active] == [ORG + "01012"]
    mine = parts(http.get("/$ehc-terminal", params={"organization": GOV_ORG}))
    assert [(t["code"], t["status"], t["type"]) for t in mine] == [
        (GOV_ORG + "0201", "disabled", "handheld")
    ]
    assert http.get("/$ehc-terminal", params={"code": "NOPE"}).status_code == 404
    unknown = parameters(("action", "Code", "enable"), ("code", "String", "NOPE"))
    assert http.post("/$ehc-terminal", json=unknown).status_code == 404


def test_a_disabled_terminal_verifies_again_once_enabled(http: httpx.Client) -> None:
    _, ehc_id = register(http)
    parts(terminal(http, ORG, "0301", type="scanner"), 201)
    desk = ORG + "0301"
    off = parameters(("action", "Code", "disable"), ("code", "String", desk))
    parts(http.post("/$ehc-terminal", json=off))
    refused(verify(http, f"{ehc_id}:1", desk), 403, "terminal_disabled")
    off["parameter"][0]["valueCode"] = "enable"
    parts(http.post("/$ehc-terminal", json=off))
    assert verify(http, f"{ehc_id}:1", desk).status_code == 200


def _app(http: httpx.Client, action: str, **more: str) -> httpx.Response:
    items: list[tuple[str, str, Any]] = [("action", "Code", action), ("appId", "String", "wx-mp")]
    items += [(k, "String", v) for k, v in more.items()]
    return http.post("/$ehc-client-app", json=parameters(*items))


def _generate(http: httpx.Client, mpi_id: str, secret: str) -> httpx.Response:
    body = parameters(("app", "String", "wx-mp"), ("appSecret", "String", secret))
    return http.post(f"/Patient/{mpi_id}/$ehc-qr", json=body)


def test_an_app_generates_codes_only_with_its_current_secret(http: httpx.Client) -> None:
    mpi_id, _ = register(http)
    [app] = parts(_app(http, "register", name="医院微信小程序"), 201)
    secret = app["secret"]
    assert app["status"] == "active" and len(secret) >= 24
    assert _app(http, "register", name="again").status_code == 409
    listed = parts(http.get("/$ehc-client-app"))
    assert listed[0]["appId"] == "wx-mp" and "secret" not in listed[0]

    assert _generate(http, mpi_id, secret).status_code == 200
    wrong = _generate(http, mpi_id, secret + "x")
    assert wrong.status_code == 403 and "密钥" in wrong.json()["issue"][0]["diagnostics"]

    [rotated] = parts(_app(http, "rotate-secret"))
    assert rotated["secret"] != secret
    assert _generate(http, mpi_id, secret).status_code == 403
    assert _generate(http, mpi_id, rotated["secret"]).status_code == 200

    parts(_app(http, "disable"))
    disabled = _generate(http, mpi_id, rotated["secret"])
    assert disabled.status_code == 403 and "停用" in disabled.json()["issue"][0]["diagnostics"]
    half = http.post(f"/Patient/{mpi_id}/$ehc-qr", json=parameters(("app", "String", "wx-mp")))
    assert half.status_code == 400
    bad = http.post("/$ehc-client-app", json=parameters(
        ("action", "Code", "register"), ("appId", "String", "bad id!"), ("name", "String", "x")
    ))  # fmt: skip
    assert bad.status_code == 400
