"""SQL implementation of the patient repository port (``ehcmpi.core.ports``).

Protection at rest happens here (guideline §6.3): document and phone numbers are written as
SM4-GCM ciphertext with an HMAC-SM3 blind index, version snapshots as ciphertext.  Inserts
that must be unique use insert-on-conflict-do-nothing and report a lost race as ``False``.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ehcmpi.core.links import LinkState
from ehcmpi.core.model import (
    Demographics,
    FuzzyQuery,
    IdentifierKey,
    IdentityDocument,
    KeyKind,
    PatientRecord,
    PatientStatus,
    PatientVersion,
    SourceIdentifier,
)
from ehcmpi.core.search import PatientSearch, SearchRows
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.storage import codec
from ehcmpi.storage.driver import rows_together, run_together
from ehcmpi.storage.patient_sql import (
    ACCOUNTS_OF,
    ACTIVE_PAGE,
    BY_ACCOUNT,
    BY_INVALID_DOCUMENT,
    CHILD_ROWS,
    CHILDREN_OF,
    DOCUMENT_INSERT,
    EACH_WITH_CHILDREN,
    MOVE_DOCUMENT,
    OWNER,
    OWNER_WITH_CHILDREN,
    PATIENT_INSERT,
    PATIENT_ROWS,
    PATIENT_UPDATE,
    PATIENT_WITH_CHILDREN,
    PHONES_DELETE,
    PHONES_INSERT,
    SOURCE_INSERT,
    VERSION_INSERT,
)
from ehcmpi.storage.rows import (
    aware,
    insert_ignoring,
    insert_ignoring_conflicts,
    insert_ignoring_for_new,
    now,
)
from ehcmpi.storage.search import ids_only, keyset, maiden_keys, name_keys, search_rows
from ehcmpi.storage.tables import (
    account_numbers,
    patient_documents,
    patient_phones,
    patient_versions,
    patients,
    source_identifiers,
)
from ehcmpi.terminology.pinyin import has_cjk, pinyin_key

DOC_CONTEXT = "document.number"
PHONE_CONTEXT = "patient.phone"
SNAPSHOT_CONTEXT = "patient.snapshot"
PHONE_KIND = "patient.phone"
# Upper bound of a prefix range: the highest code point, so that names with 生僻字 outside the
# Basic Multilingual Plane (CJK Extension B and later, U+20000…) still fall inside the range.
PREFIX_END = "\U0010ffff"


def document_kind(doc_type: str) -> str:
    return f"document.{doc_type}"


#: Source identifiers and link states of the records a read-only unit of work loaded, by
#: golden record: ``SqlLinkRepository.linked_identifiers`` answers from it, saving PIX
#: queries a round trip.  Write units of work have none (their writes would make it stale).
LinkedIds = dict[str, list[tuple[SourceIdentifier, LinkState]]]


class SqlPatientRepository:
    def __init__(
        self, conn: Connection, crypto: CryptoProvider, linked: LinkedIds | None = None
    ) -> None:
        self._conn = conn
        self._crypto = crypto
        self._linked = linked
        # Rows of records read with the identifier that found them (``find_each``), by mpi_id,
        # and the holder each identifier found: only in read-only units of work, those given
        # ``linked``, for the same reason.
        self._joined: dict[str, Sequence[Any]] | None = None if linked is None else {}
        self._found: dict[IdentifierKey, str | None] | None = None if linked is None else {}

    # --- lookups -------------------------------------------------------------------------

    def find_each(self, keys: Sequence[IdentifierKey]) -> list[str | None]:
        """The holder of each identifier, asked together.  A read-only unit of work reads each
        holder's record and children in the statement that finds it (``OWNER_WITH_CHILDREN``)
        and keeps both, for the ``get`` that nearly always follows and for the same lookup
        again: several requests' lookups are asked together, then answered one by one
        (an identifier lookup: 1 round trip, or a share of one)."""
        found = self._found if self._found is not None else {}
        asked = [k for k in dict.fromkeys(keys) if k not in found]
        finders = OWNER if self._joined is None else OWNER_WITH_CHILDREN
        queries = [(finders[k.kind], self._finder_params(k)) for k in asked]
        for key, rows in zip(asked, rows_together(self._conn, queries), strict=True):
            mpi_id = str(rows[0].mpi_id) if rows else None
            if mpi_id is not None and self._joined is not None:
                self._joined[mpi_id] = rows
            found[key] = mpi_id
        return [found[k] for k in keys]

    def _finder_params(self, key: IdentifierKey) -> dict[str, Any]:
        if key.kind is KeyKind.DOCUMENT:
            return {"bidx": self._crypto.blind_index(document_kind(key.scope), key.value)}
        if key.kind is KeyKind.SOURCE:
            return {"system": key.scope, "value": key.value}
        return {"value": key.value}

    def find_by_document(self, doc_type: str, number: str) -> str | None:
        return self.find_each([IdentifierKey(KeyKind.DOCUMENT, number, doc_type)])[0]

    def holders_of_invalid_document(self, doc_type: str, number: str) -> list[str]:
        bidx = self._crypto.blind_index(document_kind(doc_type), number)
        return [str(row[0]) for row in self._conn.execute(BY_INVALID_DOCUMENT, {"bidx": bidx})]

    def find_by_source(self, identifier: SourceIdentifier) -> str | None:
        key = IdentifierKey(KeyKind.SOURCE, identifier.value, identifier.system)
        return self.find_each([key])[0]

    def find_by_ehc_id(self, ehc_id: str) -> str | None:
        return self.find_each([IdentifierKey(KeyKind.EHC_ID, ehc_id)])[0]

    def find_by_archive_no(self, archive_no: str) -> str | None:
        return self.find_each([IdentifierKey(KeyKind.ARCHIVE_NO, archive_no)])[0]

    def get(self, mpi_id: str) -> PatientRecord | None:
        found = self._load([mpi_id])
        return found[0] if found else None

    def search(self, query: FuzzyQuery) -> list[PatientRecord]:
        c = patients.c
        stmt = sa.select(c.mpi_id).where(c.status == PatientStatus.ACTIVE.value)
        if query.name:
            name = query.name.strip()
            key = "" if has_cjk(name) else pinyin_key(name)
            # Without letters to read as pinyin ("𠀾", "123") the name is matched as typed:
            # an empty pinyin prefix would match every patient.
            column, prefix = (c.pinyin_key, key) if key else (c.name, name)
            stmt = stmt.where(column >= prefix, column < prefix + PREFIX_END)
        if query.birth_date:
            stmt = stmt.where(c.birth_date == query.birth_date)
        if query.gender:
            stmt = stmt.where(c.gender == query.gender)
        if query.phone:
            bidx = self._crypto.blind_index(PHONE_KIND, query.phone.strip())
            phones = sa.select(patient_phones.c.mpi_id).where(patient_phones.c.phone_bidx == bidx)
            stmt = stmt.where(c.mpi_id.in_(phones))
        stmt = stmt.order_by(c.pinyin_key, c.mpi_id).limit(query.limit)
        ids = [row[0] for row in self._conn.execute(stmt)]
        return self._load(ids)

    def search_page(
        self,
        search: PatientSearch,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> SearchRows:
        """PDQ / PDQm search (``storage.search``): rows, total and position in one statement."""
        only = ids_only(search)
        if only is not None and len(only[0]) == 1:  # an identifier lookup: one statement
            (mpi_id,), active = only
            found = self._load([mpi_id])
            matches = [p for p in found if (p.status is PatientStatus.ACTIVE) in active]
            return SearchRows(*keyset(matches, after, before, limit))
        phone_index = functools.partial(self._crypto.blind_index, PHONE_KIND)
        rows, total, first = search_rows(self._conn, phone_index, search, after, before, limit)
        return SearchRows(self._records(rows), total, first)

    def get_each(self, mpi_ids: Sequence[str]) -> list[PatientRecord | None]:
        """Each id's own primary-key read, sent together (several requests' reads at once);
        a record this unit of work already read with its identifier (``find_each``) is not read
        again."""
        known = self._joined or {}
        asked = [mpi_id for mpi_id in mpi_ids if mpi_id not in known]
        queries = [(PATIENT_WITH_CHILDREN, {"id": mpi_id}) for mpi_id in asked]
        read = dict(zip(asked, rows_together(self._conn, queries), strict=True))
        return [self._joined_record(known.get(i) or read[i]) for i in mpi_ids]

    def get_many(self, mpi_ids: Sequence[str]) -> list[PatientRecord]:
        """Several records in the order asked (unknown ids left out): one statement on
        PostgreSQL (a registration group's match candidates), two elsewhere."""
        return self._load(list(dict.fromkeys(mpi_ids)))

    def active_records(self, after: str | None, limit: int) -> list[PatientRecord]:
        """A keyset page (mpi_id > ``after``) for batch jobs (§4.1.1 索引定时任务)."""
        ids = [
            row[0]
            for row in self._conn.execute(ACTIVE_PAGE, {"after": after or "", "limit": limit})
        ]
        return self._load(ids)

    def count(self) -> int:
        return int(
            self._conn.execute(sa.select(sa.func.count()).select_from(patients)).scalar_one()
        )

    # --- loading -------------------------------------------------------------------------

    def _load(self, ids: Sequence[str]) -> list[PatientRecord]:
        if len(ids) == 1:  # the read of nearly every request: one statement, or none
            return [found for found in self.get_each(ids) if found is not None]
        if not ids:
            return []
        if self._conn.dialect.name == "postgresql":
            joined: dict[str, list[Any]] = defaultdict(list)
            for row in EACH_WITH_CHILDREN.rows(self._conn, {"ids": list(ids)}):
                joined[row.mpi_id].append(row)
            found = (self._joined_record(joined[i]) for i in ids if i in joined)
            return [record for record in found if record is not None]
        rows = {r.mpi_id: r for r in self._conn.execute(PATIENT_ROWS, {"ids": list(ids)})}
        return self._records([rows[i] for i in ids if i in rows])

    def _joined_record(self, joined: Sequence[Any]) -> PatientRecord | None:
        """A record from its ``PATIENT_WITH_CHILDREN`` rows (none: no such patient)."""
        children: dict[str, list[Any]] = defaultdict(list)
        for row in joined:
            if row.kind is not None:
                children[row.kind].append(row)
        return self._record(joined[0], children) if joined else None

    def _records(self, rows: Sequence[Any]) -> list[PatientRecord]:
        """Records from their ``patients`` rows, with documents, identifiers and phones."""
        if not rows:
            return []
        found = (
            CHILDREN_OF.rows(self._conn, {"id": rows[0].mpi_id})
            if len(rows) == 1
            else self._conn.execute(CHILD_ROWS, {"ids": [r.mpi_id for r in rows]})
        )
        children: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        for child in found:
            children[child.mpi_id][child.kind].append(child)
        return [self._record(r, children[r.mpi_id]) for r in rows]

    def _record(self, row: Any, children: dict[str, list[Any]]) -> PatientRecord:
        decrypt = self._crypto.decrypt_field
        if self._linked is not None:
            self._linked[row.mpi_id] = [
                (SourceIdentifier(s.t1, s.t2), LinkState(s.t3)) for s in children["s"]
            ]
        return PatientRecord(
            mpi_id=row.mpi_id,
            ehc_id=row.ehc_id,
            archive_no=row.archive_no,
            status=PatientStatus(row.status),
            parent_id=row.parent_id,
            version=row.version,
            data_quality=codec.flags_from_json(row.data_quality),
            created_at=aware(row.created_at),
            updated_at=aware(row.updated_at),
            demographics=Demographics(
                name=row.name,
                name_pinyin=row.name_pinyin,
                gender=row.gender,
                birth_date=row.birth_date,
                ethnicity=row.ethnicity,
                phones=tuple(decrypt(p.enc, PHONE_CONTEXT) for p in children["p"]),
                addresses=codec.addresses_from_json(row.addresses),
                mothers_maiden_name=row.mothers_maiden_name,
            ),
            documents=tuple(
                IdentityDocument(d.t1, decrypt(d.enc, DOC_CONTEXT), bool(d.f1), d.t2, bool(d.f2))
                for d in children["d"]
            ),
            source_ids=tuple(SourceIdentifier(s.t1, s.t2) for s in children["s"]),
        )

    # --- writes --------------------------------------------------------------------------

    def _patient_row(self, p: PatientRecord) -> dict[str, Any]:
        d = p.demographics
        return {
            "mpi_id": p.mpi_id,
            "ehc_id": p.ehc_id,
            "archive_no": p.archive_no,
            "status": p.status.value,
            "parent_id": p.parent_id,
            "name": d.name,
            "name_pinyin": d.name_pinyin,
            "pinyin_key": pinyin_key(d.name) if d.name else None,
            **name_keys(d.name),
            **maiden_keys(d.mothers_maiden_name),
            "gender": d.gender,
            "birth_date": d.birth_date,
            "ethnicity": d.ethnicity,
            "addresses": codec.addresses_to_json(d.addresses),
            "data_quality": codec.flags_to_json(p.data_quality),
            "version": p.version,
            "created_at": p.created_at or now(),
            "updated_at": p.updated_at or now(),
        }

    def _document_row(self, mpi_id: str, doc: IdentityDocument) -> dict[str, Any]:
        return {
            "mpi_id": mpi_id,
            "doc_type": doc.doc_type,
            "number_enc": self._crypto.encrypt_field(doc.number, DOC_CONTEXT),
            "number_bidx": self._crypto.blind_index(document_kind(doc.doc_type), doc.number),
            "valid": doc.valid,
            "reason": doc.reason,
            "is_primary": doc.primary,
            "created_at": now(),
        }

    def _write_phones(self, mpi_id: str, phones: tuple[str, ...]) -> None:
        rows = [
            {
                "mpi_id": mpi_id,
                "position": i,
                "phone_enc": self._crypto.encrypt_field(phone, PHONE_CONTEXT),
                "phone_bidx": self._crypto.blind_index(PHONE_KIND, phone),
            }
            for i, phone in enumerate(phones)
        ]
        PHONES_INSERT.later(self._conn, rows)

    def insert(self, patient: PatientRecord) -> bool:
        """The record and its identifiers in one round trip; each must be new (a lost race:
        False, and the caller rolls back)."""
        dialect = self._conn.dialect.name
        docs = [self._document_row(patient.mpi_id, d) for d in patient.documents]
        sids = [_sid_row(patient.mpi_id, s) for s in patient.source_ids]
        writes = [(insert_ignoring(dialect, patients, "mpi_id"), [self._patient_row(patient)])]
        writes += [
            (insert_ignoring_for_new(dialect, table, tuple(rows[0])), rows)
            for table, rows in ((patient_documents, docs), (source_identifiers, sids))
            if rows
        ]
        if run_together(self._conn, writes) != [len(rows) for _, rows in writes]:
            return False
        self._write_phones(patient.mpi_id, patient.demographics.phones)
        return True

    def insert_new(self, patient: PatientRecord) -> None:
        PATIENT_INSERT.later(self._conn, [self._patient_row(patient)])
        DOCUMENT_INSERT.later(
            self._conn, [self._document_row(patient.mpi_id, d) for d in patient.documents]
        )
        SOURCE_INSERT.later(self._conn, [_sid_row(patient.mpi_id, s) for s in patient.source_ids])
        self._write_phones(patient.mpi_id, patient.demographics.phones)

    def add_document(self, mpi_id: str, document: IdentityDocument) -> bool:
        row = self._document_row(mpi_id, document)
        return insert_ignoring_conflicts(self._conn, patient_documents, [row], "id") == 1

    def move_documents(
        self, from_mpi_id: str, to_mpi_id: str, documents: Sequence[tuple[str, str]]
    ) -> None:
        """Give the named documents to another patient (§4.1.1 索引合并/拆分).

        The rows stay as they are (ciphertext, blind index, validity, primary flag) and only
        change owner, so the one-owner-per-valid-document index is never in the way.
        """
        rows = [
            {
                "src": from_mpi_id,
                "dst": to_mpi_id,
                "dtype": doc_type,
                "bidx": self._crypto.blind_index(document_kind(doc_type), number),
            }
            for doc_type, number in documents
        ]
        if rows:
            self._conn.execute(MOVE_DOCUMENT, rows)

    def add_source_id(self, mpi_id: str, identifier: SourceIdentifier) -> bool:
        row = _sid_row(mpi_id, identifier)
        return insert_ignoring_conflicts(self._conn, source_identifiers, [row], "id") == 1

    # --- account numbers (PID-18) -----------------------------------------------------------

    def add_accounts(self, mpi_id: str, accounts: Sequence[SourceIdentifier]) -> int:
        rows = [_sid_row(mpi_id, a) for a in dict.fromkeys(accounts)]
        return insert_ignoring_conflicts(self._conn, account_numbers, rows, "id")

    def accounts_of(self, mpi_ids: Sequence[str]) -> dict[str, list[SourceIdentifier]]:
        found: dict[str, dict[SourceIdentifier, None]] = defaultdict(dict)
        if mpi_ids:
            for row in self._conn.execute(ACCOUNTS_OF, {"ids": list(mpi_ids)}):
                found[row.mpi_id][SourceIdentifier(row.system, row.value)] = None
        return {mpi_id: list(accounts) for mpi_id, accounts in found.items()}

    def find_by_account(self, value: str, system: str | None = None) -> list[str]:
        stmt = (
            BY_ACCOUNT if system is None else BY_ACCOUNT.where(account_numbers.c.system == system)
        )
        return [str(r[0]) for r in self._conn.execute(stmt, {"value": value})]

    def update(self, patient: PatientRecord, expected_version: int) -> bool:
        values = self._patient_row(patient)
        del values["mpi_id"], values["created_at"]
        where = {"of_mpi_id": patient.mpi_id, "of_version": expected_version}
        if PATIENT_UPDATE.run(self._conn, [values | where]) != 1:
            return False
        PHONES_DELETE.later(self._conn, [{"of_mpi_id": patient.mpi_id}])
        self._write_phones(patient.mpi_id, patient.demographics.phones)
        return True

    def add_version(self, version: PatientVersion) -> None:
        snapshot = self._crypto.encrypt_field(
            codec.record_to_json(version.snapshot).decode(), SNAPSHOT_CONTEXT
        )
        row = {
            "mpi_id": version.mpi_id,
            "version": version.version,
            "action": version.action,
            "actor": version.actor,
            "at": version.at,
            "snapshot_enc": snapshot,
        }
        VERSION_INSERT.later(self._conn, [row])

    def versions(self, mpi_id: str) -> list[PatientVersion]:
        c = patient_versions.c
        stmt = sa.select(patient_versions).where(c.mpi_id == mpi_id).order_by(c.version)
        return [
            PatientVersion(
                r.mpi_id,
                r.version,
                r.action,
                r.actor,
                aware(r.at),
                codec.record_from_json(
                    self._crypto.decrypt_field(r.snapshot_enc, SNAPSHOT_CONTEXT).encode()
                ),
            )
            for r in self._conn.execute(stmt)
        ]


def _sid_row(mpi_id: str, sid: SourceIdentifier) -> dict[str, Any]:
    return {"mpi_id": mpi_id, "system": sid.system, "value": sid.value, "created_at": now()}
