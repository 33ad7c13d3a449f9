"""A social-security card in an ITI-8 feed's PID-3 goes through the reader entry (guideline
§4.4, §5.1.3 over HL7 v2), over real MLLP with the insurance simulator as a real process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import build
from ehcmpi.core.model import SYSTEM_ACTOR
from ehcmpi.external.insurance_sim import DEFAULT_PERSONS
from ehcmpi.settings import DomainSettings, InsuranceSettings, Settings
from tests.hl7v2.conftest import MESA_DOMAINS, RunningServer, fields
from tests.insurance_simulator import Simulator

LI_NA = DEFAULT_PERSONS[0]
SSC = "SSC&1.2.156.112604.9.1&ISO"
HIS = "HIS&1.2.156.112604.1.2.1&ISO"
HIS_SYSTEM = "urn:oid:1.2.156.112604.1.2.1"
EHC_OID = "2.16.156.10011.1.19"


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator() as running:
        yield running


@pytest.fixture
def mllp(settings: Settings, engine: Engine, simulator: Simulator) -> Iterator[RunningServer]:
    """The MLLP server with the card domain SSC and the simulator as insurance system."""
    simulator.mode("ok")
    card_domain = DomainSettings(namespace="SSC", oid="1.2.156.112604.9.1", name="社保卡")
    insurance = InsuranceSettings(url=simulator.url, timeout_seconds=0.5, retries=0,
                                  breaker_failures=5, card_domain="SSC")  # fmt: skip
    configured = settings.model_copy(
        update={"identifier_domains": (*MESA_DOMAINS, card_domain), "insurance": insurance}
    )
    container = build(configured, engine=engine)
    try:
        with RunningServer(container) as server:
            yield server
    finally:
        container.audit.flush()
        container.close()


def a04(control: str, pid3: str, name: str = "李娜^^^^^^L^I") -> str:
    return (
        f"MSH|^~\\&|HIS|某医院|EHCMPI|某医院|20261127100000||ADT^A04^ADT_A01|{control}|P|2.5"
        "||||||UNICODE UTF-8\r"
        "EVN|A04|20261127100000\r"
        f"PID|||{pid3}||{name}||19900715|F|||朝阳路1号^^北京市^^100020||13900139000\r"
        "PV1||O\r"
    )


def pix_query(tag: str, cx: str) -> str:
    return (
        "MSH|^~\\&|PIX_CLIENT|HOSP|EHCMPI|HOSP|20261127100000||QBP^Q23^QBP_Q21|"
        f"Q{tag}|P|2.5\rQPD|IHE PIX Query|{tag}|{cx}|\rRCP|I\r"
    )


def ack(reply: str) -> list[str]:
    return fields(reply, "MSA")[0]


def test_a_card_in_pid_3_registers_its_verified_holder_with_the_his_id(
    mllp: RunningServer,
) -> None:
    reply = mllp.send(a04("C1", f"{LI_NA['cardNumber']}^^^{SSC}~H-2001^^^{HIS}"))
    assert ack(reply)[1:3] == ["AA", "C1"], reply

    found = mllp.send(pix_query("T1", f"H-2001^^^{HIS}"))
    ids = fields(found, "PID")[0][3].split("~")
    assert any(i.startswith(f"{LI_NA['docNumber']}^") for i in ids)  # from the insurance system
    assert any(EHC_OID in i for i in ids)
    assert not any(i.startswith(LI_NA["cardNumber"]) for i in ids)  # a binding, not an id
    patient = mllp.container.query.find(HIS_SYSTEM, "H-2001", SYSTEM_ACTOR)
    assert patient is not None and patient.ehc_id is not None
    _, bound = mllp.container.media.of_patient(patient.mpi_id, SYSTEM_ACTOR)
    assert [(b.kind, b.value, b.verified) for b in bound] == [
        ("social-security-card", LI_NA["cardNumber"], True)
    ]

    again = mllp.send(a04("C2", f"{LI_NA['cardNumber']}^^^{SSC}~H-2001^^^{HIS}"))
    assert ack(again)[1] == "AA"
    with mllp.container.uow() as uow:
        assert uow.patients.count() == 1


def test_an_unknown_card_or_a_down_insurance_system_is_an_error_ack(
    mllp: RunningServer, simulator: Simulator
) -> None:
    unknown = mllp.send(a04("C3", f"K99999999^^^{SSC}~H-2002^^^{HIS}"))
    assert ack(unknown)[1] == "AE"
    err = fields(unknown, "ERR")[0]
    assert err[2] == "PID^1^3^1" and err[3].split("^")[0] == "204"

    simulator.mode("error")
    down = mllp.send(a04("C4", f"H-2003^^^{HIS}~{LI_NA['cardNumber']}^^^{SSC}"))
    assert ack(down)[1] == "AE"
    err = fields(down, "ERR")[0]
    assert err[2] == "PID^1^3^2" and err[3].split("^")[0] == "207"
    assert "不可用" in fields(down, "ERR")[0][8]
    with mllp.container.uow() as uow:
        assert uow.patients.count() == 0


def test_a_bound_card_still_resolves_while_the_insurance_system_is_down(
    mllp: RunningServer, simulator: Simulator
) -> None:
    mllp.send(a04("C5", f"{LI_NA['cardNumber']}^^^{SSC}~H-2004^^^{HIS}"))
    simulator.mode("error")
    reply = mllp.send(a04("C6", f"{LI_NA['cardNumber']}^^^{SSC}~H-2005^^^{HIS}"))
    assert ack(reply)[1] == "AA", reply
    first = mllp.container.query.find(HIS_SYSTEM, "H-2004", SYSTEM_ACTOR)
    second = mllp.container.query.find(HIS_SYSTEM, "H-2005", SYSTEM_ACTOR)
    assert first is not None and second is not None and first.mpi_id == second.mpi_id


def test_queries_are_answered_while_a_feed_waits_on_the_insurance_system(
    mllp: RunningServer, simulator: Simulator
) -> None:
    """Feeds run on worker threads, queries on the event loop: a feed stuck on the insurer
    (here up to its 0.5 s timeout) holds no other connection up."""
    mllp.send(a04("C7", f"{LI_NA['cardNumber']}^^^{SSC}~H-2006^^^{HIS}"))
    simulator.mode("slow", delay=3.0)
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(mllp.send, a04("C8", f"K12345678^^^{SSC}~H-2007^^^{HIS}"))
        time.sleep(0.1)  # the feed is now waiting on the insurer
        began = time.monotonic()
        found = mllp.send(pix_query("T2", f"H-2006^^^{HIS}"))
        answered_in = time.monotonic() - began
        assert not stuck.done()
        assert ack(stuck.result(10))[1] == "AE"  # the insurer timed out
    assert fields(found, "QAK")[0][2] == "OK"
    assert answered_in < 0.3, answered_in


def test_a_feed_without_a_card_is_the_plain_iti_8_feed(mllp: RunningServer) -> None:
    reply = mllp.send(
        a04("C7", f"H-2006^^^{HIS}~{LI_NA['docNumber']}^^^DOC01&2.16.156.10011.1.3&ISO^01")
    )
    assert ack(reply)[1] == "AA"
    patient = mllp.container.query.find(HIS_SYSTEM, "H-2006", SYSTEM_ACTOR)
    assert patient is not None and patient.ehc_id is not None
    _, bound = mllp.container.media.of_patient(patient.mpi_id, SYSTEM_ACTOR)
    assert bound == []
