"""§4.2.2 账户管理 and §4.2.1 注册管理 in the core: the account issued on registration, its
lifecycle under concurrency, the card following its document on merge, temporary cards,
terminal codes and application secrets."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from ehcmpi.bootstrap import Container
from ehcmpi.core.card_types import AccountAction, DeviceStatus
from ehcmpi.core.errors import ConflictError, InvalidInputError, PermissionDeniedError
from ehcmpi.core.model import EhcAccountStatus, EhcCardKind
from ehcmpi.core.terminals import terminal_code
from tests.core.support import ADMIN, CLERK, ZHANG_WEI_ID, citizen_id, his, request

ORG = "12100000400000000A"


def test_registration_issues_a_normal_formal_account(container: Container) -> None:
    patient = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK).patient
    assert patient.ehc_id is not None
    [card] = container.cards.accounts_of(patient.mpi_id)
    assert (card.ehc_id, card.status, card.kind, card.doc_type) == (
        patient.ehc_id,
        EhcAccountStatus.NORMAL,
        EhcCardKind.FORMAL,
        "01",
    )
    [issued] = container.cards.history(card.ehc_id)
    assert (issued.action, issued.to_status, issued.actor) == (
        AccountAction.ISSUE,
        EhcAccountStatus.NORMAL,
        "registration",
    )


def test_two_operators_suspending_at_once_one_wins(container: Container) -> None:
    ehc_id = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    card = ehc_id.patient.ehc_id
    assert card is not None
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def suspend() -> None:
        start.wait()
        try:
            container.cards.suspend(card, "挂失", ADMIN)
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=suspend) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    history = container.cards.history(card)
    assert [e.action for e in history] == [AccountAction.ISSUE, AccountAction.SUSPEND]


def test_the_card_and_its_codes_follow_the_document_on_merge(container: Container) -> None:
    """索引合并: the retired record's card now names the survivor; its codes still work."""
    first = container.registration.register(request("张伟", sources=(his("H-1"),)), CLERK)
    second = container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-2"),)), CLERK
    )
    survivor, retired = first.patient.mpi_id, second.patient.mpi_id
    ehc_id = second.patient.ehc_id
    assert ehc_id is not None and first.patient.ehc_id is None
    container.terminals.register_terminal(
        org_code=ORG, dept_code="0301", name="挂号", type="scanner", location=None, actor=ADMIN
    )
    code = container.qr.generate(mpi_id=retired, dynamic=False, channel="app", actor=CLERK).text

    container.merges.merge(survivor, retired, ADMIN, reason="同一人")
    found = container.qr.verify(
        code, terminal=ORG + "0301", care_step="registration", channel="his", actor=CLERK
    )
    assert (found.ok, found.mpi_id, found.ehc_id) == (True, survivor, ehc_id)
    assert [a.ehc_id for a in container.cards.accounts_of(survivor)] == [ehc_id]


def test_a_temporary_card_for_a_patient_without_documents(container: Container) -> None:
    patient = container.registration.register(request("无名氏", sources=(his("H-9"),)), CLERK)
    mpi_id = patient.patient.mpi_id
    card = container.cards.issue_temporary(mpi_id, None, ADMIN)
    assert (card.kind, card.doc_type, card.mpi_id) == (EhcCardKind.TEMPORARY, "99", mpi_id)
    assert card.ehc_id == container.crypto.ehc_id(mpi_id, "99", str(patient.patient.archive_no))
    with pytest.raises(ConflictError):
        container.cards.issue_temporary(mpi_id, None, ADMIN)
    code = container.qr.generate(mpi_id=mpi_id, channel="app", actor=CLERK)
    assert code.kind is EhcCardKind.TEMPORARY and code.text.split(":")[1] == "2"

    # A formal card holder gets none.
    formal = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    with pytest.raises(ConflictError, match="正式"):
        container.cards.issue_temporary(formal.patient.mpi_id, None, ADMIN)


def test_a_reissue_can_turn_a_temporary_card_formal(container: Container) -> None:
    patient = container.registration.register(request("无名氏", sources=(his("H-9"),)), CLERK)
    card = container.cards.issue_temporary(patient.patient.mpi_id, "急诊", ADMIN)
    container.cards.cancel(card.ehc_id, "证件已补录", ADMIN)
    again = container.cards.reissue(card.ehc_id, "重新启用", ADMIN, kind=EhcCardKind.FORMAL)
    assert (again.status, again.kind) == (EhcAccountStatus.NORMAL, EhcCardKind.FORMAL)
    assert again.issued_at is not None and card.issued_at is not None
    assert again.issued_at >= card.issued_at
    actions = [e.action for e in container.cards.history(card.ehc_id)]
    assert actions == [AccountAction.ISSUE, AccountAction.CANCEL, AccountAction.REISSUE]


def test_terminal_codes_and_application_secrets(container: Container) -> None:
    assert terminal_code("455000001", "0201", "12") == "4550000010201" + "12"
    assert terminal_code(ORG.lower(), "0301") == ORG + "0301"
    for org, dept, serial in ((ORG + "1", "0301", ""), (ORG, "03A1", ""), (ORG, "0301", "12345")):
        with pytest.raises(InvalidInputError):
            terminal_code(org, dept, serial)

    app, secret = container.terminals.register_app("his-kiosk", "自助机系统", ADMIN)
    assert container.terminals.authenticate("his-kiosk", secret) == app
    with pytest.raises(PermissionDeniedError):
        container.terminals.authenticate("his-kiosk", "guess")
    container.terminals.update_app("his-kiosk", actor=ADMIN, status=DeviceStatus.DISABLED)
    with pytest.raises(PermissionDeniedError, match="停用"):
        container.terminals.authenticate("his-kiosk", secret)
    # The secret is not stored: only its keyed digest is.
    with container.uow() as uow:
        stored = uow.terminals.get_app("his-kiosk")
    assert stored is not None and secret.encode() not in stored[1] and len(stored[1]) == 32


def test_history_entries_carry_who_why_and_when(container: Container) -> None:
    born = dt.date(1990, 1, 2)
    patient = container.registration.register(
        request("李娜", ("01", citizen_id("310104", born, 8))), CLERK
    )
    ehc_id = patient.patient.ehc_id
    assert ehc_id is not None
    before = dt.datetime.now(dt.UTC)
    container.cards.suspend(ehc_id, "手机遗失", ADMIN)
    last = container.cards.history(ehc_id)[-1]
    assert (last.actor, last.reason, last.from_status) == (
        ADMIN.name,
        "手机遗失",
        EhcAccountStatus.NORMAL,
    )
    assert before <= last.at <= dt.datetime.now(dt.UTC)
    with pytest.raises(InvalidInputError, match="原因"):
        container.cards.cancel(ehc_id, "  ", ADMIN)
