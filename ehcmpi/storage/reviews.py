"""Review tasks and merge records of the link repository (guideline §4.1.1 索引合并, 索引拆分).

A POSSIBLE_MATCH pair waits for an operator as a review task; "one open task per pair, in
either order" is the partial unique index ``uq_review_tasks_open_pair`` that ``add_task``
inserts against with ON CONFLICT DO NOTHING, and resolving is a conditional UPDATE, so two
operators (or two matcher processes) cannot both queue or both decide it.  A merge record
keeps what the merge moved so that a split can restore it; the document numbers in it are
SM4-GCM ciphertext (§6.3 数据存储安全).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ehcmpi.core.links import LinkState, MergeRecord, ReviewTask, TaskStatus
from ehcmpi.core.model import SourceIdentifier
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.storage import codec
from ehcmpi.storage.rows import aware, insert_ignoring_conflicts
from ehcmpi.storage.tables import merges, review_tasks

MERGE_DOCUMENTS_CONTEXT = "merge.documents"

_t, _g = review_tasks.c, merges.c
_OPEN = TaskStatus.OPEN.value

TASK = sa.select(review_tasks).where(_t.id == sa.bindparam("id"))
OPEN_TASKS = (
    sa.select(review_tasks)
    .where(_t.status == _OPEN)
    .order_by(_t.weight.desc(), _t.created_at, _t.id)
    .limit(sa.bindparam("limit"))
    .offset(sa.bindparam("offset"))
)
COUNT_OPEN_TASKS = sa.select(sa.func.count()).select_from(review_tasks).where(_t.status == _OPEN)
MERGE = sa.select(merges).where(_g.id == sa.bindparam("id"))
LAST_MERGE = (
    sa.select(merges)
    .where(
        _g.survivor == sa.bindparam("survivor"),
        _g.retired == sa.bindparam("retired"),
        _g.reversed_at.is_(None),
    )
    .order_by(_g.at.desc())
    .limit(1)
)


def pair_key(a: str, b: str) -> str:
    """The same key for a pair of golden records in either order."""
    return "|".join(sorted((a, b)))


def source_of(system: str | None, value: str | None) -> SourceIdentifier | None:
    return SourceIdentifier(system, value) if system is not None and value is not None else None


def aware_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return aware(value) if value is not None else None


class SqlReviewRepository:
    """The review-task and merge half of ``SqlLinkRepository``."""

    def __init__(self, conn: Connection, crypto: CryptoProvider) -> None:
        self._conn = conn
        self._crypto = crypto

    # --- review tasks --------------------------------------------------------------------

    def add_task(self, task: ReviewTask) -> bool:
        source = task.source
        row = {
            "id": task.id,
            "mpi_id": task.mpi_id,
            "candidate": task.candidate,
            "pair_key": pair_key(task.mpi_id, task.candidate),
            "decision_id": task.decision_id,
            "weight": task.weight,
            "status": task.status.value,
            "created_at": task.created_at,
            "system": source.system if source else None,
            "value": source.value if source else None,
            "resolution": task.resolution.value if task.resolution else None,
            "resolved_by": task.resolved_by,
            "resolved_at": task.resolved_at,
        }
        return insert_ignoring_conflicts(self._conn, review_tasks, [row], "id") == 1

    @staticmethod
    def _task(r: Any) -> ReviewTask:
        return ReviewTask(
            id=r.id,
            mpi_id=r.mpi_id,
            candidate=r.candidate,
            decision_id=r.decision_id,
            weight=r.weight,
            status=TaskStatus(r.status),
            created_at=aware(r.created_at),
            source=source_of(r.system, r.value),
            resolution=LinkState(r.resolution) if r.resolution else None,
            resolved_by=r.resolved_by,
            resolved_at=aware_or_none(r.resolved_at),
        )

    def get_task(self, task_id: str) -> ReviewTask | None:
        row = self._conn.execute(TASK, {"id": task_id}).first()
        return self._task(row) if row is not None else None

    def open_tasks(self, limit: int = 50, offset: int = 0) -> list[ReviewTask]:
        rows = self._conn.execute(OPEN_TASKS, {"limit": limit, "offset": offset})
        return [self._task(r) for r in rows]

    def count_open_tasks(self) -> int:
        return int(self._conn.execute(COUNT_OPEN_TASKS).scalar_one())

    def _close(self, where: Any, values: dict[str, Any]) -> int:
        stmt = review_tasks.update().where(_t.status == _OPEN, where)
        done = stmt.values(status=TaskStatus.DONE.value, **values)
        return int(self._conn.execute(done).rowcount)

    def resolve_task(
        self, task_id: str, resolution: LinkState, actor: str, at: dt.datetime
    ) -> bool:
        """Conditional UPDATE … WHERE status = 'OPEN': of two operators, one resolves it."""
        values = {"resolution": resolution.value, "resolved_by": actor, "resolved_at": at}
        return self._close(_t.id == task_id, values) == 1

    def close_tasks_of(self, mpi_id: str, actor: str, at: dt.datetime) -> int:
        """Closed without a resolution: the question went away with the golden record."""
        where = sa.or_(_t.mpi_id == mpi_id, _t.candidate == mpi_id)
        return self._close(where, {"resolved_by": actor, "resolved_at": at})

    # --- merges --------------------------------------------------------------------------

    def add_merge(self, merge: MergeRecord) -> None:
        documents = codec.pairs_to_json(merge.documents)
        self._conn.execute(
            merges.insert(),
            {
                "id": merge.id,
                "survivor": merge.survivor,
                "retired": merge.retired,
                "sources": codec.pairs_to_json([(s.system, s.value) for s in merge.sources]),
                "documents_enc": self._crypto.encrypt_field(documents, MERGE_DOCUMENTS_CONTEXT),
                "ehc_ids": codec.strings_to_json(merge.ehc_ids),
                "actor": merge.actor,
                "at": merge.at,
                "reason": merge.reason,
                "reversed_at": merge.reversed_at,
            },
        )

    def _merge(self, r: Any) -> MergeRecord:
        documents = self._crypto.decrypt_field(r.documents_enc, MERGE_DOCUMENTS_CONTEXT)
        return MergeRecord(
            id=r.id,
            survivor=r.survivor,
            retired=r.retired,
            sources=tuple(SourceIdentifier(*p) for p in codec.pairs_from_json(r.sources)),
            documents=codec.pairs_from_json(documents),
            ehc_ids=codec.strings_from_json(r.ehc_ids),
            actor=r.actor,
            at=aware(r.at),
            reason=r.reason or "",
            reversed_at=aware_or_none(r.reversed_at),
        )

    def get_merge(self, merge_id: str) -> MergeRecord | None:
        row = self._conn.execute(MERGE, {"id": merge_id}).first()
        return self._merge(row) if row is not None else None

    def merged_into(self, survivor: str) -> list[str]:
        # ix_merges_survivor_retired answers it: no scan of patients (parent_id has no index).
        stmt = sa.select(_g.retired).where(_g.survivor == survivor, _g.reversed_at.is_(None))
        return sorted({str(row[0]) for row in self._conn.execute(stmt)})

    def last_merge_into(self, survivor: str, retired: str) -> MergeRecord | None:
        params = {"survivor": survivor, "retired": retired}
        row = self._conn.execute(LAST_MERGE, params).first()
        return self._merge(row) if row is not None else None

    def mark_merge_reversed(self, merge_id: str, at: dt.datetime) -> None:
        self._conn.execute(merges.update().where(_g.id == merge_id).values(reversed_at=at))
