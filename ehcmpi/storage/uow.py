"""The SQL unit of work: one connection, one transaction (``ehcmpi.core.ports.UnitOfWork``)."""

from __future__ import annotations

from sqlalchemy.engine import Connection, Engine, RootTransaction

from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.storage.cards import SqlCardRepository, SqlQrRecordRepository
from ehcmpi.storage.engine import read_engine_for, write_options
from ehcmpi.storage.jobs import SqlJobRepository
from ehcmpi.storage.links import SqlLinkRepository
from ehcmpi.storage.media import SqlMediaRepository
from ehcmpi.storage.outbox import SqlOutboxRepository
from ehcmpi.storage.patients import LinkedIds, SqlPatientRepository
from ehcmpi.storage.records import SqlAuditRepository, SqlEhcAccountRepository
from ehcmpi.storage.terminals import SqlTerminalRepository


class SqlUnitOfWork:
    patients: SqlPatientRepository
    accounts: SqlEhcAccountRepository
    audit: SqlAuditRepository
    links: SqlLinkRepository
    jobs: SqlJobRepository
    outbox: SqlOutboxRepository
    cards: SqlCardRepository
    terminals: SqlTerminalRepository
    qr_records: SqlQrRecordRepository
    media: SqlMediaRepository

    def __init__(self, engine: Engine, crypto: CryptoProvider, *, write: bool = False) -> None:
        self._engine = engine
        self._crypto = crypto
        self._write = write
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None

    def __enter__(self) -> SqlUnitOfWork:
        conn = self._engine.connect()
        # Only SQLite has write options (BEGIN IMMEDIATE); setting none still costs SQLAlchemy
        # 4-11 us per unit of work, each registration group's and feed group's among them.
        if self._write and (options := write_options(self._engine)):
            conn = conn.execution_options(**options)
        self._conn = conn
        self._tx = conn.begin()
        linked: LinkedIds | None = None if self._write else {}
        self.patients = SqlPatientRepository(conn, self._crypto, linked)
        self.accounts = SqlEhcAccountRepository(conn)
        self.audit = SqlAuditRepository(conn)
        self.links = SqlLinkRepository(conn, self._crypto)
        self.links.loaded = linked
        self.jobs = SqlJobRepository(conn)
        self.outbox = SqlOutboxRepository(conn)
        self.cards = SqlCardRepository(conn)
        self.terminals = SqlTerminalRepository(conn)
        self.qr_records = SqlQrRecordRepository(conn)
        self.media = SqlMediaRepository(conn, self._crypto)
        return self

    def commit(self) -> None:
        assert self._tx is not None
        self._tx.commit()

    def __exit__(self, *exc: object) -> None:
        assert self._conn is not None and self._tx is not None
        if self._tx.is_active:
            self._tx.rollback()
        self._conn.close()


class SqlUnitOfWorkFactory:
    """Makes units of work on one engine: ``factory(write=True)`` for a writing transaction."""

    def __init__(self, engine: Engine, crypto: CryptoProvider) -> None:
        self.engine = engine
        self.read_engine = read_engine_for(engine)
        self._crypto = crypto

    def __call__(self, *, write: bool = False) -> SqlUnitOfWork:
        engine = self.engine if write else self.read_engine
        return SqlUnitOfWork(engine, self._crypto, write=write)

    def dispose(self) -> None:
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        self.engine.dispose()
