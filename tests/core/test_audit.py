"""§4.1.1 索引服务调用审计: every call leaves who, what, outcome, duration and target."""

from __future__ import annotations

import pytest

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import InvalidDocumentError, InvalidInputError, NotFoundError
from ehcmpi.core.model import AuditEntry, FuzzyQuery
from ehcmpi.terminology.systems import ID_CARD_SYSTEM
from tests.core.support import CLERK, ZHANG_WEI_ID, request, with_bad_check_digit


def _recent(container: Container, action: str | None = None) -> list[AuditEntry]:
    container.audit.flush()
    with container.uow() as uow:
        return uow.audit.recent(action=action)


def test_calls_are_audited_with_actor_outcome_duration_and_target(
    container: Container,
) -> None:
    container.audit.start()  # the background writer, as in the server
    mpi_id = container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID)), CLERK
    ).patient.mpi_id
    container.query.find(ID_CARD_SYSTEM, ZHANG_WEI_ID, CLERK)
    container.query.search(FuzzyQuery(name="张伟"), CLERK)
    with pytest.raises(InvalidDocumentError):
        container.registration.register(
            request("张伟", ("01", with_bad_check_digit(ZHANG_WEI_ID))), CLERK
        )
    container.audit.stop()

    entries = _recent(container)

    newest_first = [(e.action, e.outcome) for e in entries]
    assert newest_first == [
        ("register", "error:invalid-document"),
        ("search", "success"),
        ("lookup", "success"),
        ("register", "success"),
    ]
    for entry in entries:
        assert entry.actor == CLERK.name and entry.channel == CLERK.channel
        assert entry.duration_ms >= 0
        assert entry.at.tzinfo is not None
    failed, search, lookup, registered = entries
    assert registered.target == mpi_id and registered.detail == "created"
    assert lookup.target == mpi_id and lookup.detail == ID_CARD_SYSTEM
    assert search.detail == "1 results"
    assert failed.target is None
    assert failed.detail is not None and "校验位" in failed.detail
    assert [e.action for e in _recent(container, action="lookup")] == ["lookup"]


def test_maintenance_calls_are_audited_with_their_target(container: Container) -> None:
    mpi_id = container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID)), CLERK
    ).patient.mpi_id
    container.maintenance.cancel(mpi_id, "重复建档", CLERK)
    with pytest.raises(NotFoundError):
        container.maintenance.cancel("0" * 64, "重复建档", CLERK)

    missing, cancelled = _recent(container, action="cancel")

    assert (cancelled.outcome, cancelled.target, cancelled.detail) == (
        "success",
        mpi_id,
        "重复建档",
    )
    assert (missing.outcome, missing.target) == ("error:not-found", "0" * 64)


def test_hostile_input_in_an_audited_call_does_not_block_the_audit_log(
    container: Container,
) -> None:
    """A caller-chosen ID or code ends up in the audit entry; it must not poison later writes."""
    with pytest.raises(NotFoundError):
        container.query.get("X" * 300, CLERK)
    with pytest.raises(InvalidInputError):
        container.registration.register(request("张伟", ("03", "E1234567"), gender="\x00"), CLERK)
    container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)

    entries = _recent(container)

    assert [(e.action, e.outcome) for e in entries] == [
        ("register", "success"),
        ("register", "error:invalid"),
        ("read", "error:not-found"),
    ]
    assert entries[2].target is not None and entries[2].target.startswith("XXXX")
