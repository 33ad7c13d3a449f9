"""Schema migrations (``ehcmpi.storage.migrate``) on fresh SQLite and PostgreSQL databases."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from ehcmpi.storage import migrate
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.tables import metadata, patient_documents, patients

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def fresh_engine(fresh_url: str) -> Iterator[Engine]:
    engine = create_database_engine(fresh_url)
    yield engine
    engine.dispose()


def _patient(mpi_id: str) -> dict[str, Any]:
    return {
        "mpi_id": mpi_id,
        "status": "active",
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }


def _document(mpi_id: str, bidx: bytes, *, valid: bool) -> dict[str, Any]:
    return {
        "mpi_id": mpi_id,
        "doc_type": "01",
        "number_enc": b"ciphertext",
        "number_bidx": bidx,
        "valid": valid,
        "is_primary": valid,
        "created_at": NOW,
    }


def test_fresh_database_reaches_head_and_upgrade_is_idempotent(fresh_engine: Engine) -> None:
    assert migrate.head_revision() is not None
    assert migrate.current_revision(fresh_engine) is None
    assert not migrate.is_current(fresh_engine)

    migrate.upgrade(fresh_engine)
    migrate.upgrade(fresh_engine)

    assert migrate.current_revision(fresh_engine) == migrate.head_revision()
    assert migrate.is_current(fresh_engine)
    tables = set(sa.inspect(fresh_engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables


def test_migrated_schema_matches_the_table_definitions(fresh_engine: Engine) -> None:
    migrate.upgrade(fresh_engine)

    with fresh_engine.connect() as conn:
        # SQLite neither enforces nor (in place) changes VARCHAR lengths; see migration 0002.
        options = {"compare_type": conn.dialect.name != "sqlite"}
        context = MigrationContext.configure(conn, opts=options)
        differences = compare_metadata(context, metadata)

    assert differences == []


def test_migrated_schema_allows_one_owner_per_valid_document(fresh_engine: Engine) -> None:
    migrate.upgrade(fresh_engine)
    bidx = bytes(range(32))
    with fresh_engine.begin() as conn:
        conn.execute(patients.insert(), [_patient("A" * 64), _patient("B" * 64)])
        conn.execute(patient_documents.insert(), [_document("A" * 64, bidx, valid=True)])
        # Invalid numbers identify nobody: the same one may be on record many times.
        conn.execute(
            patient_documents.insert(),
            [_document("A" * 64, bidx, valid=False), _document("B" * 64, bidx, valid=False)],
        )

    with pytest.raises(sa.exc.IntegrityError), fresh_engine.begin() as conn:
        conn.execute(patient_documents.insert(), [_document("B" * 64, bidx, valid=True)])

    with fresh_engine.connect() as conn:
        valid = conn.execute(
            sa.select(sa.func.count()).where(patient_documents.c.valid)
        ).scalar_one()
    assert valid == 1


def test_long_ehc_ids_fit_the_migrated_schema(fresh_engine: Engine) -> None:
    """A 50-character 其他法定有效证件 number gives an EHC ID far longer than 64 characters."""
    migrate.upgrade(fresh_engine)
    long_ehc_id = "F" * 416

    with fresh_engine.begin() as conn:
        conn.execute(patients.insert(), [_patient("A" * 64) | {"ehc_id": long_ehc_id}])

    with fresh_engine.connect() as conn:
        stored = conn.execute(sa.select(patients.c.ehc_id)).scalar_one()
    assert stored == long_ehc_id


def test_two_replicas_migrating_at_once_both_succeed(fresh_url: str) -> None:
    engines = [create_database_engine(fresh_url) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        barrier.wait()
        try:
            migrate.upgrade(engine)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    try:
        assert errors == []
        assert all(migrate.is_current(e) for e in engines)
    finally:
        for engine in engines:
            engine.dispose()
