"""Replay the published PIXm ITI-83 examples (IHE PIXm 3.1.0; ../shared/conformance/pixm,
RULES.md 23–25) against ``$ihe-pix`` over real HTTP, in JSON and in XML.

The IG's manager knows one patient, ALICE MOHR, in three domains — Red (…13.20.1000), Green
(…2000) and Blue (…3000).  The fixture ``Patient-MohrAlice`` is that cross-referenced view; it
is fed here through the PIX Manager's identity feed (the service ITI-8 and ITI-104 use), with
the three domains configured as the IG assumes.  The IG's responses reference one Patient per
source (``Patient/Patient-MohrAlice-Blue``…); a master index answers with the one master
record they are linked to, so the replay compares what the IG fixes: status, resource type,
the ``targetIdentifier`` set (never the queried identifier) and a ``targetId`` Reference.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from lxml import etree
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.core.model import Actor, RegistrationMode
from ehcmpi.fhir.app import create_app
from ehcmpi.fhir.patient_resource import registration_request
from ehcmpi.settings import DomainSettings, Settings
from tests.fhir.conftest import LiveServer

PIXM = pathlib.Path(__file__).resolve().parents[3] / "shared" / "conformance" / "pixm"
RED, GREEN, BLUE = (f"urn:oid:1.3.6.1.4.1.21367.13.20.{n}" for n in (1000, 2000, 3000))
#: The assigning authorities of the IG's examples (the Connectathon's Red, Green and Blue).
IG_DOMAINS = (
    DomainSettings(namespace="IHERED", oid="1.3.6.1.4.1.21367.13.20.1000", source="RED"),
    DomainSettings(namespace="IHEGREEN", oid="1.3.6.1.4.1.21367.13.20.2000", source="GREEN"),
    DomainSettings(namespace="IHEBLUE", oid="1.3.6.1.4.1.21367.13.20.3000", source="BLUE"),
)
MPI_ID_SYSTEM = "http://ehcmpi.org/fhir/sid/mpi-id"


def _json(name: str) -> dict[str, Any]:
    return dict(json.loads((PIXM / name).read_text(encoding="utf-8")))


def _get_line(name: str) -> str:
    """The request of an ``.http`` example as a path below ``[base]``."""
    line = (PIXM / name).read_text(encoding="utf-8").splitlines()[0]
    method, target = line.split()[:2]
    assert method == "GET"
    return target.removeprefix("[base]")


@pytest.fixture
def pixm(settings: Settings, engine: Engine) -> Iterator[tuple[httpx.Client, Container]]:
    """A server whose manager knows the IG's domains, with ``Patient-MohrAlice`` fed."""
    wired = build(settings.model_copy(update={"identifier_domains": IG_DOMAINS}), engine=engine)
    fixture = _json("fixtures/Patient-Patient-MohrAlice.json")
    feed = registration_request(fixture, wired.domains, RegistrationMode.FEED)
    wired.pix.feed(feed, Actor("test:pixm-feed", channel="fhir"))
    try:
        with (
            LiveServer(create_app(wired)) as server,
            httpx.Client(base_url=server.base_url, timeout=10) as client,
        ):
            yield client, wired
    finally:
        wired.audit.flush()


def _identifiers(parameters: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (p["valueIdentifier"]["system"], p["valueIdentifier"]["value"])
        for p in parameters["parameter"]
        if p["name"] == "targetIdentifier"
    }


def _targets(parameters: dict[str, Any]) -> list[str]:
    return [p["valueReference"]["reference"] for p in parameters["parameter"]
            if p["name"] == "targetId"]  # fmt: skip


def _business(identifiers: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Our own master-index ID is published too (RULES 24 allows any business identifier)."""
    return {i for i in identifiers if i[0] != MPI_ID_SYSTEM}


def test_request_01_red_all_returns_blue_and_green_not_red(
    pixm: tuple[httpx.Client, Container],
) -> None:
    client, _ = pixm
    expected = _json("pixm_response_01_red_all.json")

    response = client.get(_get_line("pixm_request_01_red_all.http"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    answer = response.json()
    assert answer["resourceType"] == expected["resourceType"] == "Parameters"
    assert _business(_identifiers(answer)) == _identifiers(expected)  # Blue + Green
    assert (RED, "IHERED-994") not in _identifiers(answer)  # never the queried identifier
    (target,) = _targets(answer)
    assert target.startswith("Patient/")
    assert client.get(f"/{target}").status_code == 200  # the reference resolves
    Parameters.model_validate(answer)


def test_request_02_red_to_blue_returns_blue_only(pixm: tuple[httpx.Client, Container]) -> None:
    client, _ = pixm
    expected = _json("pixm_response_02_red_to_blue.json")

    response = client.get(_get_line("pixm_request_02_red_to_blue.http"))

    assert response.status_code == 200
    answer = response.json()
    assert _identifiers(answer) == _identifiers(expected) == {(BLUE, "IHEBLUE-994")}
    assert len(_targets(answer)) == 1


def test_the_request_parameters_examples_as_a_query(pixm: tuple[httpx.Client, Container]) -> None:
    """The IG's ``Parameters`` (in) examples, sent as the GET they stand for.  Example 02 asks
    for Blue and Green and for XML (RULES divergences: its paired response shows Blue only)."""
    client, _ = pixm
    for name, expected in (
        ("pixm_request_01_red_all.json", {(BLUE, "IHEBLUE-994"), (GREEN, "IHEGREEN-994")}),
        ("pixm_request_02_red_to_blue.json", {(BLUE, "IHEBLUE-994"), (GREEN, "IHEGREEN-994")}),
    ):
        query = [(p["name"], p["valueString"]) for p in _json(name)["parameter"]]
        response = client.get("/Patient/$ihe-pix", params=query)
        assert response.status_code == 200, response.text
        wants_xml = ("_format", "application/fhir+xml") in query
        if wants_xml:
            assert response.headers["content-type"].startswith("application/fhir+xml")
            answer = Parameters.model_validate_xml(response.content).model_dump(mode="json")
        else:
            answer = response.json()
        assert _business(_identifiers(answer)) == expected, name


def test_the_xml_response_examples_match_ours(pixm: tuple[httpx.Client, Container]) -> None:
    client, _ = pixm
    for request, published in (
        ("pixm_request_01_red_all.http", "xml/pixm-response-mohralice-red-all.xml"),
        ("pixm_request_02_red_to_blue.http", "xml/pixm-response-mohralice-red-to-blue.xml"),
    ):
        response = client.get(_get_line(request), headers={"Accept": "application/fhir+xml"})
        assert response.status_code == 200
        ours = Parameters.model_validate_xml(response.content).model_dump(mode="json")
        theirs = Parameters.model_validate_xml((PIXM / published).read_bytes())
        assert _business(_identifiers(ours)) == _identifiers(theirs.model_dump(mode="json"))


def test_response_03_unknown_identifier_is_404_not_found(
    pixm: tuple[httpx.Client, Container],
) -> None:
    client, _ = pixm
    expected = _json("pixm_response_03_error_not_found.json")["issue"][0]

    response = client.get("/Patient/$ihe-pix", params={"sourceIdentifier": f"{RED}|IHERED-xxx"})

    assert response.status_code == 404
    issue = response.json()["issue"][0]
    assert (issue["severity"], issue["code"]) == (expected["severity"], expected["code"])
    assert expected["details"]["text"] in issue["diagnostics"]
    OperationOutcome.model_validate(response.json())


def test_response_03_in_xml_has_the_shape_of_the_published_xml(
    pixm: tuple[httpx.Client, Container],
) -> None:
    client, _ = pixm
    # The IG page's XML snippet omits the FHIR namespace; read it by local names.
    published = etree.fromstring((PIXM / "pixm_response_03_error_not_found.xml").read_bytes())
    wanted = {el.tag: el.get("value") for el in published.find("issue")}

    response = client.get(
        "/Patient/$ihe-pix",
        params={"sourceIdentifier": f"{RED}|IHERED-xxx", "_format": "xml"},
    )

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/fhir+xml")
    ours = etree.fromstring(response.content)
    assert etree.QName(ours).localname == published.tag == "OperationOutcome"
    issue = ours.find("{http://hl7.org/fhir}issue")
    got = {etree.QName(el).localname: el.get("value") for el in issue}
    assert got["severity"] == wanted["severity"] == "error"
    assert got["code"] == wanted["code"] == "not-found"
    assert wanted["diagnostics"] in got["diagnostics"]
    OperationOutcome.model_validate_xml(response.content)


def test_unknown_domain_and_target_system_statuses(pixm: tuple[httpx.Client, Container]) -> None:
    client, _ = pixm
    unknown_domain = client.get("/Patient/$ihe-pix",
                                params={"sourceIdentifier": "urn:oid:1.2.3.999|X"})  # fmt: skip
    unknown_target = client.get(
        "/Patient/$ihe-pix",
        params={"sourceIdentifier": f"{RED}|IHERED-994", "targetSystem": "urn:oid:1.2.3.999"},
    )

    assert unknown_domain.status_code == 400
    assert unknown_domain.json()["issue"][0]["code"] == "code-invalid"
    assert unknown_target.status_code == 403
    assert "targetSystem not found" in unknown_target.json()["issue"][0]["diagnostics"]
