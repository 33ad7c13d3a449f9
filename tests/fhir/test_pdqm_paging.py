"""PDQm ITI-78 search mechanics over real HTTP: AND/OR, paging links that keep working while
patients are registered, ``POST _search``, unknown parameters (lenient / ``Prefer:
handling=strict``) and the error answers (FHIR R4 search §3.1.1; RULES.md 27)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fhirpy import SyncFHIRClient

from tests.fhir.support import chinese_patient, citizen_id, diagnostics, id_card

GIVEN = "一二三四五六七八九十"
FORM = "application/x-www-form-urlencoded"


def _register(http: httpx.Client, name: str, sequence: int, gender: str = "male") -> str:
    born = dt.date(1980, 1, 1) + dt.timedelta(days=sequence)
    number = citizen_id(born, sequence * 2 + (1 if gender == "male" else 2))
    resource = chinese_patient(id_card(number), name=name, gender=gender, birth_date=born)
    response = http.post("/Patient", json=resource)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def zhangs(http: httpx.Client) -> list[str]:
    """Seven men called 张…, their master-index IDs in ascending order (the paging order)."""
    return sorted(_register(http, f"张{GIVEN[i]}", i) for i in range(7))


def _get(http: httpx.Client, url_or_params: str | dict[str, str]) -> dict[str, Any]:
    if isinstance(url_or_params, str):
        response = http.get(url_or_params)
    else:
        response = http.get("/Patient", params=url_or_params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def _links(bundle: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle["link"]}


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- AND / OR ---------------------------------------------------------------------------------


def test_repeated_parameters_and_and_commas_or(http: httpx.Client, zhangs: list[str]) -> None:
    li = _register(http, "李四", 20, "female")

    assert _get(http, {"name": "zhang,li"})["total"] == 8
    assert _ids(_get(http, {"name": "李,王"})) == [li]
    # 张六 is both a zhang… and a …liu (a given name is part of the name too).
    liu = http.get("/Patient", params=[("name", "zhang"), ("name", "li")]).json()
    assert liu["total"] == 1 and liu["entry"][0]["resource"]["name"][0]["text"] == "张六"
    both = http.get("/Patient", params=[("name", "zhang"), ("name", "wang")]).json()
    assert both["total"] == 0 and "entry" not in both  # PDQm Case 3: no entry at all
    narrowed = http.get("/Patient", params=[("name", "zhang"), ("given", "三,四")]).json()
    assert narrowed["total"] == 2  # 张三 and 张四


# --- paging ------------------------------------------------------------------------------------


def test_pages_follow_next_and_previous_links(http: httpx.Client, zhangs: list[str]) -> None:
    first = _get(http, {"family": "张", "_count": "3"})
    assert first["total"] == 7 and _ids(first) == zhangs[:3]
    assert set(_links(first)) == {"self", "first", "next"}
    assert _query(_links(first)["self"])["family"] == ["张"]

    second = _get(http, _links(first)["next"])
    third = _get(http, _links(second)["next"])
    assert _ids(second) == zhangs[3:6] and _ids(third) == zhangs[6:]
    assert [b["total"] for b in (second, third)] == [7, 7]
    assert "next" not in _links(third)
    assert _ids(_get(http, _links(third)["previous"])) == zhangs[3:6]
    assert _ids(_get(http, _links(second)["previous"])) == zhangs[:3]
    assert _ids(_get(http, _links(third)["first"])) == zhangs[:3]
    assert _ids(_get(http, _links(second)["self"])) == zhangs[3:6]


def test_fhir_client_fetches_every_page(fhir: SyncFHIRClient, zhangs: list[str]) -> None:
    everyone = fhir.resources("Patient").search(family="zhang").limit(2).fetch_all()

    assert [p["id"] for p in everyone] == zhangs


@pytest.fixture
def older(http: httpx.Client) -> dict[str, Any]:
    """A 李 registered before the 张s (ask for it first): the older master-index ID."""
    born = dt.date(1970, 1, 1)
    resource = chinese_patient(id_card(citizen_id(born, 3)), name="李早", birth_date=born)
    response = http.post("/Patient", json=resource)
    assert response.status_code == 201, response.text
    time.sleep(0.002)  # the next ID begins with a later millisecond
    return dict(response.json())


def test_patients_joining_the_results_on_either_side_of_the_cursor_shift_no_page(
    http: httpx.Client, older: dict[str, Any], zhangs: list[str]
) -> None:
    first = _get(http, {"name": "张", "_count": "3"})
    cursor = _ids(first)[-1]
    # Master-index IDs sort by age: a new registration lands after the cursor, and an older
    # record renamed into the results lands before it.
    after = _register(http, "张新", 100)
    renamed = dict(older, name=[{"use": "official", "text": "张早"}])
    assert http.put(f"/Patient/{older['id']}", json=renamed).status_code == 200
    before = older["id"]
    assert before < cursor < after

    rest: list[str] = []
    page: dict[str, Any] | None = _get(http, _links(first)["next"])
    while page is not None:
        rest += _ids(page)
        page = _get(http, _links(page)["next"]) if "next" in _links(page) else None

    everyone = _ids(_get(http, {"name": "张", "_count": "200"}))
    assert before in everyone and after in everyone
    assert rest == [i for i in everyone if i > cursor]  # every later one, once, in order
    assert _ids(first) == zhangs[:3] and set(zhangs[3:]) <= set(rest)
    assert before not in rest and after in rest


def test_a_page_link_of_another_query_or_a_forged_one_is_400(
    http: httpx.Client, zhangs: list[str]
) -> None:
    pointer = _query(_links(_get(http, {"family": "张", "_count": "2"}))["next"])["_page"][0]

    other = http.get("/Patient", params={"family": "李", "_count": "2", "_page": pointer})
    forged = http.get("/Patient", params={"family": "张", "_page": pointer[:-5] + "AAAAA"})
    for response in (other, forged):
        assert response.status_code == 400, response.text
        assert response.json()["issue"][0]["expression"] == ["_page"]


def test_count_is_capped_and_must_be_a_positive_integer(
    http: httpx.Client, zhangs: list[str]
) -> None:
    capped = _get(http, {"family": "张", "_count": "500"})
    assert _query(_links(capped)["self"])["_count"] == ["200"] and len(_ids(capped)) == 7
    for bad in ("0", "-1", "ten"):
        response = http.get("/Patient", params={"family": "张", "_count": bad})
        assert response.status_code == 400, bad
        assert "_count" in diagnostics(response.json())


# --- POST _search ------------------------------------------------------------------------------


def test_post_search_with_a_form_body(http: httpx.Client, zhangs: list[str]) -> None:
    li = _register(http, "李四", 20, "female")

    by_form = http.post("/Patient/_search", content="family=%E6%9D%8E&gender=female",
                        headers={"Content-Type": FORM})  # fmt: skip
    combined = http.post("/Patient/_search?gender=male", data={"family": "张", "_count": "5"})

    assert by_form.status_code == 200, by_form.text
    assert _ids(by_form.json()) == [li]
    assert combined.json()["total"] == 7 and len(_ids(combined.json())) == 5
    self_link = _links(combined.json())["self"]
    assert urlsplit(self_link).path.endswith("/Patient")  # a GET a client can repeat
    assert _query(self_link) == {"gender": ["male"], "family": ["张"], "_count": ["5"]}
    assert _ids(_get(http, _links(combined.json())["next"])) == zhangs[5:]


def test_post_search_needs_a_form_body(http: httpx.Client) -> None:
    response = http.post("/Patient/_search", json={"family": "张"})

    assert response.status_code == 415, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


# --- unknown parameters, strictness, errors ---------------------------------------------------


def test_unknown_parameters_are_ignored_and_left_out_of_the_self_link(
    http: httpx.Client, zhangs: list[str]
) -> None:
    params = {"family": "张", "foo": "bar", "_sort": "-birthdate", "deceased": "false",
              "given": ""}  # fmt: skip
    bundle = _get(http, params)

    assert bundle["total"] == 7
    assert set(_query(_links(bundle)["self"])) == {"family", "_count"}


def test_prefer_handling_strict_refuses_unknown_parameters(http: httpx.Client) -> None:
    response = http.get(
        "/Patient",
        params={"family": "张", "foo": "bar", "deceased": "false"},
        headers={"Prefer": "handling=strict"},
    )

    assert response.status_code == 400, response.text
    assert "foo" in diagnostics(response.json())
    assert "deceased" in diagnostics(response.json())


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"_count": "5"},
        {"foo": "bar"},
        {"name": ",", "given": " "},
    ],
)
def test_a_search_without_any_criterion_is_400(http: httpx.Client, params: dict[str, str]) -> None:
    response = http.get("/Patient", params=params)

    assert response.status_code == 400, response.text
    assert "criterion" in diagnostics(response.json())


@pytest.mark.parametrize("key", ["gender:not", "identifier:of-type", "birthdate:missing"])
def test_unsupported_modifiers_are_refused_even_when_lenient(http: httpx.Client, key: str) -> None:
    response = http.get("/Patient", params={key: "male"})

    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["code"] == "not-supported"


def test_pages_of_a_search_by_ids_follow_the_same_links(
    http: httpx.Client, zhangs: list[str]
) -> None:
    """``_id`` (and identifiers, which resolve to IDs) is read by ID; the paging is the same."""
    first = _get(http, {"_id": ",".join(reversed(zhangs)), "_count": "3"})
    second = _get(http, _links(first)["next"])
    third = _get(http, _links(second)["next"])

    assert [_ids(b) for b in (first, second, third)] == [zhangs[:3], zhangs[3:6], zhangs[6:]]
    assert [b["total"] for b in (first, second, third)] == [7, 7, 7]
    assert "next" not in _links(third)
    assert _ids(_get(http, _links(third)["previous"])) == zhangs[3:6]
    assert _ids(_get(http, _links(second)["previous"])) == zhangs[:3]
