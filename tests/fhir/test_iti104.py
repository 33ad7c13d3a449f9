"""PIXm ITI-104 Patient Identity Feed FHIR over real HTTP (RULES.md 26).

The four published feed requests of the PIXm IG (``conformance/pixm/iti104_feed_*.http``) are
replayed as they are, against a server that knows the IG's Red/Green/Blue domains; every
effect is checked through ITI-83 ``$ihe-pix``, as a PIX consumer would see it.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.fhir.app import create_app
from ehcmpi.settings import DomainSettings, Settings
from tests.fhir.conftest import LiveServer
from tests.fhir.support import (
    EHC_ID_SYSTEM,
    FHIR_JSON,
    ID_CARD_SYSTEM,
    MPI_ID_SYSTEM,
    ZHANG_WEI_ID,
    diagnostics,
    id_card,
)
from tests.hl7v2.conftest import RunningServer, fields

PIXM = pathlib.Path(__file__).resolve().parents[3] / "shared" / "conformance" / "pixm"
RED = "urn:oid:1.3.6.1.4.1.21367.13.20.1000"
GREEN = "urn:oid:1.3.6.1.4.1.21367.13.20.2000"
BLUE = "urn:oid:1.3.6.1.4.1.21367.13.20.3000"
#: The IHE Connectathon assigning authorities of the PIXm examples (Red, Green, Blue).
IHE_DOMAINS = (
    DomainSettings(namespace="IHERED", oid="1.3.6.1.4.1.21367.13.20.1000"),
    DomainSettings(namespace="IHEGREEN", oid="1.3.6.1.4.1.21367.13.20.2000"),
    DomainSettings(namespace="IHEBLUE", oid="1.3.6.1.4.1.21367.13.20.3000"),
)
PIX = "/Patient/$ihe-pix"


@pytest.fixture(scope="module")
def ihe_served(
    server_settings: Settings, migrated_engine: Engine
) -> Iterator[tuple[str, Container]]:
    domains = (*server_settings.identifier_domains, *IHE_DOMAINS)
    wired = build(server_settings.model_copy(update={"identifier_domains": domains}),
                  engine=migrated_engine)  # fmt: skip
    with LiveServer(create_app(wired)) as server:
        yield server.base_url, wired


@pytest.fixture
def ihe(ihe_served: tuple[str, Container], engine: Engine) -> Iterator[httpx.Client]:
    """A client of the server with the IHE domains, on a database emptied before the test."""
    with httpx.Client(base_url=ihe_served[0], timeout=10) as client:
        yield client
    ihe_served[1].audit.flush()


@pytest.fixture
def ihe_fhir(ihe_served: tuple[str, Container], ihe: httpx.Client) -> SyncFHIRClient:
    return SyncFHIRClient(ihe_served[0])


# --- helpers -------------------------------------------------------------------------------


def replay(client: httpx.Client, name: str) -> httpx.Response:
    """Send a published ``.http`` request as written (method, path and query, headers, body)."""
    text = (PIXM / name).read_text(encoding="utf-8")
    head, _, body = text.partition("\n\n")
    request_line, *header_lines = head.splitlines()
    method, url, _ = request_line.split(" ")
    parts = urlsplit(url)
    path = parts.path.removeprefix("/fhir") + (f"?{parts.query}" if parts.query else "")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return client.request(method, path, headers=headers, content=body.strip().encode() or None)


def fixture(name: str) -> dict[str, Any]:
    """A PIXm example Patient as a feed body: its ``id`` is the IG server's, not ours."""
    resource = json.loads((PIXM / "fixtures" / f"Patient-Patient-{name}.json").read_text())
    for key in ("id", "meta", "text"):
        resource.pop(key, None)
    return dict(resource)


def feed(client: httpx.Client, system: str, value: str, body: dict[str, Any]) -> httpx.Response:
    return client.put("/Patient", params={"identifier": f"{system}|{value}"}, json=body)


def pix(client: httpx.Client, system: str, value: str) -> httpx.Response:
    return client.get(PIX, params={"sourceIdentifier": f"{system}|{value}"})


def cross_refs(client: httpx.Client, system: str, value: str) -> set[tuple[str, str]]:
    response = pix(client, system, value)
    assert response.status_code == 200, response.text
    return {
        (p["valueIdentifier"]["system"], p["valueIdentifier"]["value"])
        for p in response.json()["parameter"]
        if p["name"] == "targetIdentifier"
    }


def target_id(client: httpx.Client, system: str, value: str) -> str:
    """The master-index ID that ITI-83 answers for an identifier (its one ``targetId``)."""
    response = pix(client, system, value)
    assert response.status_code == 200, response.text
    (target,) = [p["valueReference"]["reference"] for p in response.json()["parameter"]
                 if p["name"] == "targetId"]  # fmt: skip
    return str(target).removeprefix("Patient/")


def hospital_refs(client: httpx.Client, system: str, value: str) -> set[tuple[str, str]]:
    return {(s, v) for s, v in cross_refs(client, system, value) if s in (RED, GREEN, BLUE)}


def seed_alice(client: httpx.Client) -> str:
    """IHERED-994 fed by the IG's Add Patient example, Blue and Green from the IG fixtures."""
    assert replay(client, "iti104_feed_01_add_alissa.http").status_code == 201
    assert replay(client, "iti104_feed_02_revise_alice.http").status_code == 200
    for value, domain, name in (("IHEBLUE-994", BLUE, "MohrAlice-Blue"),
                                ("IHEGREEN-994", GREEN, "MohrAlice-Green")):  # fmt: skip
        assert feed(client, domain, value, fixture(name)).status_code == 201
    return target_id(client, RED, "IHERED-994")


# --- the published examples ----------------------------------------------------------------


def test_add_patient_example_creates_the_source_record(ihe: httpx.Client) -> None:
    response = replay(ihe, "iti104_feed_01_add_alissa.http")

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    patient = response.json()
    assert patient["resourceType"] == "Patient"
    assert {"system": RED, "value": "IHERED-994", "use": "usual"} in patient["identifier"]
    assert patient["name"][0]["text"] == "MOHR ALISSA"
    assert response.headers["location"].endswith(f"/Patient/{patient['id']}/_history/1")
    assert response.headers["etag"] == 'W/"1"'
    # ITI-83 now knows the identifier: the patient, never the queried id itself.
    assert (MPI_ID_SYSTEM, patient["id"]) in cross_refs(ihe, RED, "IHERED-994")
    assert (RED, "IHERED-994") not in cross_refs(ihe, RED, "IHERED-994")


def test_revise_patient_example_updates_the_same_record(ihe: httpx.Client) -> None:
    added = replay(ihe, "iti104_feed_01_add_alissa.http").json()

    response = replay(ihe, "iti104_feed_02_revise_alice.http")

    assert response.status_code == 200, response.text
    revised = response.json()
    assert revised["id"] == added["id"]
    assert revised["name"][0]["text"] == "MOHR ALICE"
    assert int(revised["meta"]["versionId"]) > int(added["meta"]["versionId"])
    assert ihe.get(f"/Patient/{added['id']}").json()["name"][0]["text"] == "MOHR ALICE"
    # The same request again is still an update, and still one patient.
    again = replay(ihe, "iti104_feed_02_revise_alice.http")
    assert again.status_code == 200 and again.json()["id"] == added["id"]


def test_the_three_domains_are_cross_referenced_as_pixm_examples_show(ihe: httpx.Client) -> None:
    """The IG's ITI-83 example: Red IHERED-994 → Blue and Green (pixm_response_01)."""
    patient_id = seed_alice(ihe)

    assert hospital_refs(ihe, RED, "IHERED-994") == {(BLUE, "IHEBLUE-994"),
                                                    (GREEN, "IHEGREEN-994")}  # fmt: skip
    assert (MPI_ID_SYSTEM, patient_id) in cross_refs(ihe, BLUE, "IHEBLUE-994")


def test_resolve_duplicate_example_merges_the_subsumed_id(ihe: httpx.Client) -> None:
    patient_id = seed_alice(ihe)
    maiden = feed(ihe, RED, "IHERED-m94", fixture("MaidenAlice-Red"))
    assert maiden.status_code == 201, maiden.text
    assert (RED, "IHERED-994") in hospital_refs(ihe, RED, "IHERED-m94")

    response = replay(ihe, "iti104_feed_03_merge_replaced_by.http")

    assert response.status_code == 200, response.text
    survivor = response.json()
    assert survivor["id"] == patient_id and survivor["active"] is True
    values = {i["value"] for i in survivor["identifier"]}
    assert "IHERED-994" in values and "IHERED-m94" not in values
    # The subsumed id is never returned again; the survivor keeps its cross-references.
    gone = pix(ihe, RED, "IHERED-m94")
    assert gone.status_code == 404
    assert "Patient Identifier not found" in diagnostics(gone.json())
    assert hospital_refs(ihe, RED, "IHERED-994") == {(BLUE, "IHEBLUE-994"),
                                                    (GREEN, "IHEGREEN-994")}  # fmt: skip
    assert (RED, "IHERED-m94") not in cross_refs(ihe, BLUE, "IHEBLUE-994")
    # Replaying the merge is harmless: the same survivor, nothing else changes.
    again = replay(ihe, "iti104_feed_03_merge_replaced_by.http")
    assert again.status_code == 200 and again.json()["id"] == patient_id


def test_resolve_duplicate_merges_two_golden_records(ihe: httpx.Client) -> None:
    """Two records the matcher kept apart: the subsumed one's golden record is merged away
    and reads with a replaced-by link to the survivor (FHIR Patient dup-records)."""
    wang = {"name": [{"text": "王芳"}], "gender": "female", "birthDate": "1970-01-01"}
    li = {"name": [{"text": "李强"}], "gender": "male", "birthDate": "1990-05-05"}
    kept = feed(ihe, RED, "R-1", {"resourceType": "Patient"} | wang).json()
    old = feed(ihe, RED, "R-2", {"resourceType": "Patient"} | li).json()
    assert kept["id"] != old["id"]
    link = {"type": "replaced-by", "other": {"reference": f"Patient/{kept['id']}"}}
    body = {"resourceType": "Patient", "active": False, "link": [link]}

    response = feed(ihe, RED, "R-2", body)

    assert response.status_code == 200, response.text
    assert response.json()["id"] == kept["id"]
    assert pix(ihe, RED, "R-2").status_code == 404
    retired = ihe.get(f"/Patient/{old['id']}").json()
    assert retired["active"] is False
    assert retired["link"] == [{"other": {"reference": f"Patient/{kept['id']}"},
                                "type": "replaced-by"}]  # fmt: skip


def test_remove_patient_example_deletes_the_identifier(ihe: httpx.Client) -> None:
    patient_id = seed_alice(ihe)

    response = replay(ihe, "iti104_feed_04_remove.http")

    assert response.status_code == 200, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["severity"] == "information"
    # ITI-83 never returns the removed identifier again, from any side.
    assert pix(ihe, RED, "IHERED-994").status_code == 404
    assert hospital_refs(ihe, BLUE, "IHEBLUE-994") == {(GREEN, "IHEGREEN-994")}
    # The golden record stays, with a new version that no longer holds it.
    patient = ihe.get(f"/Patient/{patient_id}").json()
    assert "IHERED-994" not in {i["value"] for i in patient["identifier"]}
    history = ihe.get(f"/Patient/{patient_id}/_history").json()
    assert history["entry"][0]["resource"]["meta"]["versionId"] == patient["meta"]["versionId"]
    # Removing it again deletes nothing and says so.
    again = replay(ihe, "iti104_feed_04_remove.http")
    assert again.status_code == 200
    assert again.json()["issue"][0]["code"] == "not-found"


def test_a_removed_identifier_fed_again_is_a_new_source_record(ihe: httpx.Client) -> None:
    replay(ihe, "iti104_feed_01_add_alissa.http")
    replay(ihe, "iti104_feed_04_remove.http")

    assert replay(ihe, "iti104_feed_01_add_alissa.http").status_code == 201
    assert pix(ihe, RED, "IHERED-994").status_code == 200


def test_a_feed_with_a_resident_id_card_links_by_the_document(ihe: httpx.Client) -> None:
    """Documents in the body are the source's corroborating data: the card identifies the
    person, so a second hospital's record with the same card joins the same patient."""
    zhang = {"resourceType": "Patient", "name": [{"text": "张伟"}], "gender": "male"}
    first = feed(ihe, RED, "R-5", zhang | {"identifier": [id_card(ZHANG_WEI_ID)]})
    second = feed(ihe, BLUE, "B-5", zhang | {"identifier": [id_card(ZHANG_WEI_ID)]})

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    refs = cross_refs(ihe, RED, "R-5")
    assert {(ID_CARD_SYSTEM, ZHANG_WEI_ID), (BLUE, "B-5")} <= refs
    assert any(system == EHC_ID_SYSTEM for system, _ in refs)


ALISSA_XML = f"""<Patient xmlns="http://hl7.org/fhir">
  <identifier><system value="{RED}"/><value value="IHERED-994"/></identifier>
  <active value="true"/>
  <name><family value="MOHR"/><given value="ALISSA"/></name>
  <gender value="female"/>
  <birthDate value="1958-01-30"/>
</Patient>"""


def test_the_feed_takes_and_answers_xml(ihe: httpx.Client) -> None:
    """PIXm 2:3.104.4.1.2: the manager supports the JSON and the XML format."""
    xml = "application/fhir+xml"
    response = ihe.put("/Patient", params={"identifier": f"{RED}|IHERED-994"},
                       content=ALISSA_XML.encode(),
                       headers={"Content-Type": xml, "Accept": xml})  # fmt: skip

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith(xml)
    assert "<Patient" in response.text and "IHERED-994" in response.text
    assert (MPI_ID_SYSTEM, target_id(ihe, RED, "IHERED-994")) in cross_refs(ihe, RED, "IHERED-994")
    removed = ihe.delete("/Patient", params={"identifier": f"{RED}|IHERED-994"},
                         headers={"Accept": xml})  # fmt: skip
    assert removed.status_code == 200 and "<OperationOutcome" in removed.text


# --- a third-party client ------------------------------------------------------------------


def test_fhirpy_conditional_update_and_delete(ihe: httpx.Client, ihe_fhir: SyncFHIRClient) -> None:
    patients = ihe_fhir.resources("Patient").search(identifier=f"{RED}|IHERED-994")
    body = fixture("MohrAlissa-Red")

    created, was_created = patients.update(ihe_fhir.resource("Patient", **body))
    revised, again = patients.update(ihe_fhir.resource("Patient", **fixture("MohrAlice-Red")))

    assert was_created is True and again is False
    assert revised["id"] == created["id"]
    _, status = patients.delete()
    assert status == 200
    assert pix(ihe, RED, "IHERED-994").status_code == 404


# --- errors change nothing -----------------------------------------------------------------


def _state(client: httpx.Client) -> tuple[int, set[tuple[str, str]]]:
    """What a consumer sees of IHERED-994: the version of its patient and its cross-refs."""
    patient_id = target_id(client, RED, "IHERED-994")
    version = int(client.get(f"/Patient/{patient_id}").json()["meta"]["versionId"])
    return version, cross_refs(client, RED, "IHERED-994")


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "required"),
        ({"identifier": "IHERED-994"}, 400, "invalid"),
        ({"identifier": "urn:oid:9.9.9|X-1"}, 400, "code-invalid"),
        ({"identifier": f"urn:oid:2.16.156.10011.1.3|{ZHANG_WEI_ID}"}, 400, "code-invalid"),
        ({"identifier": f"{RED}|IHERED-994", "family": "MOHR"}, 400, "not-supported"),
        ({"identifier": f"{RED}|IHERED-994,{BLUE}|IHEBLUE-994"}, 412, "multiple-matches"),
    ],
)
def test_a_bad_condition_is_refused_and_changes_nothing(
    ihe: httpx.Client, params: dict[str, str], status: int, code: str
) -> None:
    seed_alice(ihe)
    before = _state(ihe)
    body = fixture("MohrAlice-Red") | {"name": [{"text": "改名"}]}

    update = ihe.put("/Patient", params=params, json=body)
    delete = ihe.delete("/Patient", params=params)

    for response in (update, delete):
        assert response.status_code == status, response.text
        assert response.json()["issue"][0]["code"] == code
    assert _state(ihe) == before
    assert pix(ihe, RED, "NEW-1").status_code == 404


def test_several_unknown_identifiers_cannot_be_created(ihe: httpx.Client) -> None:
    """Which one would a create make?  412; a delete of them matches nothing: 200 warning."""
    params = {"identifier": f"{RED}|NEW-1,{RED}|NEW-2"}

    update = ihe.put("/Patient", params=params, json=fixture("MohrAlice-Red") | {"identifier": []})
    delete = ihe.delete("/Patient", params=params)

    assert update.status_code == 412
    assert delete.status_code == 200 and delete.json()["issue"][0]["severity"] == "warning"
    assert pix(ihe, RED, "NEW-1").status_code == 404
    assert pix(ihe, RED, "NEW-2").status_code == 404


def _merge_body(**link: Any) -> dict[str, Any]:
    return fixture("MohrMaidenResolvedByMohrMalice-Red") | {
        "link": [{"type": "replaced-by", "other": link}]
    }


@pytest.mark.parametrize(
    ("value", "body", "status"),
    [
        # another hospital's identifier in the body: a source feeds its own domain only
        ("IHERED-994", fixture("MohrAlice-Red") | {"identifier": [{"system": BLUE, "value": "B"}]},
         422),
        ("IHERED-994", fixture("MohrAlice-Red") | {"id": "F" * 64}, 400),  # not the match
        ("IHERED-994", fixture("MohrAlice-Red") | {"active": False}, 422),  # not a removal
        ("IHERED-994", fixture("MohrAlice-Red") | {"link": [{"type": "seealso",
                                                             "other": {"reference": "Patient/x"}}]},
         422),
        ("IHERED-994", fixture("MohrAlice-Red") | {"birthDate": "1958"}, 422),
        ("IHERED-994", {"resourceType": "Observation"}, 400),
        ("IHERED-m94", _merge_body(identifier={"system": BLUE, "value": "IHEBLUE-994"}), 422),
        ("IHERED-m94", _merge_body(identifier={"system": RED, "value": "IHERED-m94"}), 422),
        ("IHERED-m94", _merge_body(reference="Patient/" + "0" * 64), 422),
        ("IHERED-m94", _merge_body(identifier={"system": RED, "value": "IHERED-994"})
         | {"active": True}, 422),
        ("NOBODY", _merge_body(identifier={"system": RED, "value": "NOBODY-ELSE"})
         | {"identifier": [{"system": RED, "value": "NOBODY"}]}, 404),
    ],
)  # fmt: skip
def test_a_bad_feed_is_refused_and_changes_nothing(
    ihe: httpx.Client, value: str, body: dict[str, Any], status: int
) -> None:
    seed_alice(ihe)
    assert feed(ihe, RED, "IHERED-m94", fixture("MaidenAlice-Red")).status_code == 201
    before = _state(ihe), cross_refs(ihe, RED, "IHERED-m94")

    response = feed(ihe, RED, value, body)

    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert (_state(ihe), cross_refs(ihe, RED, "IHERED-m94")) == before
    assert pix(ihe, RED, "NOBODY").status_code == 404


def test_if_match_on_a_conditional_update_is_refused(ihe: httpx.Client) -> None:
    response = ihe.put("/Patient", params={"identifier": f"{RED}|IHERED-994"},
                       json=fixture("MohrAlissa-Red"), headers={"If-Match": 'W/"1"'})  # fmt: skip

    assert response.status_code == 400
    assert pix(ihe, RED, "IHERED-994").status_code == 404


def test_a_cancelled_golden_record_refuses_the_feed(
    ihe: httpx.Client, ihe_served: tuple[str, Container]
) -> None:
    added = replay(ihe, "iti104_feed_01_add_alissa.http").json()
    assert ihe.delete(f"/Patient/{added['id']}").status_code == 200

    response = replay(ihe, "iti104_feed_02_revise_alice.http")

    assert response.status_code == 409
    assert ihe.get(f"/Patient/{added['id']}/_history/1").json()["name"][0]["text"] == "MOHR ALISSA"
    assert len(ihe.get(f"/Patient/{added['id']}/_history").json()["entry"]) == 2


RED_CX = "IHERED&1.3.6.1.4.1.21367.13.20.1000&ISO"


def _a01(value: str, name: str) -> str:
    return (
        "MSH|^~\\&|RED_ADT|RED|EHCMPI|HOSP|20261126100000||ADT^A01^ADT_A01|M1|P|2.3.1\r"
        "EVN|A01|20261126100000\r"
        f"PID|||{value}^^^{RED_CX}^PI||{name}||19580130|F\rPV1||I\r"
    )


def _iti9(value: str) -> str:
    return (
        "MSH|^~\\&|PIX_CLIENT|HOSP|EHCMPI|HOSP|20261126100000||QBP^Q23^QBP_Q21|Q1|P|2.5\r"
        f"QPD|IHE PIX Query|T1|{value}^^^{RED_CX}\rRCP|I\r"
    )


def test_hl7_iti8_and_fhir_iti104_feed_the_same_source_record(
    ihe: httpx.Client, ihe_served: tuple[str, Container]
) -> None:
    """A patient fed by HL7 v2 ITI-8 is revised and removed by ITI-104, and HL7 ITI-9 sees
    it: both adapters run the same PixManager on the same source record."""
    with RunningServer(ihe_served[1]) as mllp:
        assert fields(mllp.send(_a01("R-77", "MOHR^ALISSA")), "MSA")[0][1] == "AA"
        patient_id = target_id(ihe, RED, "R-77")

        revised = feed(ihe, RED, "R-77", fixture("MohrAlice-Red") | {"identifier": []})
        assert revised.status_code == 200, revised.text  # the HL7-fed record, updated
        assert revised.json()["name"][0]["text"] == "MOHR ALICE"
        assert revised.json()["id"] == patient_id
        assert fields(mllp.send(_iti9("R-77")), "QAK")[0][2] == "OK"

        assert ihe.delete("/Patient", params={"identifier": f"{RED}|R-77"}).status_code == 200
        reply = mllp.send(_iti9("R-77"))
        assert fields(reply, "MSA")[0][1] == "AE"
        assert fields(reply, "ERR")[0][3].split("^")[0] == "204"


def test_multiple_matches_is_what_fhirpy_reports(
    ihe: httpx.Client, ihe_fhir: SyncFHIRClient
) -> None:
    seed_alice(ihe)
    both = ihe_fhir.resources("Patient").search(identifier=f"{RED}|IHERED-994,{BLUE}|IHEBLUE-994")

    with pytest.raises(MultipleResourcesFound):
        both.update(ihe_fhir.resource("Patient", **fixture("MohrAlice-Red")))
