"""ITI-8 feeds and ITI-9 PIX queries over real MLLP, replaying the published IHE messages
(../shared/conformance; RULES.md 1–15) and Chinese HIS messages."""

from __future__ import annotations

import datetime as dt

from ehcmpi.core.model import SYSTEM_ACTOR
from tests.core.support import citizen_id
from tests.hl7v2.conftest import RunningServer, conformance, fields

HIMSS = "HIMSS2005&1.3.6.1.4.1.21367.2005.1.1&ISO"
XREF = "XREF2005&1.3.6.1.4.1.21367.2005.1.2&ISO"


def pix_query(tag: str, cx: str, domains: str = "") -> str:
    return (
        "MSH|^~\\&|PIX_CLIENT|HOSP|EHCMPI|HOSP|20261126100000||QBP^Q23^QBP_Q21|"
        f"Q{tag}|P|2.5\rQPD|IHE PIX Query|{tag}|{cx}|{domains}\rRCP|I\r"
    )


def msa(reply: str) -> list[str]:
    return fields(reply, "MSA")[0]


def test_published_feeds_are_acknowledged_aa(mllp: RunningServer) -> None:
    for name in (
        "derived_mesa/iti8_seed_113xx_102_moore_domain1.hl7",
        "derived_mesa/iti8_seed_113xx_112_sanders_d1.hl7",
        "derived_mesa/iti8_seed_113xx_140_sanders_d2.hl7",
    ):
        message = conformance(name)
        reply = mllp.send(message)
        control = message.split("\r")[0].split("|")[9]
        assert msa(reply)[1:3] == ["AA", control], (name, reply)
        assert fields(reply, "MSH")[0][8].startswith("ACK^A04")


def test_a_feed_claiming_another_hl7_version_is_rejected_and_changes_nothing(
    mllp: RunningServer,
) -> None:
    lines = conformance("derived_mesa/iti8_seed_113xx_102_moore_domain1.hl7").splitlines()
    msh = lines[0].split("|")
    control, msh[11] = msh[9], "3.0"
    reply = mllp.send("\r".join(["|".join(msh), *lines[1:]]))

    assert msa(reply)[1:3] == ["AR", control]
    assert fields(reply, "ERR")[0][2:4] == ["MSH^1^12", "203^Unsupported version id^HL70357"]
    with mllp.container.uow() as uow:
        assert uow.patients.count() == 0


def test_a_pix_query_finds_the_same_person_in_the_other_domain(mllp: RunningServer) -> None:
    mllp.send(conformance("derived_mesa/iti8_seed_113xx_112_sanders_d1.hl7"))
    mllp.send(conformance("derived_mesa/iti8_seed_113xx_140_sanders_d2.hl7"))
    reply = mllp.send(pix_query("T1", f"PDQ113XX11^^^{HIMSS}", f"^^^{XREF}"))
    assert msa(reply)[1] == "AA"
    assert fields(reply, "QAK")[0][1:3] == ["T1", "OK"]
    assert fields(reply, "QPD")[0][3] == f"PDQ113XX11^^^{HIMSS}"  # echoed unchanged
    pid = fields(reply, "PID")[0]
    assert pid[3] == f"PDQD2113XX11^^^{XREF}^PI"
    assert pid[5] == "~^^^^^^S"


def test_the_queried_id_is_not_returned_and_all_domains_by_default(mllp: RunningServer) -> None:
    mllp.send(conformance("derived_mesa/iti8_seed_113xx_102_moore_domain1.hl7"))
    reply = mllp.send(pix_query("T2", f"PDQ113XX01^^^{HIMSS}"))
    assert fields(reply, "QAK")[0][2] == "OK"
    ids = fields(reply, "PID")[0][3].split("~")
    assert not any(i.startswith("PDQ113XX01^") for i in ids)
    assert any("EHCMPI&" in i for i in ids)  # the master-index id is always published


def test_not_found_in_the_requested_domain_is_nf_without_pid(mllp: RunningServer) -> None:
    mllp.send(conformance("derived_mesa/iti8_seed_113xx_102_moore_domain1.hl7"))
    reply = mllp.send(pix_query("T3", f"PDQ113XX01^^^{HIMSS}", f"^^^{XREF}"))
    assert msa(reply)[1] == "AA" and fields(reply, "QAK")[0][2] == "NF"
    assert fields(reply, "PID") == []


def test_unknown_id_unknown_domain_and_unknown_target_domains(mllp: RunningServer) -> None:
    unknown_id = mllp.send(pix_query("T4", f"NOBODY^^^{HIMSS}"))
    assert msa(unknown_id)[1] == "AE" and fields(unknown_id, "QAK")[0][2] == "AE"
    err = fields(unknown_id, "ERR")[0]
    assert err[2] == "QPD^1^3^1^1" and err[3].split("^")[0] == "204"
    unknown_domain = mllp.send(pix_query("T5", "X1^^^NOWHERE&9.9.9&ISO"))
    err = fields(unknown_domain, "ERR")[0]
    assert err[2] == "QPD^1^3^1^4" and err[3].split("^")[0] == "204"
    mllp.send(conformance("derived_mesa/iti8_seed_113xx_102_moore_domain1.hl7"))
    targets = mllp.send(
        pix_query("T6", f"PDQ113XX01^^^{HIMSS}", f"^^^{XREF}~^^^BAD1&7.7.7&ISO~^^^BAD2&8.8.8&ISO")
    )
    assert msa(targets)[1] == "AE"
    assert [e[2] for e in fields(targets, "ERR")] == ["QPD^1^4^2", "QPD^1^4^3"]
    assert fields(targets, "PID") == []


def test_a40_merges_and_the_old_id_is_gone(mllp: RunningServer) -> None:
    for step in ("102", "104", "106"):
        message = conformance(f"derived_mesa/iti8_10514_{step}_a04_adt_a04.hl7")
        assert msa(mllp.send(message))[1] == "AA", step
    merge = conformance("derived_mesa/iti8_10514_108_a40_adt_a40.hl7")
    assert msa(mllp.send(merge))[1] == "AA"
    gone = mllp.send(pix_query("T7", f"PIX10514W^^^{HIMSS}"))
    assert msa(gone)[1] == "AE" and fields(gone, "ERR")[0][2] == "QPD^1^3^1^1"
    survivor = mllp.send(pix_query("T8", f"PIX10514L^^^{HIMSS}"))
    assert "PIX10514W" not in survivor


def test_a_chinese_his_feed_registers_like_fhir(mllp: RunningServer) -> None:
    number = citizen_id("110105", dt.date(1985, 3, 12), 13)
    message = (
        "MSH|^~\\&|HIS|某医院|EHCMPI|某医院|20261126100000||ADT^A04^ADT_A01|C1|P|2.5||||||"
        "GB 18030-2000\r"
        "EVN|A04|20261126100000\r"
        f"PID|||H0001~{number}^^^&2.16.156.10011.1.3&ISO^01||张^伟~Zhang^Wei^^^^^P||19850312|M"
        "|||北京市朝阳区建国路88号^^北京市^北京市^100020||13800138000\r"
        "PV1||O\r"
    )
    reply = mllp.send(message.encode("gb18030"), encoding="gb18030")
    assert msa(reply)[1:3] == ["AA", "C1"]
    found = mllp.container.query.find("urn:oid:2.16.156.10011.1.3", number, SYSTEM_ACTOR)
    assert found is not None and found.ehc_id is not None
    assert found.demographics.name == "张伟"
    assert any(s.value == "H0001" for s in found.source_ids)


def test_bad_input_gets_an_error_ack_and_changes_nothing(mllp: RunningServer) -> None:
    no_pid = "MSH|^~\\&|HIS|H|EHCMPI|H|20261126||ADT^A04^ADT_A01|B1|P|2.5\rEVN|A04\r"
    reply = mllp.send(no_pid)
    assert msa(reply)[1] in ("AE", "AR") and fields(reply, "ERR")
    bad_date = (
        "MSH|^~\\&|HIS|H|EHCMPI|H|20261126||ADT^A04^ADT_A01|B2|P|2.5\rEVN|A04\r"
        "PID|||H0002||李^娜||19851345|F\r"
    )
    reply = mllp.send(bad_date)
    assert msa(reply)[1] == "AE" and fields(reply, "ERR")[0][2] == "PID^1^7"
    unsupported = "MSH|^~\\&|HIS|H|EHCMPI|H|20261126||ORU^R01^ORU_R01|B3|P|2.5\r"
    reply = mllp.send(unsupported)
    assert msa(reply)[1] == "AR" and fields(reply, "ERR")[0][3].split("^")[0] == "200"
    with mllp.container.uow() as uow:
        assert uow.patients.count() == 0


def test_every_message_is_in_the_call_audit(mllp: RunningServer) -> None:
    mllp.send(conformance("derived_mesa/iti8_seed_113xx_102_moore_domain1.hl7"))
    mllp.send(pix_query("T9", f"NOBODY^^^{HIMSS}"))
    mllp.container.audit.flush()
    with mllp.container.uow() as uow:
        entries = [e for e in uow.audit.recent(50) if e.channel == "mllp"]
    seen = {(e.action, e.target, e.detail) for e in entries}
    assert ("hl7 ADT^A04", "113xx102", "AA") in seen
    assert ("hl7 QBP^Q23", "QT9", "AE 204") in seen
    assert all(e.actor.startswith("hl7:") for e in entries)
