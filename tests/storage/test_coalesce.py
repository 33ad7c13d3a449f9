"""Queued inserts of one statement travel as one multi-row INSERT (``storage.coalesce``):
what a transaction writes is exactly what it would have written row by row — on both
backends — and on PostgreSQL the rows of several records really do share statements."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from ehcmpi.core.model import (
    AuditEntry,
    Demographics,
    IdentityDocument,
    PatientRecord,
    PatientVersion,
)
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.storage import migrate
from ehcmpi.storage.coalesce import coalesce, footprint
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.tables import audit_log, patient_versions, patients
from ehcmpi.storage.uow import SqlUnitOfWork
from ehcmpi.storage.wire import Command, Statement, statement
from tests.core.support import his
from tests.storage.conftest import UowMaker
from tests.storage.support import PHONE, A, add_patients, at

NEW = ["B" * 64, "C" * 64, "D" * 64, "E" * 64]
#: PostgreSQL's dialect, to render statements as the server sends them (no connection made)
PG_DIALECT = sa.create_engine("postgresql+psycopg://", poolclass=sa.pool.NullPool).dialect
CITIZEN_IDS = [
    "11010519491231002X",
    "110105199001010011",
    "110105199002020012",
    "11010519900303001X",
]


def _record(mpi_id: str, n: int) -> PatientRecord:
    document = IdentityDocument("01", CITIZEN_IDS[n], primary=True)
    demographics = Demographics(name=f"患者{n}", gender="1", phones=(PHONE[:-1] + str(n),))
    return PatientRecord(mpi_id, demographics, documents=(document,), source_ids=(his(f"H-{n}"),))


def _queue_records(uow: UowMaker) -> None:
    """Another record's new version first, then four new records as registrations queue them:
    each version follows its record's row, which a version moved ahead of would not find."""
    add_patients(uow, A)
    with uow() as u:
        u.patients.add_version(PatientVersion(A, 2, "update", "tester", at(1), _record(A, 0)))
        for n, mpi_id in enumerate(NEW):
            record = _record(mpi_id, n)
            u.patients.insert_new(record)
            u.patients.add_version(PatientVersion(mpi_id, 1, "create", "tester", at(2), record))
            u.links.replace_keys(mpi_id, ["birth:1990", f"name:{n}"], fresh=True)
        u.audit.record(
            [AuditEntry(at(3), f"clerk{n}", "api", "register", "ok", 1.0) for n in range(5)]
        )
        u.commit()


def test_records_queued_together_are_stored_whole_each_row_where_it_belongs(
    uow: UowMaker,
) -> None:
    _queue_records(uow)
    with uow() as u:
        for n, mpi_id in enumerate(NEW):
            stored = u.patients.get(mpi_id)
            assert stored is not None
            assert stored.demographics.name == f"患者{n}"
            assert stored.demographics.phones == (PHONE[:-1] + str(n),)
            assert [d.number for d in stored.documents] == [CITIZEN_IDS[n]]
            assert stored.source_ids == (his(f"H-{n}"),)
            assert [v.version for v in u.patients.versions(mpi_id)] == [1]
            assert u.links.candidates([f"name:{n}"], 5) == [mpi_id]
        assert [v.version for v in u.patients.versions(A)] == [2]
        assert sorted(u.links.candidates(["birth:1990"], 10)) == NEW
        assert sorted(e.actor for e in u.audit.recent()) == [f"clerk{n}" for n in range(5)]


def test_on_postgresql_the_rows_of_one_statement_share_it(
    own_pg_database_url: str, crypto: CryptoProvider
) -> None:
    # one connection, so that its prepared statements are all of the transaction's
    engine = create_database_engine(own_pg_database_url, pool_size=1)
    migrate.upgrade(engine)
    try:
        _queue_records(lambda: SqlUnitOfWork(engine, crypto, write=True))
        prepared = _prepared_inserts(engine)
    finally:
        engine.dispose()
    # four new records: four rows per statement; five audit entries: four and one
    tables = ("patients", "patient_documents", "patient_phones", "source_identifiers")
    assert {t: max(prepared[t]) for t in tables} == dict.fromkeys(tables, 4), prepared
    assert prepared["patient_versions"] == [1, 4], prepared  # the other record's, then four
    assert prepared["audit_log"] == [1, 4], prepared


def _prepared_inserts(engine: Engine) -> dict[str, list[int]]:
    """Rows per prepared INSERT statement of the connection, by table."""
    found: dict[str, list[int]] = {}
    with engine.connect() as conn:
        for (text,) in conn.execute(sa.text("SELECT statement FROM pg_prepared_statements")):
            if text.startswith("INSERT INTO ") and " VALUES (" in text:
                table = text.split()[2]
                found.setdefault(table, []).append(text.count("), (") + 1)
    return {table: sorted(rows) for table, rows in found.items()}


def _insert(table: sa.Table, columns: list[str]) -> Statement:
    sql = table.insert().compile(dialect=PG_DIALECT, column_keys=columns).string
    return statement(sql, footprint=footprint(table.insert()))


def test_rows_join_their_statement_unless_a_write_they_may_depend_on_lies_between() -> None:
    patient = _insert(patients, ["mpi_id", "name"])
    version = _insert(patient_versions, ["mpi_id", "version"])
    audit = _insert(audit_log, ["actor"])
    unknown = statement("UPDATE somewhere SET x = 1")  # tables not known: nothing passes it
    queued: list[Command] = [
        (version, {"mpi_id": "A", "version": 2}),
        (patient, {"mpi_id": "B", "name": "b"}),
        (version, {"mpi_id": "B", "version": 1}),  # after B's row: a group of its own
        (audit, {"actor": "x"}),
        (patient, {"mpi_id": "C", "name": "c"}),  # joins B's row
        (version, {"mpi_id": "C", "version": 1}),  # joins B's version
        (unknown, {}),
        (audit, {"actor": "y"}),  # the unknown update lies between: a new group
    ]
    sent = coalesce(queued)
    assert [(stmt.footprint.written if stmt.footprint else None, p) for stmt, p in sent] == [
        ("patient_versions", {"mpi_id": "A", "version": 2}),
        ("patients", {"mpi_id#0": "B", "name#0": "b", "mpi_id#1": "C", "name#1": "c"}),
        ("patient_versions", {"mpi_id#0": "B", "version#0": 1, "mpi_id#1": "C", "version#1": 1}),
        ("audit_log", {"actor": "x"}),
        (None, {}),
        ("audit_log", {"actor": "y"}),
    ]
    assert b"VALUES ($1::VARCHAR, $2::VARCHAR), ($3::VARCHAR, $4::VARCHAR)" in sent[1][0].query


def test_many_rows_go_in_few_sizes_of_statement_in_their_order() -> None:
    audit = _insert(audit_log, ["actor"])
    sent = coalesce([(audit, {"actor": str(n)}) for n in range(87)])
    sizes = [len(stmt.names) for stmt, _ in sent]
    assert sizes == [32, 32, 16, 4, 2, 1]
    assert [v for _, params in sent for v in params.values()] == [str(n) for n in range(87)]
    assert sent[-1] == (audit, {"actor": "86"})  # a lone row keeps the statement of one row


def test_an_upserts_rows_keep_a_statement_each() -> None:
    """Two rows of one upsert meeting the same row work one after the other, but PostgreSQL
    refuses them in one statement (``ON CONFLICT DO UPDATE command cannot affect row a second
    time``)."""
    insert = postgresql.insert(audit_log)
    upsert = insert.on_conflict_do_update(
        index_elements=["id"], set_={"actor": insert.excluded.actor}
    )
    sql = upsert.compile(dialect=PG_DIALECT, column_keys=["id", "actor"]).string
    stmt = statement(sql, footprint=footprint(upsert))
    rows = [{"id": 1, "actor": "x"}, {"id": 1, "actor": "y"}]
    assert coalesce([(stmt, row) for row in rows]) == [(stmt, row) for row in rows]
