"""Migration 0008 and the stored mother's maiden name (PDQ ITI-21 @PID.6, PDQm
``mothersMaidenName``): kept as the name is, found by prefix in characters or pinyin, on
SQLite and PostgreSQL; the downgrade removes only its columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.core.model import Demographics, PatientRecord, PatientVersion
from ehcmpi.core.search import Condition, Field, Match, PatientSearch, Text
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.storage import codec, migrate
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.patients import SNAPSHOT_CONTEXT, SqlPatientRepository

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
COLUMNS = {"mothers_maiden_name", "mothers_maiden_key"}
INDEXES = {"ix_patients_mothers_maiden_name", "ix_patients_mothers_maiden_key"}
OLD, NEW = "A" * 64, "B" * 64


@pytest.fixture
def fresh_engine(fresh_url: str) -> Iterator[Engine]:
    engine = create_database_engine(fresh_url)
    yield engine
    engine.dispose()


def _schema(engine: Engine) -> tuple[set[str], set[str]]:
    inspector = sa.inspect(engine)
    columns = {c["name"] for c in inspector.get_columns("patients")}
    indexes = {str(i["name"]) for i in inspector.get_indexes("patients")}
    return columns & COLUMNS, indexes & INDEXES


def _found(engine: Engine, crypto: CryptoProvider, text: Text) -> set[str]:
    search = PatientSearch((Condition(Field.MOTHERS_MAIDEN_NAME, (text,)),))
    with engine.connect() as conn:
        rows = SqlPatientRepository(conn, crypto).search_page(search)
    return {p.mpi_id for p in rows.patients}


def test_maiden_name_columns_come_and_go_and_the_patients_stay(
    fresh_engine: Engine, crypto: CryptoProvider
) -> None:
    migrate.upgrade(fresh_engine, "0007")
    with fresh_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO patients (mpi_id, status, name, version, created_at, updated_at)"
                " VALUES (:m, 'active', '张伟', 1, :at, :at)"
            ),
            {"m": OLD, "at": NOW},
        )

    migrate.upgrade(fresh_engine)

    assert _schema(fresh_engine) == (COLUMNS, INDEXES)
    mother = Demographics(name="赵敏", mothers_maiden_name="李秀英")
    with fresh_engine.begin() as conn:
        repo = SqlPatientRepository(conn, crypto)
        old = repo.get(OLD)
        assert old is not None and old.demographics.mothers_maiden_name is None
        record = PatientRecord(NEW, mother, created_at=NOW, updated_at=NOW)
        assert repo.insert(record)
        repo.add_version(PatientVersion(NEW, 1, "create", "test", NOW, record))
    with fresh_engine.connect() as conn:
        repo = SqlPatientRepository(conn, crypto)
        assert repo.get_many([NEW])[0].demographics == mother
        assert repo.versions(NEW)[0].snapshot.demographics.mothers_maiden_name == "李秀英"
    assert _found(fresh_engine, crypto, Text("李")) == {NEW}
    assert _found(fresh_engine, crypto, Text("LI XIU")) == {NEW}
    assert _found(fresh_engine, crypto, Text("li", Match.EXACT)) == set()
    assert _found(fresh_engine, crypto, Text("lixiuying", Match.EXACT)) == {NEW}
    assert _found(fresh_engine, crypto, Text("秀", Match.CONTAINS)) == {NEW}

    migrate.downgrade(fresh_engine, "0007")

    assert _schema(fresh_engine) == (set(), set())
    with fresh_engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT mpi_id, name FROM patients ORDER BY mpi_id")).all()
    assert [tuple(r) for r in kept] == [(OLD, "张伟"), (NEW, "赵敏")]
    migrate.upgrade(fresh_engine)
    assert migrate.is_current(fresh_engine) and _schema(fresh_engine) == (COLUMNS, INDEXES)


def test_a_snapshot_from_before_the_maiden_name_still_reads(
    fresh_engine: Engine, crypto: CryptoProvider
) -> None:
    """Version snapshots written before 0008 have no ``mothers_maiden_name`` key."""
    migrate.upgrade(fresh_engine)
    record = PatientRecord(NEW, Demographics(name="赵敏"), created_at=NOW, updated_at=NOW)
    with fresh_engine.begin() as conn:
        repo = SqlPatientRepository(conn, crypto)
        assert repo.insert(record)
        repo.add_version(PatientVersion(NEW, 1, "create", "test", NOW, record))
        # the snapshot as the code before 0008 wrote it
        old_json = codec.record_to_json(record).replace(b',"mothers_maiden_name":null', b"")
        assert b"mothers_maiden_name" not in old_json
        conn.execute(
            sa.text("UPDATE patient_versions SET snapshot_enc = :s"),
            {"s": crypto.encrypt_field(old_json.decode(), SNAPSHOT_CONTEXT)},
        )
    with fresh_engine.connect() as conn:
        (version,) = SqlPatientRepository(conn, crypto).versions(NEW)
    assert version.snapshot.demographics == Demographics(name="赵敏")
