"""The published IHE PDQm ITI-78 examples replayed over real HTTP (``conformance/pdqm``,
RULES.md 27): the patients an example needs are loaded, the request is sent as written and
the answer is compared with what the IG states (status, Bundle shape, entries, links)."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.fhir.app import create_app
from ehcmpi.settings import DomainSettings, Settings
from tests.fhir.conftest import LiveServer
from tests.fhir.support import HIS_SYSTEM

CONFORMANCE = pathlib.Path(__file__).resolve().parents[3] / "shared" / "conformance"
PDQM, PIXM = CONFORMANCE / "pdqm", CONFORMANCE / "pixm"
EXAMPLE_SYSTEM = "http://example.org/exampleSystem"
RED, GREEN, BLUE = (f"urn:oid:1.3.6.1.4.1.21367.13.20.{n}" for n in (1000, 2000, 3000))
#: The assigning authorities the examples use, configured as this server's domains.
DOMAINS = (
    DomainSettings(namespace="EXAMPLE", oid="2.999.1", system=EXAMPLE_SYSTEM),
    DomainSettings(namespace="DOMAIN123", oid="1.2.3"),
    # 4.5.6 is no valid OID (first arc 0–2); the example's system URI is what counts.
    DomainSettings(namespace="DOMAIN456", oid="2.999.456", system="urn:oid:4.5.6"),
    DomainSettings(namespace="IHERED", oid="1.3.6.1.4.1.21367.13.20.1000"),
    DomainSettings(namespace="IHEGREEN", oid="1.3.6.1.4.1.21367.13.20.2000"),
    DomainSettings(namespace="IHEBLUE", oid="1.3.6.1.4.1.21367.13.20.3000"),
)


@pytest.fixture(scope="module")
def pdqm_served(
    server_settings: Settings, migrated_engine: Engine
) -> Iterator[tuple[str, Container]]:
    domains = (*server_settings.identifier_domains, *DOMAINS)
    settings = server_settings.model_copy(update={"identifier_domains": domains})
    wired = build(settings, engine=migrated_engine)
    with LiveServer(create_app(wired)) as server:
        yield server.base_url, wired


@pytest.fixture
def pdqm(pdqm_served: tuple[str, Container], engine: Engine) -> Iterator[httpx.Client]:
    """A client of the server with the examples' domains, on a database emptied first."""
    with httpx.Client(base_url=pdqm_served[0], timeout=10) as client:
        yield client
    pdqm_served[1].audit.flush()


def load(client: httpx.Client, path: pathlib.Path, **changes: Any) -> dict[str, Any]:
    """Register an example Patient: its ``id``, ``meta`` and narrative are the IG's."""
    resource = json.loads(path.read_text(encoding="utf-8"))
    for key in ("id", "meta", "text"):
        resource.pop(key, None)
    response = client.post("/Patient", json=resource | changes)
    assert response.status_code == 201, response.text
    return dict(response.json())


def requests_of(name: str) -> list[tuple[str, dict[str, str]]]:
    """The ``GET`` requests of a published ``.http`` file: path with query, and headers."""
    found: list[tuple[str, dict[str, str]]] = []
    for line in (PDQM / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("GET "):
            url = line.split(" ")[1].replace("[base]", "")
            parts = urlsplit(url)
            found.append((parts.path.removeprefix("/fhir") + "?" + parts.query, {}))
        elif ": " in line and found:
            key, value = line.split(": ", 1)
            found[-1][1][key] = value
    return found


def identifiers(resource: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["system"], i["value"]) for i in resource.get("identifier", [])}


def test_family_schmidt_answers_as_the_published_response(pdqm: httpx.Client) -> None:
    load(pdqm, PDQM / "fixtures" / "Patient-ex-patient.json")
    load(pdqm, PDQM / "fixtures" / "Patient-ex-patient-mothers-maiden-name.json")
    published = json.loads((PDQM / "pdqm_search_response_01_family_schmidt.json").read_text())
    (self_link,) = [link["url"] for link in published["link"] if link["relation"] == "self"]

    response = pdqm.get("/Patient?" + urlsplit(self_link).query)

    assert response.status_code == 200, response.text
    bundle = response.json()
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset")
    assert bundle["total"] == published["total"] == 1
    assert len(bundle["entry"]) == len(published["entry"])
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert parse_qs(urlsplit(links["self"]).query)["family"] == ["Schmidt"]
    ours, theirs = bundle["entry"][0], published["entry"][0]
    assert ours["fullUrl"].endswith(f"/Patient/{ours['resource']['id']}")
    assert ours["search"] == {"mode": "match"}
    assert identifiers(theirs["resource"]) <= identifiers(ours["resource"])
    for key in ("birthDate", "address", "active"):
        assert ours["resource"].get(key) == theirs["resource"].get(key, True), key
    official = [n["text"] for n in theirs["resource"]["name"] if n.get("use") == "official"]
    assert [n["text"] for n in ours["resource"]["name"]] == official


def test_the_mothers_maiden_name_example_is_found_by_its_extension(pdqm: httpx.Client) -> None:
    """``Patient-ex-patient-mothers-maiden-name`` carries the patient-mothersMaidenName
    extension "Doe"; PDQm's ``mothersMaidenName`` (RULES.md 27) finds it, and it alone."""
    fixture = PDQM / "fixtures" / "Patient-ex-patient-mothers-maiden-name.json"
    (published,) = json.loads(fixture.read_text(encoding="utf-8"))["extension"]
    load(pdqm, PDQM / "fixtures" / "Patient-ex-patient.json")
    created = load(pdqm, fixture)

    searches = [
        {"mothersMaidenName": "Doe"},
        {"mothersMaidenName:exact": "doe", "family": "Schmit"},
        {"mothersMaidenName": "do", "birthdate": "1932-07-25"},
    ]
    for params in searches:
        bundle = pdqm.get("/Patient", params=params).json()
        assert bundle["total"] == 1, params
        (entry,) = bundle["entry"]
        assert entry["resource"]["id"] == created["id"]
        assert published in entry["resource"]["extension"]
    assert pdqm.get("/Patient", params={"mothersMaidenName": "Roe"}).json()["total"] == 0


def test_mohr_alice_request_finds_the_active_woman(pdqm: httpx.Client) -> None:
    alice = load(pdqm, PIXM / "fixtures" / "Patient-Patient-MohrAlice.json")
    load(
        pdqm, PIXM / "fixtures" / "Patient-Patient-MohrAlice-Red.json", gender="male",
        identifier=[{"system": RED, "value": "IHERED-777"}],
        name=[{"family": "MOHR", "given": ["ALAN"]}],
    )  # fmt: skip
    ((path, headers),) = requests_of("pdqm_search_request_01_mohr_alice.http")

    response = pdqm.get(path, headers=headers)

    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["total"] == 1 and [e["resource"]["id"] for e in bundle["entry"]] == [alice["id"]]
    woman = bundle["entry"][0]["resource"]
    assert (woman["gender"], woman["active"]) == ("female", True)
    assert {(RED, "IHERED-994"), (GREEN, "IHEGREEN-994"), (BLUE, "IHEBLUE-994")} <= identifiers(
        woman
    )
    applied = parse_qs(urlsplit(bundle["link"][0]["url"]).query)
    expected = {"family": ["MOHR"], "given": ["ALICE"], "active": ["true"], "gender": ["female"]}
    assert {k: v for k, v in applied.items() if k != "_count"} == expected


def test_domain_filters_restrict_patients_and_identifiers_or_are_404(pdqm: httpx.Client) -> None:
    """The IG's two domain examples: Case 2 (known domains) and Case 4 (unknown domain)."""
    people = [
        ("JOHN", [("urn:oid:1.2.3", "A-1"), (HIS_SYSTEM, "H-1")]),
        ("JANE", [("urn:oid:4.5.6", "B-1")]),
        ("JIM", [(HIS_SYSTEM, "H-2")]),
    ]
    ids = {}
    for given, their_ids in people:
        resource = {
            "resourceType": "Patient",
            "name": [{"family": "SMITH", "given": [given]}],
            "identifier": [{"system": s, "value": v} for s, v in their_ids],
        }
        response = pdqm.post("/Patient", json=resource)
        assert response.status_code == 201, response.text
        ids[given] = response.json()["id"]
    (known, _), (unknown, _) = requests_of("pdqm_search_request_02_domain_filters.http")

    case_2 = pdqm.get(known)
    case_4 = pdqm.get(unknown)

    assert case_2.status_code == 200, case_2.text
    entries = {e["resource"]["id"]: identifiers(e["resource"]) for e in case_2.json()["entry"]}
    assert case_2.json()["total"] == 2
    assert entries == {
        ids["JOHN"]: {("urn:oid:1.2.3", "A-1")},
        ids["JANE"]: {("urn:oid:4.5.6", "B-1")},
    }
    assert case_4.status_code == 404, case_4.text
    (issue,) = case_4.json()["issue"]
    assert (issue["severity"], issue["code"]) == ("warning", "not-found")
    assert "targetSystem not found" in issue["diagnostics"]
    assert "urn:oid:1.2.3.4.5" in issue["diagnostics"]


def test_no_match_is_an_empty_searchset_and_an_unknown_format_406(pdqm: httpx.Client) -> None:
    """Case 3: 200, total 0, no entry.  Case 5: a format the server cannot produce, 406."""
    load(pdqm, PDQM / "fixtures" / "Patient-ex-patient.json")

    none = pdqm.get("/Patient", params={"family": "Nobody"})
    turtle = pdqm.get("/Patient", params={"family": "Schmidt", "_format": "text/turtle"})

    assert none.status_code == 200 and none.json()["total"] == 0 and "entry" not in none.json()
    assert turtle.status_code == 406
    assert turtle.json()["issue"][0]["code"] == "not-supported"
