"""The HTTP client of the 社保/医保身份识别系统 against the simulator run as a real process
(``ehcmpi simulate insurance``): answers, rejections, timeouts, retries, a dead process."""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Iterator

import pytest

from ehcmpi.core.verifier import VerifierUnavailable
from ehcmpi.external.insurance_sim import DEFAULT_PERSONS
from ehcmpi.external.verifier_http import HttpIdentityVerifier
from tests.cli.support import ehcmpi, one_error_line
from tests.insurance_simulator import Simulator

LI_NA = DEFAULT_PERSONS[0]


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator() as running:
        yield running


@pytest.fixture
def sim(simulator: Simulator) -> Simulator:
    simulator.mode("ok")
    return simulator


def client(sim: Simulator, **options: float) -> HttpIdentityVerifier:
    settings = {"timeout_seconds": 0.5, "retries": 1, "backoff_seconds": 0.05} | options
    return HttpIdentityVerifier(sim.url, **settings)  # type: ignore[arg-type]


def test_a_known_card_and_e_voucher_code_give_the_insured_person(sim: Simulator) -> None:
    verifier = client(sim)
    card = verifier.verify("social-security-card", LI_NA["cardNumber"].lower())
    code = verifier.verify("insurance-qr", LI_NA["qr"])
    assert card.person is not None and code.person is not None
    assert card.person.name == "李娜" and card.person.doc_number == LI_NA["docNumber"]
    assert card.person.medium_id == LI_NA["cardNumber"]
    assert code.person.medium_id == LI_NA["voucherId"]
    assert card.person.insurance_status == "active"
    assert card.person.birth_date is not None and card.person.birth_date.isoformat() == "1990-07-15"


def test_an_unknown_card_is_a_rejection_and_is_asked_once(sim: Simulator) -> None:
    before = sim.calls()
    answer = client(sim, retries=3).verify("social-security-card", "K00000000")
    assert not answer.verified and answer.reason is not None and "未找到参保人" in answer.reason
    assert sim.calls() == before + 1


def test_a_failing_interface_is_retried_then_reported_unavailable(sim: Simulator) -> None:
    sim.mode("error")
    before = sim.calls()
    with pytest.raises(VerifierUnavailable) as raised:
        client(sim, retries=2).verify("social-security-card", LI_NA["cardNumber"])
    assert sim.calls() == before + 3
    assert "HTTP 503" in raised.value.message


def test_a_slow_interface_times_out_within_the_bound(sim: Simulator) -> None:
    sim.mode("slow", delay=3)
    started = time.monotonic()
    with pytest.raises(VerifierUnavailable) as raised:
        client(sim, timeout_seconds=0.3, retries=1).verify("insurance-qr", LI_NA["qr"])
    assert time.monotonic() - started < 1.5  # 2 × 0.3 s + 0.05 s backoff, not 2 × 3 s
    assert "0.3s" in raised.value.message


def test_a_dead_process_is_unavailable_and_a_restarted_one_answers(tmp_path: pathlib.Path) -> None:
    with Simulator() as own:
        verifier = client(own, retries=0)
        own.stop()
        with pytest.raises(VerifierUnavailable):
            verifier.verify("social-security-card", LI_NA["cardNumber"])
        own.restart()
        assert verifier.verify("social-security-card", LI_NA["cardNumber"]).verified


def test_the_simulator_serves_the_persons_of_a_data_file(tmp_path: pathlib.Path) -> None:
    data = tmp_path / "persons.json"
    person = {**LI_NA, "name": "周杰", "cardNumber": "Z20000001"}
    data.write_text(json.dumps([person], ensure_ascii=False), encoding="utf-8")
    with Simulator(data) as own:
        verifier = client(own)
        found = verifier.verify("social-security-card", "Z20000001").person
        assert found is not None and found.name == "周杰"
        assert not verifier.verify("social-security-card", LI_NA["cardNumber"]).verified


def test_a_bad_data_file_is_one_error_line(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "persons.json"
    bad.write_text('{"not": "a list"}', encoding="utf-8")
    line = one_error_line(ehcmpi("simulate", "insurance", "--port", "0", "--data", bad))
    assert "参保人文件" in line
