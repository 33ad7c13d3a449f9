"""Seed a database with many patients fast, bypassing HTTP but not the domain.

Each patient goes through the real ``RegistrationService.register`` (document check, derived
birth date/sex/pinyin, master-index ID, EHC ID, version record) with a unit of work that
*captures* what registration writes instead of executing it.  The rows are then built by the
storage layer's own row builders (``SqlPatientRepository._patient_row`` / ``_document_row``:
SM4-GCM ciphertext, HMAC-SM3 blind index, pinyin key) under the server's key file, and
written with PostgreSQL ``COPY`` by parallel worker processes (SQLite: ``executemany``).

Two checks make sure the server will find what was seeded:

- ``check_equivalence``: registering a person through the real storage path and seeding the
  same person must give the same rows (same tables and columns; equal values but for the
  IDs, timestamps and random nonces; ciphertexts compared decrypted);
- ``check_lookups``: seeded patients are found through ``QueryService.find`` (the code behind
  ``GET /fhir/Patient?identifier=``), with their EHC ID and a decryptable history.
  The HTTP lookup phase then counts every empty answer as a miss.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import pathlib
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
import workload

from ehcmpi.bootstrap import build, load_crypto
from ehcmpi.core.audit import AuditLog
from ehcmpi.core.matching.convert import golden_match_record
from ehcmpi.core.matching.online import Matcher
from ehcmpi.core.matching.rules import load_rules
from ehcmpi.core.model import (
    Actor,
    AuditEntry,
    EhcAccount,
    IdentifierKey,
    IdentityDocument,
    PatientRecord,
    PatientVersion,
)
from ehcmpi.core.registration import RegistrationService
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.settings import Settings, load_settings
from ehcmpi.storage import codec
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.links import MATCH_KEY_KIND, mpi_order
from ehcmpi.storage.patients import (
    DOC_CONTEXT,
    PHONE_CONTEXT,
    PHONE_KIND,
    SNAPSHOT_CONTEXT,
    SqlPatientRepository,
)
from ehcmpi.storage.records import account_row
from ehcmpi.storage.tables import metadata

ACTOR = Actor("bench:seed", channel="api")
CHUNK = 10_000
Rows = dict[str, list[dict[str, Any]]]


# --- capturing what registration writes ------------------------------------------------------


class _CapturedPatients(SqlPatientRepository):
    """The storage layer's row builders, with rows collected instead of executed."""

    def __init__(self, crypto: CryptoProvider, rows: Rows) -> None:
        super().__init__(None, crypto)  # type: ignore[arg-type]  # never touches a connection
        self._rows = rows
        self._matcher = Matcher(load_rules())

    def find_each(self, keys: Sequence[IdentifierKey]) -> list[str | None]:
        return [None] * len(keys)  # seeded numbers are unique by construction

    def insert(self, patient: PatientRecord) -> bool:
        self._rows["patients"].append(self._patient_row(patient))
        self._rows["patient_documents"] += [
            self._document_row(patient.mpi_id, d) for d in patient.documents
        ]
        self._rows["source_identifiers"] += [
            {"mpi_id": patient.mpi_id, "system": s.system, "value": s.value, "created_at": _now()}
            for s in patient.source_ids
        ]
        self._rows["patient_phones"] += [
            {
                "mpi_id": patient.mpi_id,
                "position": i,
                "phone_enc": self._crypto.encrypt_field(phone, PHONE_CONTEXT),
                "phone_bidx": self._crypto.blind_index(PHONE_KIND, phone),
            }
            for i, phone in enumerate(patient.demographics.phones)
        ]
        # What registration's matcher indexes (Linker.refresh → Matcher.index): the
        # blocking keys of the new golden record, as blind indexes.
        order = mpi_order(patient.mpi_id)
        self._rows["match_keys"] += [
            {"mpi_id": patient.mpi_id, "key_bidx": bidx, "mpi_order": order}
            for bidx in dict.fromkeys(
                self._crypto.blind_index(MATCH_KEY_KIND, key)
                for key in self._matcher.keys(golden_match_record(patient))
            )
        ]
        return True

    def add_document(self, mpi_id: str, document: IdentityDocument) -> bool:
        raise AssertionError("a seeded patient is always new")

    def add_version(self, version: PatientVersion) -> None:
        snapshot = codec.record_to_json(version.snapshot).decode()
        self._rows["patient_versions"].append(
            {
                "mpi_id": version.mpi_id,
                "version": version.version,
                "action": version.action,
                "actor": version.actor,
                "at": version.at,
                "snapshot_enc": self._crypto.encrypt_field(snapshot, SNAPSHOT_CONTEXT),
            }
        )


class _CapturedAccounts:
    def __init__(self, rows: Rows) -> None:
        self._rows = rows

    def add(self, account: EhcAccount) -> bool:
        self._rows["ehc_accounts"].append(account_row(account))
        return True

    def issue(self, account: EhcAccount) -> None:
        self.add(account)


class _NoAudit:
    def record(self, entry: AuditEntry) -> None:
        pass  # seeding is not a service call


class _CapturingUnitOfWork:
    def __init__(self, crypto: CryptoProvider, rows: Rows) -> None:
        self.patients = _CapturedPatients(crypto, rows)
        self.accounts = _CapturedAccounts(rows)
        self.audit = _NoAudit()

    def __enter__(self) -> _CapturingUnitOfWork:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def commit(self) -> None:
        pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RowMaker:
    """Registers patients through the real service into a capturing unit of work."""

    def __init__(self, settings: Settings) -> None:
        crypto = load_crypto(settings)
        self.rows: Rows = {t: [] for t in metadata.tables}
        uow = _CapturingUnitOfWork(crypto, self.rows)
        factory: Callable[..., Any] = lambda **_: uow  # noqa: E731
        self._service = RegistrationService(
            factory, crypto, AuditLog(factory), node_code=settings.node.code
        )

    def make(self, start: int, stop: int) -> Rows:
        for table in self.rows.values():
            table.clear()
        for index in range(start, stop):
            self._service.register(workload.registration_request(index), ACTOR)
        return {t: rows for t, rows in self.rows.items() if rows}


# --- writing ---------------------------------------------------------------------------------


def _copy(conn: psycopg.Connection[Any], table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    with conn.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _order(rows: Rows) -> list[str]:
    return [t.name for t in metadata.sorted_tables if t.name in rows]


def _pg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


_worker: dict[str, Any] = {}


def _init_worker(config: str) -> None:
    settings = load_settings(config)
    _worker["maker"] = RowMaker(settings)
    _worker["conn"] = psycopg.connect(_pg_url(settings.database.url), autocommit=True)
    # A bulk load: no WAL flush per chunk, and no foreign-key trigger per row (every chunk
    # writes its patients before their documents, phones, versions and accounts).
    _worker["conn"].execute("SET synchronous_commit = off")
    _worker["conn"].execute("SET session_replication_role = replica")


def _seed_chunk(bounds: tuple[int, int]) -> int:
    rows = _worker["maker"].make(*bounds)
    conn = _worker["conn"]
    with conn.transaction():
        for table in _order(rows):
            _copy(conn, table, rows[table])
    return bounds[1] - bounds[0]


def _chunks(start: int, stop: int) -> Iterator[tuple[int, int]]:
    for a in range(start, stop, CHUNK):
        yield a, min(stop, a + CHUNK)


def seed(
    config: pathlib.Path,
    start: int,
    stop: int,
    *,
    processes: int,
    progress: Callable[[int, float], None],
) -> float:
    """Seed patients ``start … stop-1``; the seconds it took."""
    settings = load_settings(str(config))
    began = time.perf_counter()
    done = 0
    if settings.database.url.startswith("sqlite"):
        engine = create_database_engine(settings.database.url)
        maker = RowMaker(settings)
        try:
            for bounds in _chunks(start, stop):
                rows = maker.make(*bounds)
                with engine.begin() as conn:
                    for table in _order(rows):
                        conn.execute(metadata.tables[table].insert(), rows[table])
                done += bounds[1] - bounds[0]
                progress(done, time.perf_counter() - began)
        finally:
            engine.dispose()
        return time.perf_counter() - began
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, _init_worker, (str(config),)) as pool:
        for n in pool.imap_unordered(_seed_chunk, _chunks(start, stop)):
            done += n
            progress(done, time.perf_counter() - began)
    return time.perf_counter() - began


def vacuum_analyze(config: pathlib.Path) -> float:
    """``VACUUM ANALYZE`` and ``CHECKPOINT`` after a bulk load, as autovacuum would get to."""
    settings = load_settings(str(config))
    began = time.perf_counter()
    if settings.database.url.startswith("sqlite"):
        engine = create_database_engine(settings.database.url)
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        engine.dispose()
    else:
        with psycopg.connect(_pg_url(settings.database.url), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
            conn.execute("CHECKPOINT")
    return time.perf_counter() - began


# --- checks ----------------------------------------------------------------------------------


VOLATILE = {"mpi_id", "ehc_id", "id", "created_at", "updated_at", "issued_at", "at", "actor"}
ENCRYPTED = {
    "number_enc": DOC_CONTEXT,
    "phone_enc": PHONE_CONTEXT,
    "snapshot_enc": SNAPSHOT_CONTEXT,
}


def _comparable(crypto: CryptoProvider, table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A row without what differs between two registrations of the same person (IDs, times,
    random nonces): ciphertexts are compared decrypted, snapshots without IDs and times."""
    out: dict[str, Any] = {}
    for column, value in row.items():
        if column in VOLATILE:
            out[column] = value is not None
        elif column == "mpi_order":  # derived from the ID, which differs: derived alike?
            out[column] = value == mpi_order(row["mpi_id"])
        elif column in ENCRYPTED:
            plain = crypto.decrypt_field(value, ENCRYPTED[column])
            if column == "snapshot_enc":
                snap = orjson.loads(plain)
                plain = {k: v for k, v in snap.items() if k not in VOLATILE}
            out[column] = plain
        else:
            out[column] = value
    return out


def _rows_of(conn: sa.Connection, mpi_id: str) -> Rows:
    found: Rows = {}
    for table in metadata.sorted_tables:
        if "mpi_id" in table.c:
            stmt = sa.select(table).where(table.c.mpi_id == mpi_id)
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
            if rows:
                found[table.name] = rows
    return found


def check_equivalence(config: pathlib.Path, index: int) -> None:
    """Seeding a person writes what registering that person writes: same tables, same
    columns, same values (blind indexes, pinyin key, decrypted numbers and snapshot…) except
    the master-index ID, EHC ID, timestamps and nonces."""
    settings = load_settings(str(config))
    container = build(settings)
    try:
        real = container.registration.register(workload.registration_request(index), ACTOR)
        with container.engine.connect() as conn:
            written = _rows_of(conn, real.patient.mpi_id)
        seeded = RowMaker(settings).make(index, index + 1)
        crypto = container.crypto
        for rows in (written, seeded):
            for table, table_rows in rows.items():
                full = {c.name: None for c in metadata.tables[table].c if c.name != "id"}
                rows[table] = [_comparable(crypto, table, {**full, **r}) for r in table_rows]
                for r in rows[table]:
                    r.pop("id", None)
    finally:
        container.close()
    if written != seeded:
        raise RuntimeError(
            "seeded rows differ from what registration writes; update bench/seed.py\n"
            f"  registered: {written}\n  seeded:     {seeded}"
        )


def check_lookups(config: pathlib.Path, start: int, stop: int, samples: int = 200) -> None:
    """Seeded patients are found by ID card number, with EHC ID and readable history."""
    container = build(load_settings(str(config)))
    rng = random.Random(os.getpid())
    try:
        for index in rng.sample(range(start, stop), min(samples, stop - start)):
            person = workload.person(index)
            found = container.query.find(workload.CITIZEN_ID_SYSTEM, person.id_number, ACTOR)
            if found is None or found.demographics.name != person.name or not found.ehc_id:
                raise RuntimeError(f"seeded patient {index} not found by its ID card number")
            if not container.query.history(found.mpi_id, ACTOR):
                raise RuntimeError(f"seeded patient {index} has no readable history")
    finally:
        container.close()
