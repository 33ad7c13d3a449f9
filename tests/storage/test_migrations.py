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

from ehcmpi.core.links import LinkOrigin, LinkState, SourceRecord
from ehcmpi.core.model import Demographics, IdentityDocument, SourceIdentifier
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.crypto.software import new_mpi_id
from ehcmpi.storage import migrate
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.links import MATCH_KEY_KIND, SqlLinkRepository, mpi_order
from ehcmpi.storage.patient_sql import BY_INVALID_DOCUMENT, BY_VALID_DOCUMENT
from ehcmpi.storage.tables import match_keys, metadata, patient_documents, patients

HIS = SourceIdentifier("urn:oid:1.2.156.112604.1.2.1", "H-1")
LINK_TABLES = {
    "link_events",
    "match_decisions",
    "review_tasks",
    "merges",
    "match_keys",
    "job_schedules",
    "job_leases",
    "job_runs",
}
LINK_COLUMNS = {"link_state", "link_origin", "weight", "decision_id", "record_enc", "updated_at"}

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


def test_a_newer_schema_or_an_unknown_target_is_refused_before_alembic_runs(
    fresh_engine: Engine,
) -> None:
    migrate.upgrade(fresh_engine)
    head = str(migrate.head_revision())
    with pytest.raises(migrate.MigrationError, match="no such schema revision"):
        migrate.downgrade(fresh_engine, "0042")
    assert migrate.current_revision(fresh_engine) == head  # nothing stepped
    with fresh_engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))

    for step in (migrate.check_known, migrate.upgrade, lambda e: migrate.downgrade(e, head)):
        with pytest.raises(migrate.MigrationError, match=f"0999.*{head}"):
            step(fresh_engine)
    assert migrate.current_revision(fresh_engine) == "0999"


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


# SQLite's expression index (``ix_match_keys_key``) cannot be reflected, so not compared.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
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


def _columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def _old_identifier(conn: sa.Connection) -> None:
    """A source identifier as revision 0002 wrote it (no link columns)."""
    conn.execute(patients.insert(), [_patient("A" * 64)])
    conn.execute(
        sa.text(
            "INSERT INTO source_identifiers (mpi_id, system, value, created_at)"
            " VALUES (:m, :s, :v, :at)"
        ),
        {"m": "A" * 64, "s": HIS.system, "v": HIS.value, "at": NOW},
    )


def test_identifiers_from_before_links_become_auto_matches(
    fresh_engine: Engine, crypto: CryptoProvider
) -> None:
    migrate.upgrade(fresh_engine, "0002")
    with fresh_engine.begin() as conn:
        _old_identifier(conn)

    migrate.upgrade(fresh_engine)

    with fresh_engine.connect() as conn:
        source = SqlLinkRepository(conn, crypto).get_source(HIS)
    assert source == SourceRecord(HIS, "A" * 64, Demographics())
    assert (source.state, source.origin) == (LinkState.MATCH, LinkOrigin.AUTO)


def test_downgrade_below_links_keeps_identifiers_and_upgrades_again(
    fresh_engine: Engine, crypto: CryptoProvider
) -> None:
    migrate.upgrade(fresh_engine)
    linked = SourceRecord(
        HIS, "A" * 64, Demographics(name="张伟"), (IdentityDocument("01", "X"),), weight=9.0
    )
    with fresh_engine.begin() as conn:
        conn.execute(patients.insert(), [_patient("A" * 64)])
        assert SqlLinkRepository(conn, crypto).add_source(linked)

    migrate.downgrade(fresh_engine, "0002")

    assert migrate.current_revision(fresh_engine) == "0002"
    assert not LINK_TABLES & set(sa.inspect(fresh_engine).get_table_names())
    assert not LINK_COLUMNS & _columns(fresh_engine, "source_identifiers")
    with fresh_engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT mpi_id, system, value FROM source_identifiers")).all()
    assert [tuple(r) for r in kept] == [("A" * 64, HIS.system, HIS.value)]

    migrate.upgrade(fresh_engine)
    assert migrate.is_current(fresh_engine)
    assert set(sa.inspect(fresh_engine).get_table_names()) >= LINK_TABLES
    with fresh_engine.connect() as conn:
        source = SqlLinkRepository(conn, crypto).get_source(HIS)
    assert source == SourceRecord(HIS, "A" * 64, Demographics())


def _index_names(engine: Engine, table: str) -> set[str]:
    """Index names as the database lists them (SQLAlchemy does not reflect SQLite's
    expression indexes)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
            )
        else:
            rows = conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE tablename = %(t)s", {"t": table}
            )
        return {str(r[0]) for r in rows}


def test_match_keys_survive_every_move_of_their_index_and_back(
    fresh_engine: Engine, crypto: CryptoProvider
) -> None:
    """Migrations 0010 and 0014: keys stored under (mpi_id, key_bidx) at 0009 are found by
    key afterwards, newest record first, through the short index; a downgrade keeps them."""
    old, new, odd = "A" * 64, new_mpi_id("T"), "Z" * 64  # an ID of 2026 sorts below "A…"
    phone, name = "phone:13800138000", "name:zhangwei|1990"
    migrate.upgrade(fresh_engine, "0009")
    with fresh_engine.begin() as conn:
        conn.execute(patients.insert(), [_patient(old), _patient(new), _patient(odd)])
        rows = [(old, phone), (old, name), (new, phone), (odd, name)]
        conn.execute(
            match_keys.insert(),
            [{"mpi_id": m, "key_bidx": crypto.blind_index(MATCH_KEY_KIND, k)} for m, k in rows],
        )

    migrate.upgrade(fresh_engine)

    assert sa.inspect(fresh_engine).get_pk_constraint("match_keys")["constrained_columns"] == []
    assert _index_names(fresh_engine, "match_keys") >= {"ix_match_keys_key", "ix_match_keys_mpi_id"}
    with fresh_engine.connect() as conn:
        orders = dict(conn.execute(sa.select(match_keys.c.mpi_id, match_keys.c.mpi_order)).all())
    assert orders == {m: mpi_order(m) for m in (old, new, odd)}  # SQL and Python agree
    assert mpi_order(odd) == 0 and mpi_order(new) < mpi_order(old)
    with fresh_engine.begin() as conn:
        links = SqlLinkRepository(conn, crypto)
        assert links.candidates([phone], cap=10) == sorted([old, new])
        assert links.candidates([phone], cap=1) == [old]  # "A…" sorts last of the two
        assert links.candidates([name], cap=10) == sorted([old, odd])
        links.replace_keys(new, [])  # rewritten by record, through ix_match_keys_mpi_id
        assert links.candidates([phone], cap=10) == [old]

    migrate.downgrade(fresh_engine, "0009")

    assert sa.inspect(fresh_engine).get_pk_constraint("match_keys")["constrained_columns"] == [
        "mpi_id", "key_bidx",
    ]  # fmt: skip
    with fresh_engine.connect() as conn:
        kept = {
            (r.mpi_id, bytes(r.key_bidx))
            for r in conn.execute(sa.select(match_keys.c.mpi_id, match_keys.c.key_bidx))
        }
    assert kept == {
        (m, crypto.blind_index(MATCH_KEY_KIND, k)) for m, k in rows if m != new
    }  # whole 32-byte keys, as before


def _document_lookups(engine: Engine, bidx: bytes) -> tuple[list[str], list[str], str]:
    """The holders of ``bidx`` as a valid and as an invalid document, and both query plans
    (sequential scans off on PostgreSQL: a tiny table would be scanned anyway)."""
    queries = (BY_VALID_DOCUMENT.statement, BY_INVALID_DOCUMENT)
    plans = []
    with engine.connect() as conn:
        found = [[row[0] for row in conn.execute(q, {"bidx": bidx})] for q in queries]
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
        for query in queries:
            compiled = query.compile(dialect=conn.dialect)
            params: Any = compiled.construct_params({"bidx": bidx})
            if conn.dialect.name == "sqlite":
                params = tuple(params[name] for name in compiled.positiontup or ())
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)
            else:
                rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", params)
            plans += [str(tuple(r)) for r in rows]
    return sorted(found[0]), sorted(found[1]), "\n".join(plans)


def test_document_lookups_use_one_index_each_after_the_invalid_document_index(
    fresh_engine: Engine,
) -> None:
    """Migration 0011: valid numbers are found through the unique index, invalid ones
    (§5.2.1, kept on their records) through their own partial index; the index of every
    document's blind index is gone, and a downgrade brings it back."""
    migrate.upgrade(fresh_engine, "0010")
    bidx = bytes(range(32))
    with fresh_engine.begin() as conn:
        conn.execute(patients.insert(), [_patient(c * 64) for c in "ABC"])
        conn.execute(
            patient_documents.insert(),
            [
                _document("A" * 64, bidx, valid=True),
                _document("B" * 64, bidx, valid=False),
                _document("C" * 64, bidx, valid=False),
            ],
        )

    migrate.upgrade(fresh_engine)

    indexes = {i["name"] for i in sa.inspect(fresh_engine).get_indexes("patient_documents")}
    assert "ix_patient_documents_number_bidx" not in indexes
    assert "ix_patient_documents_invalid_bidx" in indexes
    valid, invalid, plan = _document_lookups(fresh_engine, bidx)
    assert (valid, invalid) == (["A" * 64], ["B" * 64, "C" * 64])
    assert "uq_patient_documents_valid_bidx" in plan, plan
    assert "ix_patient_documents_invalid_bidx" in plan, plan
    assert "SCAN patient_documents" not in plan and "Seq Scan" not in plan, plan

    migrate.downgrade(fresh_engine, "0010")

    indexes = {i["name"] for i in sa.inspect(fresh_engine).get_indexes("patient_documents")}
    assert "ix_patient_documents_number_bidx" in indexes
    assert "ix_patient_documents_invalid_bidx" not in indexes
    assert _document_lookups(fresh_engine, bidx)[:2] == (["A" * 64], ["B" * 64, "C" * 64])
