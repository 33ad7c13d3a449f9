"""ITI-21 Patient Demographics Query over real MLLP (RULES.md 17–21), on the published IHE
MESA 113xx patients and a Chinese HIS patient."""

from __future__ import annotations

import pathlib

import pytest

from tests.hl7v2.conftest import CONFORMANCE, RunningServer, conformance, fields

HIMSS = "HIMSS2005&1.3.6.1.4.1.21367.2005.1.1&ISO"


@pytest.fixture
def seeded(mllp: RunningServer) -> RunningServer:
    for path in sorted(pathlib.Path(CONFORMANCE / "derived_mesa").glob("iti8_seed_113xx_*.hl7")):
        reply = mllp.send(path.read_text(encoding="utf-8"))
        assert fields(reply, "MSA")[0][1] == "AA", path.name
    return mllp


def query(tag: str, params: str, *, domains: str = "", rcp: str = "I", dsc: str = "") -> str:
    message = (
        "MSH|^~\\&|PD_CONSUMER|DEPT|EHCMPI|HOSP|20261126100000||QBP^Q22^QBP_Q21|"
        f"M{tag}|P|2.5\rQPD|IHE PDQ Query|{tag}|{params}|||||{domains}\rRCP|{rcp}\r"
    )
    return message + (f"DSC|{dsc}|I\r" if dsc else "")


def names(reply: str) -> list[str]:
    """Family^given of each PID-5's first repetition."""
    return ["^".join(pid[5].split("~")[0].split("^")[:2]) for pid in fields(reply, "PID")]


def test_mesa_11350_name_and_birth_date_find_exactly_moore_chip(seeded: RunningServer) -> None:
    reply = seeded.send(conformance("derived_mesa/iti21_11350_110_q22_qbp_q22.hl7"))
    assert fields(reply, "MSA")[0][1] == "AA" and fields(reply, "QAK")[0][1:3] == [
        "QRY11350110", "OK"]  # fmt: skip
    pids = fields(reply, "PID")
    assert len(pids) == 1 and names(reply) == ["MOORE^CHIP"]
    assert pids[0][3].startswith(f"PDQ113XX01^^^{HIMSS}")
    assert fields(reply, "MSH")[0][2] == "MESA_PD_SUPPLIER"  # MSH-5 of the query → MSH-3


def test_the_query_is_echoed_and_the_domain_restricts_pid3(seeded: RunningServer) -> None:
    reply = seeded.send(conformance("derived_mesa/iti21_11311_102_q22_qbp_q22.hl7"))
    assert fields(reply, "QPD")[0][3] == "@PID.5.1.1^MOORE~@PID.5.2^CHIP"
    assert names(reply) == ["MOORE^CHIP"]
    assert all("HIMSS2005" in cx for pid in fields(reply, "PID") for cx in pid[3].split("~"))


def test_continuation_one_patient_per_increment_then_cancel(seeded: RunningServer) -> None:
    seen, pointer, counts = [], "", []
    for _ in range(6):
        reply = seeded.send(query("QC1", "@PID.5.1^MOO", rcp="I|1^RD", dsc=pointer))
        assert fields(reply, "MSA")[0][1] == "AA"
        qak = fields(reply, "QAK")[0]
        counts.append(tuple(qak[4:7]))
        seen += names(reply)
        dsc = fields(reply, "DSC")
        if not dsc:
            break
        pointer = dsc[0][1]
    assert sorted(seen) == ["MOODY^WARREN", "MOONEY^STAN", "MOORE^CHIP", "MOORE^RALPH"]
    assert counts == [("4", "1", "3"), ("4", "1", "2"), ("4", "1", "1"), ("4", "1", "0")]
    cancel = seeded.send(conformance("iti21/iti21_qcn_j01_ipf_cancel.hl7"))
    assert fields(cancel, "MSA")[0][1] == "AA" and fields(cancel, "MSH")[0][8] == "ACK^J01^ACK"


def test_no_match_is_nf_and_errors_are_ae(seeded: RunningServer) -> None:
    none = seeded.send(query("QN", "@PID.5.1^NOBODY"))
    assert fields(none, "MSA")[0][1] == "AA" and fields(none, "QAK")[0][2] == "NF"
    assert fields(none, "PID") == []
    bad_domain = seeded.send(query("QB", "@PID.5.1^MOORE", domains="^^^X&9.9.9&ISO~^^^Y&8.8&ISO"))
    assert fields(bad_domain, "MSA")[0][1] == "AE" and fields(bad_domain, "QAK")[0][2] == "AE"
    assert [e[2] for e in fields(bad_domain, "ERR")] == ["QPD^1^8^1", "QPD^1^8^2"]
    id_alone = seeded.send(query("QI", "@PID.3.1^PDQ113XX01"))
    assert fields(id_alone, "MSA")[0][1] == "AE"


def test_by_identifier_and_a_chinese_name_in_pinyin(mllp: RunningServer) -> None:
    feed = (
        "MSH|^~\\&|HIS|H|EHCMPI|H|20261126||ADT^A04^ADT_A01|Z1|P|2.5\rEVN|A04\r"
        "PID|||H0009^^^HIS&1.2.156.112604.1.2.1&ISO||张^伟||19850312|M\rPV1||O\r"
    )
    assert fields(mllp.send(feed), "MSA")[0][1] == "AA"
    by_pinyin = mllp.send(query("QZ", "@PID.5.1^zhang~@PID.7^19850312"))
    assert names(by_pinyin) == ["张^伟"]
    by_id = mllp.send(query("QH", "@PID.3.1^H0009~@PID.3.4.1^HIS"))
    assert names(by_id) == ["张^伟"]


def a01(control_id: str, pid: str) -> str:
    return (
        f"MSH|^~\\&|HIS|H|EHCMPI|H|20261126||ADT^A01^ADT_A01|{control_id}|P|2.5\rEVN|A01\r"
        f"{pid}\rPV1||O\r"
    )


def test_a01_with_pid_6_then_a_query_by_the_mothers_maiden_name(mllp: RunningServer) -> None:
    """PID-6 of an ITI-8 feed is kept; ITI-21 ``@PID.6`` / ``@PID.6.1`` find the patient by
    it, in characters or pinyin, and the answer's PID-6 carries it."""
    his = "^^^HIS&1.2.156.112604.1.2.1&ISO"
    for control_id, pid in [
        ("Z6", f"PID|||H0066{his}||王^芳||19850312|F"),
        ("Z7", f"PID|||H0067{his}||赵^敏|李^秀英^^^^^M^I~Li^Xiuying^^^^^M^P|19900101|F"),
    ]:
        assert fields(mllp.send(a01(control_id, pid)), "MSA")[0][1] == "AA"

    by_characters = mllp.send(query("QM1", "@PID.6^李"))
    by_pinyin = mllp.send(query("QM2", "@PID.6.1^li~@PID.8^F"))
    nobody = mllp.send(query("QM3", "@PID.6^王"))

    for reply in (by_characters, by_pinyin):
        assert fields(reply, "MSA")[0][1] == "AA" and fields(reply, "QAK")[0][2] == "OK"
        assert names(reply) == ["赵^敏"]
        assert fields(reply, "PID")[0][6] == "李^秀英^^^^^M^I"
    assert fields(nobody, "MSA")[0][1] == "AA" and fields(nobody, "QAK")[0][2] == "NF"
    assert fields(nobody, "PID") == []
