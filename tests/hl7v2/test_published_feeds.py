"""Every published ITI-8 feed of ../shared/conformance/iti8 answered as INDEX.md says
(RULES.md 11–15), with the assigning authorities those messages use configured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import build
from ehcmpi.core.model import SYSTEM_ACTOR
from ehcmpi.settings import DomainSettings, Settings
from tests.hl7v2.conftest import RunningServer, conformance, fields

IPF_DOMAINS = (
    DomainSettings(namespace="HIMSS2005", oid="1.3.6.1.4.1.21367.2005.1.1"),
    DomainSettings(namespace="XREF2005", oid="1.3.6.1.4.1.21367.2005.1.2"),
    DomainSettings(namespace="IPF1000", oid="1.2.3.4.5.1000"),
    DomainSettings(namespace="domain2", oid="1.2.3.4.5.2000"),
    DomainSettings(namespace="domain1", oid="1.2.3.4.666"),
    DomainSettings(namespace="MPI", oid="2.16.840.1.113883.3.37.4.1.1.2.1.1", source="ICW_MPI"),
    DomainSettings(namespace="KHKN", oid="2.16.840.1.113883.3.37.4.1.1.2.611.1"),
    DomainSettings(namespace="HZLN", oid="2.16.840.1.113883.3.37.4.1.1.2.411.1", source="SAP-ISH"),
    DomainSettings(namespace="CCC", oid="2.16.840.1.113883.3.37.4.1.1.2.711.1"),
)
#: file → MSA-1 expected (INDEX.md; where it allows a strict answer, ours is noted)
EXPECTED = {
    "iti8_a01_ipf_pixfeed_reg_maximal.hl7": "AA",
    "iti8_a08_ipf_pixfeed_rev_maximal.hl7": "AA",
    # EDGE in INDEX: MRG-1.4 differs from PID-3.4; a strict manager rejects (RULES 15)
    "iti8_a40_ipf_pixfeed_merge_maximal.hl7": "AE",
    "iti8_a01_ipf_pixsource_a01.hl7": "AA",
    "iti8_a01_ipf_pixsource_a01_with_birthname.hl7": "AA",
    "iti8_a04_ipf_pixsource_a04.hl7": "AA",
    "iti8_a08_ipf_pixsource_a08.hl7": "AA",
    "iti8_a40_ipf_pixsource_a40.hl7": "AA",
    "iti8_a40_ipf_mllp_a40.hl7": "AA",
    "iti8_a40_ipf_camel_iti8.hl7": "AA",
    # PID-3.4 missing: filled from the configured source SAP-ISH (RULES 13)
    "iti8_a01_ipf_no_assigning_authority.hl7": "AA",
    "iti8_a01_ipf_missing_pid.hl7": "AE",
    "iti8_a01_ipf_template_happy.hl7": "AA",
    "iti8_a01_ipf_template_unknown_segment.hl7": "AE",
}


@pytest.fixture
def ipf(settings: Settings, engine: Engine) -> Iterator[RunningServer]:
    container = build(
        settings.model_copy(update={"identifier_domains": IPF_DOMAINS}), engine=engine
    )
    try:
        with RunningServer(container) as server:
            yield server
    finally:
        container.audit.flush()


def test_every_published_feed_is_answered_as_the_index_says(ipf: RunningServer) -> None:
    for name, expected in EXPECTED.items():
        reply = ipf.send(conformance(f"iti8/{name}"))
        msa = fields(reply, "MSA")[0]
        assert msa[1] == expected, (name, reply)
        if expected != "AA":
            assert fields(reply, "ERR"), name


def test_the_feeds_land_where_the_rules_say(ipf: RunningServer) -> None:
    for name in EXPECTED:
        ipf.send(conformance(f"iti8/{name}"))
    query = ipf.container.query
    # missing CX.4 filled from SAP-ISH's domain (RULES 13)
    eisner = query.find("urn:oid:2.16.840.1.113883.3.37.4.1.1.2.411.1", "72001173A", SYSTEM_ACTOR)
    assert eisner is not None and eisner.demographics.name == "Eisner Christof"
    # A08 updated the demographics of PIX10515W3 (survivorship: the latest source wins)
    w3 = query.find("urn:oid:1.3.6.1.4.1.21367.2005.1.1", "PIX10515W3", SYSTEM_ACTOR)
    assert w3 is not None and w3.demographics.name == "WASHINGTON-UPDATE MARY ROSE"
    # the three ids of one PID-3 are one patient
    w5 = query.find("urn:oid:1.2.3.4.5.2000", "PIX10515W5", SYSTEM_ACTOR)
    assert w5 is not None and w5.mpi_id == w3.mpi_id
    # A40: PDQ113XX03 (never fed here) → the surviving id PDQ113XX35 is known
    assert query.find("urn:oid:1.3.6.1.4.1.21367.2005.1.1", "PDQ113XX35", SYSTEM_ACTOR)
    # A40 with a repeating MRG-1: 7200117359 (BBB = KHKN's OID) into 7200117317
    assert query.find("urn:oid:2.16.840.1.113883.3.37.4.1.1.2.611.1", "7200117359",
                      SYSTEM_ACTOR) is None  # fmt: skip
