"""ITI-30 Patient Identity Management (RULES.md 22) and ITI-9's version and structure checks,
over real MLLP."""

from __future__ import annotations

from ehcmpi.core.model import SYSTEM_ACTOR
from tests.hl7v2.conftest import RunningServer, conformance, fields

HIMSS = "HIMSS2005&1.3.6.1.4.1.21367.2005.1.1&ISO"
HIS = "urn:oid:1.3.6.1.4.1.21367.2005.1.1"


def adt(event: str, structure: str, control: str, *segments: str) -> str:
    return (
        f"MSH|^~\\&|MESA_ADT|XYZ|EHCMPI|XYZ|20261126||ADT^{event}^{structure}|{control}|P|2.5\r"
        f"EVN||20261126\r" + "".join(s + "\r" for s in segments)
    )


def pid(identifier: str, name: str, born: str = "19600101", sex: str = "F") -> str:
    return f"PID|||{identifier}^^^{HIMSS}^PI||{name}||{born}|{sex}"


def msa(reply: str) -> str:
    return fields(reply, "MSA")[0][1]


def mpi_of(mllp: RunningServer, value: str) -> str | None:
    found = mllp.container.query.find(HIS, value, SYSTEM_ACTOR)
    return found.mpi_id if found else None


def test_published_a28_and_a31_are_accepted(mllp: RunningServer) -> None:
    for name in ("derived_mesa/iti30_12102_102_a28_adt_a28.hl7",
                 "derived_mesa/iti30_12102_104_a31_adt_a31.hl7"):  # fmt: skip
        assert msa(mllp.send(conformance(name))) == "AA", name
    found = mllp.container.query.find(HIS, "PAM12102", SYSTEM_ACTOR)
    assert found is not None and found.demographics.name == "JACKSON SARAH"


def test_a47_changes_the_identifier(mllp: RunningServer) -> None:
    assert msa(mllp.send(adt("A28", "ADT_A05", "C1", pid("OLD1", "LEE^ANN"), "PV1||N"))) == "AA"
    before = mpi_of(mllp, "OLD1")
    change = adt("A47", "ADT_A30", "C2", pid("NEW1", "LEE^ANN"), f"MRG|OLD1^^^{HIMSS}")
    assert msa(mllp.send(change)) == "AA"
    assert mpi_of(mllp, "OLD1") is None
    assert mpi_of(mllp, "NEW1") == before


def test_a24_links_and_a37_unlinks(mllp: RunningServer) -> None:
    for control, identifier, name, born in (("L1", "P1", "KIM^SUE", "19700101"),
                                            ("L2", "P2", "PARK^JOE", "19800202")):  # fmt: skip
        message = adt("A28", "ADT_A05", control, pid(identifier, name, born), "PV1||N")
        assert msa(mllp.send(message)) == "AA"
    assert mpi_of(mllp, "P1") != mpi_of(mllp, "P2")
    link = adt("A24", "ADT_A24", "L3", pid("P1", "KIM^SUE"), pid("P2", "PARK^JOE"))
    assert msa(mllp.send(link)) == "AA"
    assert mpi_of(mllp, "P1") == mpi_of(mllp, "P2")
    unlink = adt("A37", "ADT_A37", "L4", pid("P1", "KIM^SUE"), pid("P2", "PARK^JOE"))
    assert msa(mllp.send(unlink)) == "AA"
    assert mpi_of(mllp, "P1") != mpi_of(mllp, "P2")
    unknown = adt("A24", "ADT_A24", "L5", pid("P1", "KIM^SUE"), pid("NOPE", "X^Y"))
    assert msa(mllp.send(unknown)) == "AE"


def test_iti9_refuses_another_version_or_structure(mllp: RunningServer) -> None:
    for name in ("iti9/iti9_qbp_q23_ipf_wrong_version.hl7",
                 "iti9/iti9_qbp_q23_ipf_wrong_structure.hl7"):  # fmt: skip
        reply = mllp.send(conformance(name))
        assert msa(reply) == "AR", name
        assert fields(reply, "ERR"), name
