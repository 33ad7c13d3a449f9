"""Review tasks and merge records (§4.1.1 索引合并, 索引拆分) on SQLite and PostgreSQL: one
open task per pair whoever queues it, decided once; a merge kept (encrypted, §6.3) for its split."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.core.links import LinkState, MergeRecord, ReviewTask, TaskStatus
from ehcmpi.core.model import SourceIdentifier
from ehcmpi.storage.tables import merges
from tests.core.support import ZHANG_WEI_ID, his
from tests.storage.conftest import UowMaker
from tests.storage.support import PASSPORT, T0, A, B, C, D, at, raw_dump

# --- review tasks --------------------------------------------------------------------------


def _task(id_: str, mpi_id: str, candidate: str, weight: float, minutes: int = 0) -> ReviewTask:
    return ReviewTask(
        id_, mpi_id, candidate, f"dec-{id_}", weight, TaskStatus.OPEN, at(minutes), his("H-1")
    )


def test_one_open_task_per_pair_in_either_order(uow: UowMaker, engine: Engine) -> None:
    with uow() as u:
        assert u.links.add_task(_task("t1", A, B, 3.0))
        assert not u.links.add_task(_task("t2", B, A, 5.0))
        assert not u.links.add_task(_task("t3", A, B, 5.0))
        assert u.links.add_task(_task("t4", A, C, 9.0))
        assert u.links.add_task(_task("t5", C, D, 1.0, minutes=1))
        u.commit()

    with uow() as u:
        assert u.links.count_open_tasks() == 3
        assert [t.id for t in u.links.open_tasks()] == ["t4", "t1", "t5"]
        assert [t.id for t in u.links.open_tasks(limit=1, offset=1)] == ["t1"]
        assert u.links.get_task("t1") == _task("t1", A, B, 3.0)
        assert u.links.get_task("t2") is None

    # The database refuses a second open task, whoever writes it.
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO review_tasks (id, mpi_id, candidate, pair_key, decision_id, weight,"
                " status, created_at) VALUES ('x', :b, :a, :k, 'd', 1.0, 'OPEN', :at)"
            ),
            {"a": A, "b": B, "k": f"{A}|{B}", "at": T0},
        )


def test_a_task_is_resolved_once_and_closed_with_its_golden_record(uow: UowMaker) -> None:
    with uow() as u:
        u.links.add_task(_task("t1", A, B, 3.0))
        u.links.add_task(_task("t2", C, A, 2.0))
        u.links.add_task(_task("t3", C, D, 1.0))
        u.commit()

    with uow() as u:
        assert u.links.resolve_task("t1", LinkState.NO_MATCH, "op-1", at(10))
        assert not u.links.resolve_task("t1", LinkState.MATCH, "op-2", at(11))
        assert not u.links.resolve_task("missing", LinkState.MATCH, "op-2", at(11))
        u.commit()
    with uow() as u:
        done = u.links.get_task("t1")
        assert u.links.add_task(_task("t1b", B, A, 4.0))  # the pair may be asked again
        assert u.links.close_tasks_of(A, "merge", at(12)) == 2
        assert u.links.close_tasks_of(A, "merge", at(12)) == 0
        u.commit()

    assert done is not None and done.status is TaskStatus.DONE
    assert (done.resolution, done.resolved_by, done.resolved_at) == (
        LinkState.NO_MATCH,
        "op-1",
        at(10),
    )
    with uow() as u:
        closed = u.links.get_task("t2")
        assert [t.id for t in u.links.open_tasks()] == ["t3"]
    assert closed is not None and closed.status is TaskStatus.DONE
    assert (closed.resolution, closed.resolved_by) == (None, "merge")


# --- merges --------------------------------------------------------------------------------


def _merge(id_: str, minutes: int) -> MergeRecord:
    return MergeRecord(
        id=id_,
        survivor=A,
        retired=B,
        sources=(his("H-1"), SourceIdentifier("urn:oid:1.2.3", "L-9")),
        documents=(("01", ZHANG_WEI_ID), ("03", PASSPORT)),
        ehc_ids=("E" * 64,),
        actor="op-1",
        at=at(minutes),
        reason="same person",
    )


def test_merge_records_round_trip_and_reverse(uow: UowMaker, engine: Engine) -> None:
    with uow() as u:
        assert u.links.last_merge_into(A, B) is None
        u.links.add_merge(_merge("m1", 1))
        u.links.add_merge(_merge("m2", 2))
        u.commit()

    with uow() as u:
        assert u.links.get_merge("m1") == _merge("m1", 1)
        assert u.links.get_merge("nope") is None
        assert u.links.last_merge_into(A, B) == _merge("m2", 2)
        assert u.links.last_merge_into(B, A) is None
        u.links.mark_merge_reversed("m2", at(5))
        u.commit()

    with uow() as u:
        reversed_ = u.links.get_merge("m2")
        assert u.links.last_merge_into(A, B) == _merge("m1", 1)
    assert reversed_ is not None and reversed_.reversed_at == at(5)
    dump = raw_dump(engine, merges)
    assert ZHANG_WEI_ID not in dump and PASSPORT not in dump
