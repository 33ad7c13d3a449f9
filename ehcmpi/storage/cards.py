"""SQL side of the electronic health card service (guideline §4.2.2, §4.2.3).

``SqlCardRepository`` (account lifecycle and history) and ``SqlQrRecordRepository`` (QR
records, their query and summary) work inside a unit of work.  ``SqlQrStore`` is the
verification hot path outside one: a read of the terminal and the account in one statement,
and for a dynamic code one atomic upsert of its use counter::

    INSERT INTO qr_uses … VALUES (key, 1, expires) ON CONFLICT (code_key)
        DO UPDATE SET uses = qr_uses.uses + 1 WHERE qr_uses.uses < :max RETURNING uses

No row comes back once the code has ``max`` uses, so the limit holds exactly however many
processes verify the same code at once (PostgreSQL locks the row; SQLite serialises writers).
On PostgreSQL the read and the upsert are one statement (``PG_LOOKUP_AND_USE``) on the
autocommit pool: one round trip, which is its own transaction.  On SQLite they are two.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from ehcmpi.core.card_types import (
    OK,
    AccountAction,
    AccountEvent,
    DeviceStatus,
    QrEvent,
    QrLookup,
    QrRecord,
    QrUse,
    RecordQuery,
    SummaryKey,
    SummaryRow,
)
from ehcmpi.core.model import EhcAccount, EhcAccountStatus, EhcCardKind
from ehcmpi.storage.card_tables import ehc_account_events, qr_records, qr_uses, reader_terminals
from ehcmpi.storage.engine import write_options
from ehcmpi.storage.records import account_from_row
from ehcmpi.storage.rows import aware
from ehcmpi.storage.tables import Timestamp, ehc_accounts

_a, _e, _r, _u = ehc_accounts.c, ehc_account_events.c, qr_records.c, qr_uses.c


class SqlCardRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def of_patient(self, mpi_id: str) -> list[EhcAccount]:
        stmt = sa.select(ehc_accounts).where(_a.mpi_id == mpi_id).order_by(_a.issued_at)
        return [account_from_row(row) for row in self._conn.execute(stmt)]

    def change(self, account: EhcAccount, expected: EhcAccountStatus) -> bool:
        stmt = (
            ehc_accounts.update()
            .where(_a.ehc_id == account.ehc_id, _a.status == expected.value)
            .values(
                status=account.status.value, kind=account.kind.value, issued_at=account.issued_at
            )
        )
        return self._conn.execute(stmt).rowcount == 1

    def add_event(self, event: AccountEvent) -> None:
        self._conn.execute(
            ehc_account_events.insert().values(
                ehc_id=event.ehc_id,
                action=event.action.value,
                from_status=event.from_status.value if event.from_status else None,
                to_status=event.to_status.value,
                kind=event.kind.value,
                reason=event.reason,
                actor=event.actor,
                at=event.at,
            )
        )

    def events(self, ehc_id: str) -> list[AccountEvent]:
        stmt = sa.select(ehc_account_events).where(_e.ehc_id == ehc_id).order_by(_e.id)
        return [
            AccountEvent(
                row.ehc_id,
                AccountAction(row.action),
                EhcAccountStatus(row.from_status) if row.from_status else None,
                EhcAccountStatus(row.to_status),
                EhcCardKind(row.kind),
                row.reason,
                row.actor,
                aware(row.at),
            )
            for row in self._conn.execute(stmt)
        ]


def _fit(value: str | None, length: int) -> str | None:
    return value.replace("\x00", "\ufffd")[:length] if value is not None else None


RECORD_INSERT = qr_records.insert()
RECORD_COLUMNS = ("at", "event", "outcome", "ehc_id", "mpi_id", "dynamic", "terminal", "app",
                  "care_step", "channel", "actor")  # fmt: skip
RECORD_COPY = f"COPY qr_records ({', '.join(RECORD_COLUMNS)}) FROM STDIN"


def _day(dialect: str, offset_hours: int) -> sa.ColumnElement[Any]:
    """The record's calendar day in the reporting time zone (UTC + offset), as YYYY-MM-DD."""
    if dialect == "postgresql":
        local = sa.func.timezone("UTC", _r.at) + sa.func.make_interval(0, 0, 0, 0, offset_hours)
        return sa.func.to_char(local, "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", _r.at, f"{offset_hours:+d} hours")


def _group(key: SummaryKey, dialect: str, offset_hours: int) -> sa.ColumnElement[Any]:
    if key is SummaryKey.DAY:
        return _day(dialect, offset_hours)
    column = {
        SummaryKey.TERMINAL: _r.terminal,
        SummaryKey.OUTCOME: _r.outcome,
        SummaryKey.CARE_STEP: _r.care_step,
        SummaryKey.CHANNEL: _r.channel,
    }[key]
    return sa.func.coalesce(column, "-")


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


class SqlQrRecordRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, records: Sequence[QrRecord]) -> None:
        rows = [
            (
                r.at, r.event.value, r.outcome, _fit(r.ehc_id, 512), _fit(r.mpi_id, 64),
                r.dynamic, _fit(r.terminal, 64), _fit(r.app, 64), _fit(r.care_step, 32),
                _fit(r.channel, 32), _fit(r.actor, 200),
            )
            for r in records
        ]  # fmt: skip
        if not rows:
            return
        if self._conn.dialect.name != "postgresql":
            self._conn.execute(
                RECORD_INSERT, [dict(zip(RECORD_COLUMNS, r, strict=True)) for r in rows]
            )
            return
        # COPY: a few microseconds a row where an INSERT costs tens (a busy server writes
        # thousands of records a second), in this unit of work's transaction.
        raw = self._conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(RECORD_COPY) as copy:
            for row in rows:
                copy.write_row(row)

    def query(self, query: RecordQuery) -> list[QrRecord]:
        stmt = sa.select(qr_records).order_by(_r.id.desc()).limit(query.limit)
        filters = {
            _r.event: query.event.value if query.event else None,
            _r.terminal: query.terminal,
            _r.ehc_id: query.ehc_id,
            _r.outcome: query.outcome,
        }
        for column, value in filters.items():
            if value is not None:
                stmt = stmt.where(column == value)
        if query.since is not None:
            stmt = stmt.where(_r.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(_r.at < query.until)
        if query.failures_only:
            stmt = stmt.where(_r.outcome != OK)
        return [
            QrRecord(
                at=aware(row.at),
                event=QrEvent(row.event),
                outcome=row.outcome,
                channel=row.channel,
                actor=row.actor,
                ehc_id=row.ehc_id,
                mpi_id=row.mpi_id,
                dynamic=row.dynamic,
                terminal=row.terminal,
                app=row.app,
                care_step=row.care_step,
            )
            for row in self._conn.execute(stmt)
        ]

    def summary(
        self, since: dt.datetime, until: dt.datetime, key: SummaryKey, utc_offset_hours: int
    ) -> list[SummaryRow]:
        group = _group(key, self._conn.dialect.name, utc_offset_hours).label("key")
        verify = _r.event == QrEvent.VERIFY.value
        stmt = (
            sa.select(
                group,
                _count(_r.event == QrEvent.GENERATE.value),
                _count(verify),
                _count(sa.and_(verify, _r.outcome == OK)),
                _count(_r.outcome != OK),
            )
            .where(_r.at >= since, _r.at < until)
            .group_by(group)
            .order_by(group)
        )
        return [
            SummaryRow(str(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
            for row in self._conn.execute(stmt)
        ]

    def purge_uses(self, before: dt.datetime) -> int:
        return int(self._conn.execute(qr_uses.delete().where(_u.expires_at < before)).rowcount)


_terminal_status = (
    sa.select(reader_terminals.c.status)
    .where(reader_terminals.c.code == sa.bindparam("terminal"))
    .scalar_subquery()
)
_one = sa.select(sa.literal(1).label("one")).subquery("q")
#: The terminal's status and the account, in one round trip (no account: NULL columns).
LOOKUP = sa.select(
    _terminal_status.label("terminal"),
    _a.ehc_id,
    _a.mpi_id,
    _a.doc_type,
    _a.status,
    _a.kind,
    _a.issued_at,
).select_from(_one.outerjoin(ehc_accounts, _a.ehc_id == sa.bindparam("ehc_id")))


def _use_statement(dialect: str) -> sa.Insert:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    insert = module.insert(qr_uses).values(
        code_key=sa.bindparam("key"),
        uses=1,
        expires_at=sa.bindparam("expires", type_=Timestamp),
    )
    stmt: sa.Insert = insert.on_conflict_do_update(
        index_elements=[_u.code_key],
        set_={"uses": _u.uses + 1},
        where=_u.uses < sa.bindparam("max_uses"),
    ).returning(_u.uses)
    return stmt


#: PostgreSQL, on the raw psycopg connection of the autocommit pool with server-side prepared
#: statements: a verification is the hot path, and SQLAlchemy's per-statement overhead would
#: be most of its cost.  One statement each, one round trip each.
PG_LOOKUP = """
SELECT (SELECT status FROM reader_terminals WHERE code = %(terminal)s) AS terminal,
       a.ehc_id, a.mpi_id, a.doc_type, a.status, a.kind, a.issued_at, NULL::integer AS uses
FROM (SELECT 1) AS q LEFT JOIN ehc_accounts AS a ON a.ehc_id = %(ehc_id)s
"""
#: The lookup and the conditional count together.  The count is taken only for an active
#: terminal and a normal account; its commit does not wait for the WAL flush
#: (``synchronous_commit`` off for this transaction only, as SQLite's ``synchronous=NORMAL``
#: in WAL mode does for every commit here): a database crash may forget the uses counted in
#: its last fraction of a second, never more.
PG_LOOKUP_AND_USE = """
WITH t AS (SELECT status FROM reader_terminals WHERE code = %(terminal)s),
a AS (
    SELECT ehc_id, mpi_id, doc_type, status, kind, issued_at
    FROM ehc_accounts WHERE ehc_id = %(ehc_id)s
),
u AS (
    INSERT INTO qr_uses (code_key, uses, expires_at)
    SELECT %(key)s, 1, %(expires)s
    WHERE EXISTS (SELECT 1 FROM t WHERE status = 'active')
      AND EXISTS (SELECT 1 FROM a WHERE status = 'normal')
      AND set_config('synchronous_commit', 'off', true) IS NOT NULL
    ON CONFLICT (code_key) DO UPDATE SET uses = qr_uses.uses + 1
        WHERE qr_uses.uses < %(max_uses)s
    RETURNING uses
)
SELECT (SELECT status FROM t) AS terminal, a.ehc_id, a.mpi_id, a.doc_type, a.status, a.kind,
       a.issued_at, (SELECT uses FROM u) AS uses
FROM (SELECT 1) AS q LEFT JOIN a ON true
"""


def _lookup(row: Sequence[Any], counted: bool | None) -> QrLookup:
    """(terminal status, ehc_id, mpi_id, doc_type, status, kind, issued_at, …) → lookup."""
    terminal, ehc_id, mpi_id, doc_type, status, kind, issued_at = row[:7]
    account = None
    if ehc_id is not None:
        account = EhcAccount(
            ehc_id, mpi_id, doc_type, EhcAccountStatus(status), EhcCardKind(kind),
            aware(issued_at),
        )  # fmt: skip
    return QrLookup(DeviceStatus(terminal) if terminal else None, account, counted)


class SqlQrStore:
    """``ehcmpi.core.ports.QrStore`` on a write engine and its read (autocommit) engine."""

    def __init__(self, engine: Engine, read_engine: Engine) -> None:
        self._engine = engine
        self._read = read_engine
        self._postgres = engine.dialect.name == "postgresql"
        self._use = _use_statement(engine.dialect.name)

    def lookup(self, terminal: str, ehc_id: str | None, use: QrUse | None = None) -> QrLookup:
        params: dict[str, Any] = {"terminal": terminal, "ehc_id": ehc_id}
        if self._postgres:
            return self._pg_lookup(params, use)
        with self._read.connect() as conn:
            found = _lookup(conn.execute(LOOKUP, params).one(), None)
        if use is None or found.terminal is not DeviceStatus.ACTIVE or found.account is None:
            return found
        if found.account.status is not EhcAccountStatus.NORMAL:
            return found
        return QrLookup(found.terminal, found.account, self._count(use))

    def _pg_lookup(self, params: dict[str, Any], use: QrUse | None) -> QrLookup:
        if use is not None:
            params.update(key=use.code_key, expires=use.expires_at, max_uses=use.max_uses)
        proxy = self._read.raw_connection()
        try:
            conn = proxy.driver_connection
            assert conn is not None
            sql = PG_LOOKUP if use is None else PG_LOOKUP_AND_USE
            row = conn.execute(sql, params, prepare=True).fetchone()
        except BaseException:
            proxy.invalidate()  # a broken or interrupted connection must not go back
            raise
        finally:
            proxy.close()
        assert row is not None
        return _lookup(row, None if use is None else row[7] is not None)

    def _count(self, use: QrUse) -> bool:
        params = {"key": use.code_key, "expires": use.expires_at, "max_uses": use.max_uses}
        with self._engine.connect() as conn:
            conn = conn.execution_options(**write_options(self._engine))
            with conn.begin():
                return conn.execute(self._use, params).first() is not None
