"""§4.2.3 二维码管理: generation and verification (验码) of EHC QR codes, every refusal reason.

A clerk's scanner at the registration desk verifies what a patient shows: the static code
of a printed card, the dynamic code of the app.  Each reason a code can be refused is
provoked for real, on SQLite and PostgreSQL, and every attempt leaves a record.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import multiprocessing
import pathlib
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.core.card_types import DeviceStatus, QrEvent, RecordQuery, SummaryKey
from ehcmpi.core.errors import ConflictError, InvalidInputError, NotFoundError
from ehcmpi.core.qr import QrPolicy, QrService, QrVerification, utcnow
from ehcmpi.core.qr_log import QrRecordLog
from ehcmpi.crypto.keys import rotate_keyfile
from ehcmpi.settings import Settings
from ehcmpi.storage.cards import SqlQrStore
from tests.core.support import ADMIN, CLERK, ZHANG_WEI_ID, citizen_id, request
from tests.support import copy_key_file, with_key_file

ORG = "12100000400000000A"
DESK = ORG + "0301"  # 门诊挂号 (department 0301)
LI_NA_ID = citizen_id("310104", dt.date(1985, 6, 1), 42)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def service(container: Container, clock: Callable[[], dt.datetime], **policy: int) -> QrService:
    """The container's QR service with its own clock and policy."""
    store = SqlQrStore(container.uow.engine, container.uow.read_engine)
    return QrService(
        container.uow,
        store,
        container.crypto,
        QrRecordLog(container.uow),
        container.terminals,
        QrPolicy(**policy),
        clock=clock,
    )


@pytest.fixture
def patient(container: Container) -> tuple[str, str]:
    """张伟, registered with an ID card: (mpi_id, EHC ID); the registration desk's scanner."""
    registered = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    container.terminals.register_terminal(
        org_code=ORG, dept_code="0301", name="挂号窗口1", type="scanner", location="门诊一楼",
        actor=ADMIN,
    )  # fmt: skip
    assert registered.patient.ehc_id is not None
    return registered.patient.mpi_id, registered.patient.ehc_id


@pytest.fixture
def clock() -> Clock:
    return Clock()


def verify(qr: QrService, text: str, terminal: str = DESK) -> QrVerification:
    return qr.verify(text, terminal=terminal, care_step="registration", channel="his", actor=CLERK)


def generate(qr: QrService, mpi_id: str, *, dynamic: bool = True) -> str:
    return qr.generate(mpi_id=mpi_id, dynamic=dynamic, channel="app", actor=CLERK).text


def test_a_static_code_names_the_card_and_verifies_to_the_patient(
    container: Container, patient: tuple[str, str]
) -> None:
    mpi_id, ehc_id = patient
    code = container.qr.generate(mpi_id=mpi_id, dynamic=False, channel="app", actor=CLERK)
    assert code.text == f"{ehc_id}:1" and code.expires_at is None

    result = verify(container.qr, code.text)
    assert result == QrVerification(True, None, "验证通过 (verified)", mpi_id, ehc_id)
    # Static codes do not wear out.
    assert all(verify(container.qr, code.text).ok for _ in range(5))


def test_a_dynamic_code_is_sealed_and_wears_out_after_the_maximum(
    container: Container, patient: tuple[str, str], clock: Clock
) -> None:
    mpi_id, ehc_id = patient
    qr = service(container, clock, max_verifications=2)
    code = qr.generate(mpi_id=mpi_id, channel="app", actor=CLERK)
    ehc, kind, seal = code.text.split(":")
    assert (ehc, kind, len(seal)) == (ehc_id, "1", 32) and seal == seal.upper()
    assert code.expires_at == code.generated_at + dt.timedelta(seconds=120)

    assert verify(qr, code.text).ok
    # The same code in lower case is the same code: it shares the count.
    assert verify(qr, code.text.lower()).ok
    third = verify(qr, code.text)
    assert (third.ok, third.reason, third.ehc_id) == (False, "used_up", ehc_id)
    assert "最大验证次数" in third.message and "(QR code used up" in third.message


def test_a_dynamic_code_expires_after_its_lifetime(
    container: Container, patient: tuple[str, str], clock: Clock
) -> None:
    qr = service(container, clock, dynamic_ttl_seconds=60)
    text = generate(qr, patient[0])
    clock.advance(59)
    assert verify(qr, text).ok
    clock.advance(2)
    assert verify(qr, text).reason == "expired"


def test_tampered_codes_are_told_apart_from_malformed_ones(
    container: Container, patient: tuple[str, str], clock: Clock
) -> None:
    qr = service(container, clock)
    text = generate(qr, patient[0])
    other = container.registration.register(request("李娜", ("01", LI_NA_ID)), CLERK).patient
    other_text = generate(qr, other.mpi_id)

    flipped = text[:-1] + ("0" if text[-1] != "0" else "1")
    assert verify(qr, flipped).reason == "tampered"
    # Someone else's seal on this card: the binding to the EHC ID fails.
    borrowed = text.rsplit(":", 1)[0] + ":" + other_text.rsplit(":", 1)[1]
    assert verify(qr, borrowed).reason == "tampered"
    # A formal card presented as a temporary one.
    result = verify(qr, f"{patient[1]}:2")
    assert (result.reason, result.mpi_id) == ("tampered", patient[0])
    assert "卡类型" in result.message
    # A code "made" ten minutes from now (another server's clock far ahead).
    ahead = Clock()
    ahead.advance(600)
    assert verify(qr, generate(service(container, ahead), patient[0])).reason == "tampered"

    for bad in ("hello", f"{patient[1]}", f"{patient[1]}:9", f"{patient[1]}:1:XYZ", "ABC:1", ""):
        result = verify(qr, bad)
        assert (result.ok, result.reason) == (False, "malformed"), bad
        assert result.message.startswith("二维码格式错误")


def test_an_unknown_card_is_unknown(container: Container, patient: tuple[str, str]) -> None:
    result = verify(container.qr, "AB" * 32 + ":1")
    assert (result.ok, result.reason, result.mpi_id) == (False, "unknown", None)


def test_a_suspended_or_cancelled_card_is_refused_and_resumes(
    container: Container, patient: tuple[str, str]
) -> None:
    mpi_id, ehc_id = patient
    text = generate(container.qr, mpi_id, dynamic=False)
    container.cards.suspend(ehc_id, "手机遗失 (phone lost)", ADMIN)
    result = verify(container.qr, text)
    assert (result.reason, result.mpi_id, result.ehc_id) == ("suspended", mpi_id, ehc_id)
    with pytest.raises(ConflictError, match="暂停"):
        container.qr.generate(mpi_id=mpi_id, channel="app", actor=CLERK)

    container.cards.resume(ehc_id, None, ADMIN)
    assert verify(container.qr, text).ok

    container.cards.cancel(ehc_id, "本人申请注销", ADMIN)
    assert verify(container.qr, text).reason == "cancelled"
    with pytest.raises(ConflictError, match="注销"):
        container.qr.generate(mpi_id=mpi_id, channel="app", actor=CLERK)


def test_a_reissue_voids_the_dynamic_codes_made_before_it(
    container: Container, patient: tuple[str, str], clock: Clock
) -> None:
    mpi_id, ehc_id = patient
    qr = service(container, clock)
    clock.advance(-5)
    before = generate(qr, mpi_id)  # five seconds ago
    container.cards.reissue(ehc_id, "补发 (re-issued after loss)", ADMIN)
    clock.now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    result = verify(qr, before)
    assert (result.reason, result.mpi_id) == ("expired", mpi_id)
    assert "补发" in result.message
    assert verify(qr, generate(qr, mpi_id)).ok


def test_unknown_and_disabled_terminals_are_refused(
    container: Container, patient: tuple[str, str]
) -> None:
    text = generate(container.qr, patient[0], dynamic=False)
    assert verify(container.qr, text, terminal=ORG + "9999").reason == "terminal_unknown"
    container.terminals.update_terminal(DESK, status=DeviceStatus.DISABLED, actor=ADMIN)
    refused = verify(container.qr, text)
    assert (refused.reason, refused.mpi_id) == ("terminal_disabled", None)
    assert refused.message == "识读终端已停用 (reader terminal disabled)"
    # The terminal is refused before the code is even read.
    assert verify(container.qr, "garbage").reason == "terminal_disabled"


def test_caller_mistakes_are_errors_not_verdicts(
    container: Container, patient: tuple[str, str]
) -> None:
    with pytest.raises(InvalidInputError, match="诊疗环节"):
        container.qr.verify("x", terminal=DESK, care_step="surgery", channel="his", actor=CLERK)
    with pytest.raises(InvalidInputError, match="渠道"):
        container.qr.verify("x", terminal=DESK, care_step="payment", channel="H S", actor=CLERK)
    with pytest.raises(NotFoundError):
        container.qr.generate(mpi_id="F" * 64, channel="app", actor=CLERK)
    with pytest.raises(NotFoundError):
        container.qr.generate(ehc_id="AB" * 32, channel="app", actor=CLERK)


def test_every_generation_and_verification_is_recorded_and_summarised(
    container: Container, patient: tuple[str, str]
) -> None:
    mpi_id, ehc_id = patient
    text = generate(container.qr, mpi_id)
    verify(container.qr, text)
    verify(container.qr, text, terminal=ORG + "9999")
    container.qr.verify(text, terminal=DESK, care_step="pharmacy", channel="kiosk", actor=CLERK)

    records = container.qr.query(RecordQuery())
    assert [(r.event, r.outcome) for r in records] == [
        (QrEvent.VERIFY, "ok"),
        (QrEvent.VERIFY, "terminal_unknown"),
        (QrEvent.VERIFY, "ok"),
        (QrEvent.GENERATE, "ok"),
    ]
    latest = records[0]
    assert (latest.terminal, latest.care_step, latest.channel, latest.ehc_id) == (
        DESK,
        "pharmacy",
        "kiosk",
        ehc_id,
    )
    assert (latest.mpi_id, latest.dynamic, latest.actor) == (mpi_id, True, CLERK.name)
    failures = container.qr.query(RecordQuery(failures_only=True))
    assert [r.terminal for r in failures] == [ORG + "9999"]

    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    until = since + dt.timedelta(days=2)
    by_terminal = {r.key: r for r in container.qr.summary(since, until, SummaryKey.TERMINAL)}
    assert (by_terminal[DESK].verified, by_terminal[DESK].verified_ok) == (2, 2)
    assert by_terminal[ORG + "9999"].failed == 1 and by_terminal["-"].generated == 1
    by_day = container.qr.summary(since, until, SummaryKey.DAY)
    today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date().isoformat()
    assert [(r.key, r.generated, r.verified, r.failed) for r in by_day] == [(today, 1, 3, 1)]
    outcomes = {r.key: r.verified for r in container.qr.summary(since, until, SummaryKey.OUTCOME)}
    assert outcomes == {"ok": 2, "terminal_unknown": 1}


@pytest.mark.parametrize("max_uses", [1, 3])
def test_the_count_limit_holds_under_concurrency(
    container: Container, patient: tuple[str, str], clock: Clock, max_uses: int
) -> None:
    """Eight scanners verify the same dynamic code at the same instant."""
    qr = service(container, clock, max_verifications=max_uses)
    text = generate(qr, patient[0])
    start = threading.Barrier(8)
    results: list[QrVerification] = []

    def scan() -> None:
        start.wait()
        results.append(verify(qr, text))

    threads = [threading.Thread(target=scan) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.ok for r in results) == max_uses
    assert sorted({r.reason for r in results if not r.ok}) == ["used_up"]


def _scan_from_another_process(settings: Settings, text: str, start: Any) -> bool:
    """A second server process (its own container and connections) scans the code."""
    container = build(settings)
    try:
        qr = service(container, utcnow, max_verifications=1)
        start.wait()
        return verify(qr, text).ok
    finally:
        container.close()


def test_the_count_limit_holds_across_processes(
    container: Container, patient: tuple[str, str], settings: Settings
) -> None:
    """Two server processes verify the same dynamic code (max 1) at once: one is let through."""
    text = generate(container.qr, patient[0])
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Barrier(3)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        scans = [pool.submit(_scan_from_another_process, settings, text, start) for _ in range(2)]
        start.wait()
        outcomes = [scan.result(timeout=120) for scan in scans]
    here = service(container, utcnow, max_verifications=1)
    assert sorted(outcomes) == [False, True]
    assert verify(here, text).reason == "used_up"


def test_a_code_made_just_before_a_protect_key_rotation_still_verifies(
    container: Container,
    patient: tuple[str, str],
    settings: Settings,
    engine: Engine,
    tmp_path: pathlib.Path,
) -> None:
    """Old protect keys are kept so that dynamic codes in patients' apps at the moment of
    ``keys rotate --protect`` still open (``ehcmpi.crypto.keys``)."""
    mpi_id, ehc_id = patient
    before = generate(container.qr, mpi_id)
    rotated_file = copy_key_file(settings.keys.file, tmp_path / "rotated.key")
    rotate_keyfile(rotated_file, data=False, protect=True, signing=False)
    rotated = build(with_key_file(settings, rotated_file), engine=engine)

    after = generate(rotated.qr, mpi_id)

    assert after.split(":")[2] != before.split(":")[2]  # sealed under the new key
    assert verify(rotated.qr, before) == QrVerification(
        True, None, "验证通过 (verified)", mpi_id, ehc_id
    )
    assert verify(rotated.qr, after).ok
    assert not verify(container.qr, after).ok  # the old key set cannot open the new code
