"""Batch jobs read the active golden records page by page (§4.1.1 索引定时任务)."""

from __future__ import annotations

from ehcmpi.core.model import Demographics, PatientRecord, PatientStatus
from tests.storage.conftest import UowMaker
from tests.storage.support import A, B, C, D


def test_active_records_come_in_mpi_id_pages_without_merged_or_cancelled(uow: UowMaker) -> None:
    statuses = {
        D: PatientStatus.ACTIVE,
        B: PatientStatus.ACTIVE,
        C: PatientStatus.MERGED,
        A: PatientStatus.ACTIVE,
        "E" * 64: PatientStatus.CANCELLED,
    }
    with uow() as u:
        for mpi_id, status in statuses.items():
            u.patients.insert(PatientRecord(mpi_id, Demographics(name="张伟"), status=status))
        u.commit()

    with uow() as u:
        first = u.patients.active_records(None, 2)
        second = u.patients.active_records(first[-1].mpi_id, 2)
        last = u.patients.active_records(second[-1].mpi_id, 2)

    assert [p.mpi_id for p in first] == [A, B]
    assert [p.mpi_id for p in second] == [D]
    assert last == []
    assert first[0].demographics.name == "张伟"
