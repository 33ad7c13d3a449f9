"""Statements that travel together (``storage.driver``, ``storage.wire``) must behave exactly
as if each had been sent alone, on both backends: writes whose outcome nobody reads go with
the transaction's next statement — its own reads see them, the commit writes them, a rollback
or a failure writes nothing of the transaction — and independent reads or inserts sent as one
batch answer each in order."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.core.links import LinkState, SourceRecord
from ehcmpi.core.model import (
    AuditEntry,
    Demographics,
    IdentifierKey,
    IdentityDocument,
    KeyKind,
    PatientRecord,
)
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.storage import migrate
from ehcmpi.storage.driver import QUEUED
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.tables import audit_log, match_keys, patients
from ehcmpi.storage.uow import SqlUnitOfWork
from tests.core.support import ZHANG_WEI_ID, his
from tests.storage.conftest import UowMaker
from tests.storage.support import A, B, C, D, add_patients

DB_ERRORS = (sa.exc.DBAPIError, psycopg.Error)


def _entry(actor: str) -> AuditEntry:
    return AuditEntry(dt.datetime.now(dt.UTC), actor, "api", "register", "ok", 1.0)


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_transaction_reads_its_own_queued_writes_and_the_commit_writes_them(
    uow: UowMaker, engine: Engine
) -> None:
    add_patients(uow, A)
    with uow() as u:
        u.links.replace_keys(A, ["k1"], fresh=True)  # queued
        assert u.links.candidates(["k1"], 5) == [A]  # a Hot read sends the queue first
        u.audit.record([_entry("first")])  # queued
        assert [e.actor for e in u.audit.recent()] == ["first"]  # so does a SQLAlchemy read
        u.audit.record([_entry("second")])  # queued, sent with COMMIT
        u.commit()
    with uow() as u:
        assert [e.actor for e in u.audit.recent()] == ["second", "first"]
        assert u.links.candidates(["k1"], 5) == [A]


def test_a_rollback_writes_nothing_that_was_queued(uow: UowMaker, engine: Engine) -> None:
    add_patients(uow, A)
    with uow() as u:
        u.links.replace_keys(A, ["k1"], fresh=True)
        u.audit.record([_entry("never")])
    for _ in range(3):  # the same pooled connections again: nothing left over rides along
        with uow() as u:
            u.audit.record([_entry("kept")])
            u.commit()
    assert _count(engine, match_keys) == 0
    with uow() as u:
        assert [e.actor for e in u.audit.recent()] == ["kept"] * 3


def test_a_queued_write_that_fails_fails_the_commit_and_nothing_is_written(
    uow: UowMaker, engine: Engine
) -> None:
    add_patients(uow, A)
    with pytest.raises(DB_ERRORS), uow() as u:  # on SQLite at the write, on PostgreSQL at commit
        assert u.patients.insert(PatientRecord(B, Demographics(name="B")))
        u.audit.record([_entry("lost")])
        u.links.replace_keys(A, ["k1"], fresh=True)
        u.patients.insert_new(PatientRecord(B, Demographics(name="B")))  # B again: a violation
        u.commit()
    assert _count(engine, patients) == 1 and _count(engine, audit_log) == 0
    with uow() as u:  # the connections are fine afterwards
        u.links.replace_keys(A, ["k2"], fresh=True)
        u.commit()
    with uow() as u:
        assert u.links.candidates(["k2"], 5) == [A] and u.patients.get(B) is None
        assert u.links.candidates(["k1"], 5) == []


def test_linking_a_new_records_source_amends_its_queued_insert(
    uow: UowMaker, engine: Engine
) -> None:
    """A record inserted with ``insert_new`` and its source linked in the same transaction
    (registrations answered together): on PostgreSQL the source's queued INSERT takes the
    link, no UPDATE follows it; on both backends the stored source is the linked one."""
    sid = his("H-AMEND")
    sent = Demographics(name="张伟", birth_date=dt.date(1985, 3, 12))
    with uow() as u:
        u.patients.insert_new(PatientRecord(A, Demographics(name="张伟"), source_ids=(sid,)))
        linked = SourceRecord(sid, A, sent, state=LinkState.POSSIBLE_MATCH, weight=7.5,
                              updated_at=dt.datetime.now(dt.UTC))  # fmt: skip
        u.links.update_source(linked, fresh=True)
        queued = [stmt.source for stmt, _ in u.links._conn.info.get(QUEUED, [])]
        u.commit()
    with uow() as u:
        stored = u.links.get_source(sid)
    assert stored is not None
    assert (stored.mpi_id, stored.state, stored.weight) == (A, LinkState.POSSIBLE_MATCH, 7.5)
    assert stored.demographics == sent
    if engine.dialect.name == "postgresql":
        assert sum("INTO source_identifiers" in q for q in queued) == 1, queued
        assert not any(q.startswith("UPDATE source_identifiers") for q in queued), queued


def test_prepared_hot_statements_survive_rollbacks_on_the_same_connection(
    own_pg_database_url: str, crypto: CryptoProvider
) -> None:
    """psycopg answers a rollback with DEALLOCATE ALL once it has prepared statements of its
    own; write connections must not let it, or the next hot statement fails."""
    engine = create_database_engine(own_pg_database_url, pool_size=1)
    migrate.upgrade(engine)
    try:
        for attempt in range(3):
            with SqlUnitOfWork(engine, crypto, write=True) as u:
                assert u.patients.get(A) is None  # prepared by storage.wire on first use
                for _ in range(8):  # often enough for psycopg to prepare a statement itself
                    u.audit.recent(limit=1)
                u.audit.record([_entry(f"rolled back {attempt}")])
            # rolled back; the next transaction uses the same connection
        with SqlUnitOfWork(engine, crypto, write=True) as u:
            assert u.patients.get(A) is None
            assert u.audit.recent() == []
    finally:
        engine.dispose()


def test_the_blocking_key_statements_run_on_their_generic_plans_and_nothing_else_does(
    own_pg_database_url: str, crypto: CryptoProvider
) -> None:
    """PostgreSQL would plan the candidate search and the packed key insert afresh for every
    registration (a plan for the number of keys looks cheaper); they are marked generic, and
    the setting that makes them so ends with each of them."""
    engine = create_database_engine(own_pg_database_url, pool_size=1)
    migrate.upgrade(engine)
    add_patients(lambda: SqlUnitOfWork(engine, crypto, write=True), A)
    keys = ["name:zhangwei", "phone:138", "birth:1990", "area:110101"]
    try:
        with SqlUnitOfWork(engine, crypto, write=True) as u:
            for n in range(8):  # PostgreSQL makes five custom plans before it weighs a generic
                u.links.replace_keys(A, keys[: 1 + n % 4])
                assert u.links.candidates_capped([(k, 5) for k in keys]) == [A]
            setting = u.patients._conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one()
            plans = u.patients._conn.execute(
                sa.text(
                    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
                    " WHERE strpos(statement, 'match_keys') > 0 AND statement NOT LIKE 'DELETE%'"
                )
            ).all()
            u.commit()
    finally:
        engine.dispose()
    assert setting == "auto"
    assert len(plans) == 2, plans
    assert all(generic >= 8 and custom == 0 for _, generic, custom in plans), plans


def test_the_owners_of_several_identifiers_come_back_one_per_identifier_in_order(
    uow: UowMaker,
) -> None:
    zhang = IdentityDocument("01", ZHANG_WEI_ID, primary=True)
    with uow() as u:
        assert u.patients.insert(PatientRecord(A, Demographics(name="张伟"), documents=(zhang,),
                                               source_ids=(his("H-1"),)))  # fmt: skip
        u.commit()
    with uow() as u:
        asked = [document(ZHANG_WEI_ID), document("110105194912310011"), source("H-2")]
        assert u.patients.find_each([*asked, source("H-1")]) == [A, None, None, A]
        assert u.patients.find_each([]) == []


def test_a_read_only_lookup_reads_the_record_with_the_identifier_that_finds_it(
    uow: UowMaker, engine: Engine, crypto: CryptoProvider, statements: list[str]
) -> None:
    """An identifier lookup in a read-only unit of work is one statement, the lookup and the
    record together; a writing unit of work asks for the record afresh (its writes)."""
    zhang = IdentityDocument("01", ZHANG_WEI_ID, primary=True)
    record = PatientRecord(
        A,
        Demographics(name="张伟", phones=("13812345678",)),
        ehc_id="E" * 64,
        archive_no="TMP-1",
        documents=(zhang,),
        source_ids=(his("H-1"),),
    )
    with uow() as u:
        assert u.patients.insert(record)
        u.commit()
    with uow() as u:
        stored = u.patients.get(A)
    with SqlUnitOfWork(engine, crypto) as r:  # read-only
        for find in (
            lambda: r.patients.find_by_document("01", ZHANG_WEI_ID),
            lambda: r.patients.find_by_source(his("H-1")),
            lambda: r.patients.find_by_ehc_id("E" * 64),
            lambda: r.patients.find_by_archive_no("TMP-1"),
        ):
            statements.clear()
            assert find() == A
            assert r.patients.get(A) == stored
            assert len(statements) == 1, statements
        assert r.patients.find_by_document("01", "110105194912310011") is None
        assert r.patients.find_by_source(his("H-2")) is None
    with uow() as w:
        assert w.patients.find_by_source(his("H-1")) == A
        statements.clear()
        assert w.patients.get(A) == stored
        assert len(statements) == 1, statements


def test_lookups_asked_together_are_one_statement_and_a_read_only_unit_remembers_them(
    uow: UowMaker, engine: Engine, crypto: CryptoProvider, statements: list[str]
) -> None:
    """Several requests' identifier lookups (``PdqSupplier.query_each``) are asked in one
    round trip; afterwards each request's own lookup and read of the record cost none.  A
    writing unit of work remembers nothing: it asks again."""
    zhang = IdentityDocument("01", ZHANG_WEI_ID, primary=True)
    with uow() as u:
        assert u.patients.insert(PatientRecord(A, Demographics(name="张伟"), documents=(zhang,),
                                               source_ids=(his("H-1"),)))  # fmt: skip
        assert u.patients.insert(PatientRecord(B, Demographics(name="李娜")))
        u.commit()
    with uow() as u:
        stored = u.patients.get_many([A, B])
    by_id = IdentifierKey(KeyKind.MPI_ID, B)
    asked = [document(ZHANG_WEI_ID), source("H-1"), source("H-9"), by_id]
    with SqlUnitOfWork(engine, crypto) as r:  # read-only
        statements.clear()
        assert r.patients.find_each(asked) == [A, A, None, B]
        assert len(statements) == (1 if engine.dialect.name == "postgresql" else 4), statements
        statements.clear()
        assert r.patients.find_by_source(his("H-1")) == A
        assert r.patients.find_by_source(his("H-9")) is None
        assert r.patients.get_each([A, B]) == stored
        assert statements == []
    with uow() as w:
        assert w.patients.find_each(asked) == [A, A, None, B]
        statements.clear()
        assert w.patients.find_by_source(his("H-1")) == A
        assert len(statements) == 1, statements


def test_a_record_whose_source_identifier_is_held_is_not_inserted_and_nothing_is_written(
    uow: UowMaker, engine: Engine
) -> None:
    """Documents and source identifiers of a new record are inserted together; either one
    already held makes the insert report the lost race, and registration rolls back."""
    add_patients(uow, A)
    with uow() as u:
        assert u.links.add_source(_held("H-1"))
        u.commit()
    zhang = IdentityDocument("01", ZHANG_WEI_ID, primary=True)
    with uow() as u:
        record = PatientRecord(B, Demographics(name="B"), documents=(zhang,),
                               source_ids=(his("H-2"), his("H-1")))  # fmt: skip
        assert not u.patients.insert(record)
    with uow() as u:
        assert u.patients.get(B) is None and u.patients.find_by_document("01", ZHANG_WEI_ID) is None
        assert u.patients.find_each([source("H-2"), source("H-1")]) == [None, A]


def test_a_record_that_loses_its_race_writes_none_of_its_identifiers(uow: UowMaker) -> None:
    """The record and its identifiers go in one round trip; when the record itself is not
    inserted (its EHC ID already issued to a concurrent registration), its documents and
    source identifiers are not written either — no foreign-key error, just ``False``."""
    with uow() as u:
        assert u.patients.insert(PatientRecord(A, Demographics(name="张伟"), ehc_id="E" * 64))
        u.commit()
    zhang = IdentityDocument("01", ZHANG_WEI_ID, primary=True)
    with uow() as u:
        late = PatientRecord(B, Demographics(name="张伟"), ehc_id="E" * 64, documents=(zhang,),
                             source_ids=(his("H-1"),))  # fmt: skip
        assert not u.patients.insert(late)
    with uow() as u:
        assert u.patients.get(B) is None
        assert u.patients.find_each([document(ZHANG_WEI_ID), source("H-1")]) == [None, None]


def test_a_read_sent_ahead_shares_the_next_round_trip_until_the_transaction_writes(
    uow: UowMaker, engine: Engine, statements: list[str]
) -> None:
    """Registration announces the matcher's candidate lookup (``expect_candidates``) before
    it looks up the owners of the documents: on PostgreSQL both go in one round trip and the
    candidates then cost none.  A write in between makes the lookup ask afresh; on SQLite the
    hint changes nothing.  The answers are the same every way."""
    with uow() as u:
        assert u.patients.insert(PatientRecord(A, Demographics(name="张伟"),
                                               source_ids=(his("H-1"),)))  # fmt: skip
        u.links.replace_keys(A, ["name:zhangwei", "phone:138"], fresh=True)
        u.commit()
    capped = [("name:zhangwei", 5), ("phone:138", 5)]
    together = engine.dialect.name == "postgresql"
    with uow() as u:
        u.links.expect_candidates(capped)
        statements.clear()
        assert u.patients.find_by_source(his("H-1")) == A
        assert u.links.candidates_capped(capped) == [A]
        assert len(statements) == (1 if together else 2), statements
        u.links.expect_candidates(capped)
        assert u.patients.find_by_source(his("H-9")) is None
        u.links.replace_keys(A, ["name:other"], fresh=True)  # a write: the read ahead is forgotten
        statements.clear()
        assert u.links.candidates_capped(capped) == [A]
        assert len(statements) == 1, statements


def document(number: str) -> IdentifierKey:
    return IdentifierKey(KeyKind.DOCUMENT, number, "01")


def source(value: str) -> IdentifierKey:
    return IdentifierKey(KeyKind.SOURCE, value, his(value).system)


def _held(value: str) -> SourceRecord:
    return SourceRecord(identifier=his(value), mpi_id=A, demographics=Demographics())


def test_writes_queued_before_anything_else_belong_to_the_transaction(
    uow: UowMaker, engine: Engine
) -> None:
    """A unit of work that starts with queued writes still opens its transaction first: a
    later failure writes none of them, and a commit of queued writes alone is an ordinary
    commit (PostgreSQL used to log 'there is no transaction in progress' for each one)."""
    with pytest.raises(DB_ERRORS), uow() as u:
        u.audit.record([_entry("lost")])  # queued: nothing has been sent yet
        u.audit._conn.execute(sa.text("SELECT * FROM no_such_table"))  # queue first, then fails
    assert _count(engine, audit_log) == 0
    notices: list[str] = []

    def noted(diag: psycopg.errors.Diagnostic) -> None:
        notices.append(str(diag.message_primary))

    with uow() as u:
        u.audit.record([_entry("kept")])
        if engine.dialect.name == "postgresql":
            driver = u.audit._conn.connection.driver_connection
            driver.add_notice_handler(noted)
        u.commit()
        if engine.dialect.name == "postgresql":
            driver.remove_notice_handler(noted)
    assert notices == []
    with uow() as u:
        assert [e.actor for e in u.audit.recent()] == ["kept"]


def test_several_records_read_together_come_back_whole_in_the_order_asked(
    uow: UowMaker, engine: Engine, statements: list[str]
) -> None:
    """A registration group's match candidates (``get_many``): each record with its own
    documents, phones and hospital ids, none of another's, unknown ids left out, in the order
    asked — on PostgreSQL in one round trip below SQLAlchemy."""
    zhang = IdentityDocument("01", ZHANG_WEI_ID, primary=True)
    li = Demographics(name="李娜", phones=("13812345678", "13987654321"))
    with uow() as u:
        assert u.patients.insert(PatientRecord(A, Demographics(name="张伟"), documents=(zhang,),
                                               source_ids=(his("H-1"), his("H-2"))))  # fmt: skip
        assert u.patients.insert(PatientRecord(B, li, source_ids=(his("H-3"),)))
        assert u.patients.insert(PatientRecord(C, Demographics(name="王芳")))
        u.commit()
    with uow() as u:
        one_by_one = [u.patients.get(i) for i in (C, A, B)]
        statements.clear()
        together = u.patients.get_many([C, D, A, B, A])
        sent = list(statements)
    assert together == one_by_one
    assert [r.mpi_id for r in together] == [C, A, B]
    assert together[1].documents == (zhang,) and together[2].demographics.phones == li.phones
    assert [s.value for s in together[1].source_ids] == ["H-1", "H-2"]
    assert together[0].documents == () and together[0].source_ids == ()
    if engine.dialect.name == "postgresql":
        assert sent == ["batch"], sent
