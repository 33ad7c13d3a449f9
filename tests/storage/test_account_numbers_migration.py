"""Migration 0009 and the stored patient account numbers (HL7 PID-18, ITI-21 ``@PID.18``): one
number may be on several records, each once; found with or without its authority; on SQLite
and PostgreSQL; the downgrade removes only ``account_numbers``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.core.model import Demographics, PatientRecord, SourceIdentifier
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.storage import migrate
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.patients import SqlPatientRepository

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
OLD, NEW = "A" * 64, "B" * 64
HIS, LIS = "urn:oid:1.2.156.112604.1.2.1", "urn:oid:1.2.156.112604.1.2.2"


@pytest.fixture
def fresh_engine(fresh_url: str) -> Iterator[Engine]:
    engine = create_database_engine(fresh_url)
    yield engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_account_numbers_come_and_go_and_the_patients_stay(
    fresh_engine: Engine, crypto: CryptoProvider
) -> None:
    migrate.upgrade(fresh_engine, "0008")
    with fresh_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO patients (mpi_id, status, name, version, created_at, updated_at)"
                " VALUES (:m, 'active', '张伟', 1, :at, :at)"
            ),
            {"m": OLD, "at": NOW},
        )
    assert "account_numbers" not in _tables(fresh_engine)

    migrate.upgrade(fresh_engine)

    indexes = {i["name"] for i in sa.inspect(fresh_engine).get_indexes("account_numbers")}
    assert {"ix_account_numbers_value", "ix_account_numbers_mpi_id"} <= indexes
    with fresh_engine.begin() as conn:
        repo = SqlPatientRepository(conn, crypto)
        assert repo.insert(PatientRecord(NEW, Demographics(name="赵敏"), created_at=NOW))
        acc, other = SourceIdentifier(HIS, "ACC1"), SourceIdentifier(LIS, "ACC1")
        assert repo.add_accounts(OLD, [acc, acc, other]) == 2
        assert repo.add_accounts(OLD, [acc]) == 0  # already recorded: nothing written
        assert repo.add_accounts(NEW, [acc]) == 1  # no identity: another record may hold it
    with fresh_engine.connect() as conn:
        repo = SqlPatientRepository(conn, crypto)
        assert repo.accounts_of([OLD, NEW, "C" * 64]) == {OLD: [acc, other], NEW: [acc]}
        assert sorted(repo.find_by_account("ACC1")) == [OLD, NEW]
        assert repo.find_by_account("ACC1", LIS) == [OLD]
        assert repo.find_by_account("ACC2") == [] and repo.accounts_of([]) == {}

    migrate.downgrade(fresh_engine, "0008")

    assert "account_numbers" not in _tables(fresh_engine)
    with fresh_engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT mpi_id, name FROM patients ORDER BY mpi_id")).all()
    assert [tuple(r) for r in kept] == [(OLD, "张伟"), (NEW, "赵敏")]
    migrate.upgrade(fresh_engine)
    assert migrate.is_current(fresh_engine) and "account_numbers" in _tables(fresh_engine)
