"""Shared builders for the storage tests: golden-record IDs, times, patients, raw dumps."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.core.model import Demographics, PatientRecord
from tests.storage.conftest import UowMaker

A, B, C, D = ("A" * 64, "B" * 64, "C" * 64, "D" * 64)
T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
PHONE = "13812345678"
PASSPORT = "E87654321"


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def add_patients(uow: UowMaker, *mpi_ids: str) -> None:
    """Bare golden records (source records and keys refer to them)."""
    with uow() as u:
        for mpi_id in mpi_ids:
            assert u.patients.insert(PatientRecord(mpi_id, Demographics(name=mpi_id[0])))
        u.commit()


def raw_dump(engine: Engine, table: sa.Table) -> str:
    """Every row as text, byte columns decoded as leniently as possible."""
    parts: list[str] = []
    with engine.connect() as conn:
        for row in conn.execute(sa.select(table)):
            parts.append(str(tuple(row)))
            parts += [bytes(v).decode("latin-1") for v in row if isinstance(v, bytes | memoryview)]
    return "\n".join(parts)
