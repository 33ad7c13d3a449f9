"""The review queue (§4.1.1 人工审核): records side by side, decisions applied and remembered."""

from __future__ import annotations

import pytest

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import ConflictError, NotFoundError
from ehcmpi.core.links import LinkOrigin, LinkState, TaskStatus
from ehcmpi.core.model import PatientStatus, RegistrationMode
from tests.core.support import ADMIN, CLERK, ZHANG_WEI_BIRTH, ZHANG_WEI_ID, his, lis, request

FEED = RegistrationMode.FEED


def _possible_pair(container: Container) -> tuple[str, str]:
    """张伟 from the HIS with a document, and 张伟 from the LIS with the same birth date only."""
    golden = container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), mode=FEED), CLERK
    ).patient.mpi_id
    newer = container.registration.register(
        request("张伟", sources=(lis("L-2"),), birth_date=ZHANG_WEI_BIRTH, mode=FEED), CLERK
    ).patient.mpi_id
    return golden, newer


def test_a_task_shows_both_records_and_the_explanation(linked: Container) -> None:
    golden, newer = _possible_pair(linked)
    total, items = linked.review.queue(CLERK)
    assert total == 1
    item = linked.review.get(items[0].task.id, CLERK)
    assert item.record.mpi_id == newer and item.candidate.mpi_id == golden
    assert item.record.demographics.name == item.candidate.demographics.name == "张伟"
    assert item.decision is not None
    assert {f.name: f.level for f in item.decision.fields}["birth_date"] == "exact"
    assert item.decision.outcome is LinkState.POSSIBLE_MATCH


def test_deciding_match_merges_the_newer_record_into_the_older(linked: Container) -> None:
    golden, newer = _possible_pair(linked)
    task = linked.review.queue(CLERK)[1][0].task
    kept = linked.review.decide(task.id, LinkState.MATCH, ADMIN)
    assert kept.mpi_id == golden
    assert lis("L-2") in kept.source_ids
    with linked.uow() as uow:
        retired = uow.patients.get(newer)
        assert retired is not None and retired.status is PatientStatus.MERGED
        closed = uow.links.get_task(task.id)
        assert closed is not None and closed.status is TaskStatus.DONE
        assert closed.resolution is LinkState.MATCH and closed.resolved_by == ADMIN.name
    assert linked.review.queue(CLERK)[0] == 0
    with pytest.raises(ConflictError):
        linked.review.decide(task.id, LinkState.NO_MATCH, ADMIN)


def test_deciding_no_match_is_remembered_and_never_overturned(linked: Container) -> None:
    golden, newer = _possible_pair(linked)
    task = linked.review.queue(CLERK)[1][0].task
    linked.review.decide(task.id, LinkState.NO_MATCH, ADMIN, reason="different mothers")
    with linked.uow() as uow:
        assert uow.links.manual_no_match(golden, newer)
        source = uow.links.get_source(lis("L-2"))
        assert source is not None
        assert (source.state, source.origin) == (LinkState.MATCH, LinkOrigin.MANUAL)
    run = linked.jobs.run("auto-merge", ADMIN)
    assert run is not None and (run.merged, run.queued) == (0, 0)
    decisions, _ = linked.review.explain(golden, newer, CLERK)
    assert decisions[0].origin is LinkOrigin.MANUAL and decisions[0].reason == "different mothers"


def test_an_unknown_task_is_not_found(linked: Container) -> None:
    with pytest.raises(NotFoundError):
        linked.review.get("no-such-task", CLERK)
