"""``GET /fhir/Patient?…``: exact search by identifier and fuzzy search (§4.1.2 索引查询)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor
from tests.fhir.support import (
    ARCHIVE_NUMBER_SYSTEM,
    EHC_ID_SYSTEM,
    HIS_SYSTEM,
    ID_CARD_SYSTEM,
    MPI_ID_SYSTEM,
    ZHANG_WEI_ID,
    chinese_patient,
    citizen_id,
    diagnostics,
    ehc_id,
    his_id,
    id_card,
    identifier,
)

LI_NA_BIRTH = dt.date(1992, 2, 29)
LI_NA_ID = citizen_id(LI_NA_BIRTH, 24)


def _create(http: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/Patient", json=resource)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def zhang_wei(http: httpx.Client) -> dict[str, Any]:
    return _create(http, chinese_patient(id_card(ZHANG_WEI_ID), his_id("H100")))


@pytest.fixture
def li_na(http: httpx.Client) -> dict[str, Any]:
    return _create(
        http,
        chinese_patient(
            id_card(LI_NA_ID), name="李娜", gender="female", birth_date=LI_NA_BIRTH,
            phone="13912345678",
        ),
    )  # fmt: skip


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def _search(http: httpx.Client, **params: str) -> dict[str, Any]:
    response = http.get("/Patient", params=params)
    assert response.status_code == 200, response.text
    bundle = dict(response.json())
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset")
    return bundle


def _only(bundle: dict[str, Any]) -> str:
    assert bundle["total"] == 1, bundle
    (found,) = _ids(bundle)
    return found


# --- exact: by any identifier, with a third-party FHIR client -------------------------------


def test_fhir_client_finds_a_patient_by_every_kind_of_identifier(
    fhir: SyncFHIRClient, zhang_wei: dict[str, Any], li_na: dict[str, Any]
) -> None:
    tokens = {
        "身份证": f"{ID_CARD_SYSTEM}|{ZHANG_WEI_ID}",
        "EHC ID": f"{EHC_ID_SYSTEM}|{ehc_id(zhang_wei)}",
        "MPI ID": f"{MPI_ID_SYSTEM}|{zhang_wei['id']}",
        "HIS": f"{HIS_SYSTEM}|H100",
    }
    for kind, token in tokens.items():
        bundle = fhir.resources("Patient").search(identifier=token).fetch_raw()
        assert bundle["total"] == 1, kind
        assert [e.resource["id"] for e in bundle["entry"]] == [zhang_wei["id"]], kind


def test_fhir_client_finds_a_patient_by_archive_number(
    fhir: SyncFHIRClient, http: httpx.Client
) -> None:
    patient = _create(http, chinese_patient(his_id("H200"), birth_date=None))
    archive = identifier(patient, ARCHIVE_NUMBER_SYSTEM)["value"]

    found = fhir.resources("Patient").search(identifier=f"{ARCHIVE_NUMBER_SYSTEM}|{archive}")

    assert [p["id"] for p in found.fetch()] == [patient["id"]]


def test_the_archive_number_still_finds_the_patient_after_the_ehc_id_is_issued(
    http: httpx.Client,
) -> None:
    patient = _create(http, chinese_patient(his_id("H200"), birth_date=None))
    archive = identifier(patient, ARCHIVE_NUMBER_SYSTEM)["value"]
    http.post("/Patient", json=chinese_patient(his_id("H200"), id_card(ZHANG_WEI_ID)))

    bundle = _search(http, identifier=f"{ARCHIVE_NUMBER_SYSTEM}|{archive}")

    assert _only(bundle) == patient["id"]
    assert ehc_id(bundle["entry"][0]["resource"])


def test_a_lower_case_x_finds_the_patient(http: httpx.Client) -> None:
    born = dt.date(1990, 7, 1)
    number = next(n for n in (citizen_id(born, s) for s in range(1, 999, 2)) if n[-1] == "X")
    patient = _create(http, chinese_patient(id_card(number), birth_date=born))

    bundle = _search(http, identifier=f"{ID_CARD_SYSTEM}|{number.lower()}")

    assert _only(bundle) == patient["id"]


def test_an_unknown_identifier_of_a_known_system_is_an_empty_bundle(
    http: httpx.Client, zhang_wei: dict[str, Any]
) -> None:
    bundle = _search(http, identifier=f"{HIS_SYSTEM}|NOPE")

    assert bundle["total"] == 0
    assert _ids(bundle) == []


def test_an_identifier_of_an_unknown_system_is_404(http: httpx.Client) -> None:
    response = http.get("/Patient", params={"identifier": "urn:oid:9.9.9|1"})

    assert response.status_code == 404
    assert "urn:oid:9.9.9" in diagnostics(response.json())


@pytest.mark.parametrize("token", [ZHANG_WEI_ID, f"{ID_CARD_SYSTEM}|", f"|{ZHANG_WEI_ID}"])
def test_an_identifier_without_system_and_value_is_400(http: httpx.Client, token: str) -> None:
    response = http.get("/Patient", params={"identifier": token})

    assert response.status_code == 400
    assert "system|value" in diagnostics(response.json())


def test_a_cancelled_patient_is_not_found(
    http: httpx.Client, container: Container, zhang_wei: dict[str, Any]
) -> None:
    container.maintenance.cancel(zhang_wei["id"], "重复", Actor("a", frozenset({"admin"})))

    assert _search(http, identifier=f"{ID_CARD_SYSTEM}|{ZHANG_WEI_ID}")["total"] == 0
    assert _search(http, name="张伟")["total"] == 0


# --- fuzzy ---------------------------------------------------------------------------------


def test_fhir_client_finds_zhang_wei_by_pinyin_and_by_surname(
    fhir: SyncFHIRClient, zhang_wei: dict[str, Any], li_na: dict[str, Any]
) -> None:
    for name in ("zhang wei", "Zhang", "张"):
        found = fhir.resources("Patient").search(name=name).fetch()
        assert [p["id"] for p in found] == [zhang_wei["id"]], name


def test_search_by_birthdate_gender_and_telecom(
    http: httpx.Client, zhang_wei: dict[str, Any], li_na: dict[str, Any]
) -> None:
    assert _only(_search(http, birthdate="1992-02-29")) == li_na["id"]
    assert _only(_search(http, birthdate="eq1985-03-12")) == zhang_wei["id"]
    assert _only(_search(http, gender="female")) == li_na["id"]
    assert _only(_search(http, telecom="13912345678")) == li_na["id"]
    assert _search(http, gender="male", telecom="13912345678")["total"] == 0


def test_identifier_and_name_together_narrow_the_result(
    http: httpx.Client, zhang_wei: dict[str, Any], li_na: dict[str, Any]
) -> None:
    token = f"{ID_CARD_SYSTEM}|{ZHANG_WEI_ID}"

    assert _only(_search(http, identifier=token, name="zhang")) == zhang_wei["id"]
    assert _only(_search(http, identifier=token, name="张伟")) == zhang_wei["id"]
    assert _search(http, identifier=token, name="li")["total"] == 0
    assert _search(http, identifier=token, gender="female")["total"] == 0


def test_identifiers_separated_by_comma_are_ored(
    http: httpx.Client, zhang_wei: dict[str, Any], li_na: dict[str, Any]
) -> None:
    token = f"{ID_CARD_SYSTEM}|{ZHANG_WEI_ID},{ID_CARD_SYSTEM}|{LI_NA_ID}"

    assert sorted(_ids(_search(http, identifier=token))) == sorted([zhang_wei["id"], li_na["id"]])


def test_count_limits_the_page_without_claiming_a_wrong_total(
    http: httpx.Client, zhang_wei: dict[str, Any]
) -> None:
    for i in range(3):
        number = citizen_id(dt.date(1985, 3, 12), 101 + 2 * i)
        _create(http, chinese_patient(id_card(number), phone=None))

    page = _search(http, name="zhang", _count="2")
    whole = _search(http, name="zhang", _count="4")

    assert len(page["entry"]) == 2
    # Bundle.total counts all matches across pages (FHIR R4 Bundle.total); four match, so
    # a page of two must not say total 2.  Unknown, it is left out.
    assert "total" not in page
    assert whole["total"] == 4
    assert len(whole["entry"]) == 4


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"address": "北京"},  # not supported
        {"name": "zhang", "_sort": "name"},  # not supported either
        {"_count": "5"},  # no criterion at all
        {"name": "zhang", "_count": "0"},
        {"name": "zhang", "_count": "201"},
        {"name": "zhang", "_count": "ten"},
        {"birthdate": "1985-03"},
        {"birthdate": "gt1985-03-12"},
        {"gender": "m"},
    ],
)
def test_bad_search_parameters_are_400(http: httpx.Client, params: dict[str, str]) -> None:
    response = http.get("/Patient", params=params)

    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["code"] == "invalid"


def test_an_unsupported_parameter_is_named(http: httpx.Client) -> None:
    response = http.get("/Patient", params={"name": "zhang", "address-city": "北京"})

    assert "address-city" in diagnostics(response.json())


def test_a_repeated_parameter_is_refused_not_silently_dropped(
    http: httpx.Client, zhang_wei: dict[str, Any], li_na: dict[str, Any]
) -> None:
    # FHIR ANDs repeated parameters: nobody is called both zhang… and li…; the server used to
    # keep only the last value and answer with 李娜.
    response = http.get("/Patient", params=[("name", "zhang"), ("name", "li")])

    assert response.status_code == 400, response.text
    assert "name" in diagnostics(response.json())
