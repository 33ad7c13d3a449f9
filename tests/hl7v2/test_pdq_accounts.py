"""ITI-8 feeds with PID-18 (patient account number), then ITI-21 ``@PID.18`` over real MLLP
(IHE ITI TF-2 3.21; RULES.md 18: the supplier supports PID.18; 20: PID-18 is R2 in answers)."""

from __future__ import annotations

from ehcmpi.core.model import SYSTEM_ACTOR, SourceIdentifier
from tests.hl7v2.conftest import RunningServer, fields
from tests.hl7v2.test_pdq import a01, names, query

HIS = "^^^HIS&1.2.156.112604.1.2.1&ISO"
HIS_SYSTEM = "urn:oid:1.2.156.112604.1.2.1"


def _pid(hospital_id: str, name: str, born: str, account: str) -> str:
    return f"PID|||{hospital_id}{HIS}||{name}||{born}|F{'|' * 10}{account}"


def _ok(reply: str) -> list[list[str]]:
    assert fields(reply, "MSA")[0][1] == "AA" and fields(reply, "QAK")[0][2] == "OK", reply
    return fields(reply, "PID")


def _mpi_id(server: RunningServer, hospital_id: str) -> str:
    with server.container.uow() as uow:
        found = uow.patients.find_by_source(SourceIdentifier(HIS_SYSTEM, hospital_id))
    assert found is not None
    return found


def test_a01_with_pid_18_then_a_query_by_account_number(mllp: RunningServer) -> None:
    feed = a01("ZA1", _pid("H0181", "孙^丽", "19880808", "ACC123^^^HIS"))
    assert fields(mllp.send(feed), "MSA")[0][1] == "AA"

    pids = _ok(mllp.send(query("QA1", "@PID.18^ACC123")))

    assert names(mllp.send(query("QA2", "@PID.18.1^ACC123"))) == ["孙^丽"]
    assert len(pids) == 1 and pids[0][5].startswith("孙^丽")
    assert pids[0][18] == f"ACC123{HIS}^AN"


def test_a_second_account_for_the_same_patient_and_its_authority(mllp: RunningServer) -> None:
    for control_id, account in (("ZB1", "ACC123^^^HIS"), ("ZB2", "ACC456^^^HIS")):
        feed = a01(control_id, _pid("H0181", "孙^丽", "19880808", account))
        assert fields(mllp.send(feed), "MSA")[0][1] == "AA"

    by_second = _ok(mllp.send(query("QB1", "@PID.18.1^ACC456~@PID.18.4.1^HIS")))
    by_first = _ok(mllp.send(query("QB2", "@PID.18^ACC123~@PID.5.1^孙")))
    other_authority = mllp.send(query("QB3", "@PID.18.1^ACC456~@PID.18.4.1^XREF2005"))

    assert len(by_second) == 1 and f"H0181{HIS}^PI" in by_second[0][3].split("~")
    assert by_second[0][18] == f"ACC456{HIS}^AN"  # the account the query named
    assert by_first[0][18] == f"ACC123{HIS}^AN"
    assert fields(other_authority, "QAK")[0][2] == "NF" and not fields(other_authority, "PID")


def test_an_unknown_account_is_aa_nf(mllp: RunningServer) -> None:
    feed = a01("ZC1", _pid("H0181", "孙^丽", "19880808", "ACC123^^^HIS"))
    assert fields(mllp.send(feed), "MSA")[0][1] == "AA"

    reply = mllp.send(query("QC1", "@PID.18^ACC999"))

    assert fields(reply, "MSA")[0][1] == "AA" and fields(reply, "QAK")[0][2] == "NF"
    assert fields(reply, "PID") == []


def _merged(mllp: RunningServer) -> tuple[str, str]:
    """Two patients fed with an account number each, the second merged into the first."""
    for control_id, pid in (
        ("ZD1", _pid("H0181", "孙^丽", "19880808", "ACC123^^^HIS")),
        ("ZD2", _pid("H0182", "周^敏", "19700101", "ACC789^^^HIS")),
    ):
        assert fields(mllp.send(a01(control_id, pid)), "MSA")[0][1] == "AA"
    kept, gone = _mpi_id(mllp, "H0181"), _mpi_id(mllp, "H0182")
    assert kept != gone
    mllp.container.merges.merge(kept, gone, SYSTEM_ACTOR)
    return kept, gone


def test_the_account_of_a_record_merged_away_finds_the_survivor(mllp: RunningServer) -> None:
    kept, gone = _merged(mllp)

    by_merged_account = _ok(mllp.send(query("QD1", "@PID.18^ACC789")))
    by_own_account = _ok(mllp.send(query("QD2", "@PID.18^ACC123")))

    for pids in (by_merged_account, by_own_account):
        assert len(pids) == 1 and kept in pids[0][3] and gone not in pids[0][3]
    assert by_own_account[0][18] == f"ACC123{HIS}^AN"
    # The merged record's accounts now answer for the survivor: PID-18 shows the one asked.
    assert by_merged_account[0][18] == f"ACC789{HIS}^AN"


def test_a_split_takes_the_merged_records_accounts_back(mllp: RunningServer) -> None:
    kept, gone = _merged(mllp)
    mllp.container.merges.split(kept, SourceIdentifier(HIS_SYSTEM, "H0182"), SYSTEM_ACTOR)

    back = _ok(mllp.send(query("QE1", "@PID.18^ACC789")))
    kept_only = _ok(mllp.send(query("QE2", "@PID.18^ACC123")))

    assert len(back) == 1 and gone in back[0][3] and back[0][18] == f"ACC789{HIS}^AN"
    assert len(kept_only) == 1 and kept in kept_only[0][3]
