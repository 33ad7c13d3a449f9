"""The database keeps to the key set it was set up with (guideline §4.6 密钥管理, §6.3 数据安全).

Document numbers and phones are found by HMAC-SM3 blind indexes and EHC IDs are derived from
the root key: under another key file — a restore onto a new machine without the old key file,
``keys init`` run again, a wrong ``[keys] file`` — no returning patient is found and each is
given a second record and a second EHC ID, while nothing looks wrong.  :func:`check_keys`
runs before anything is served:

- the first start writes the key set's id and check value (``ehcmpi.crypto.check``) into
  ``key_checks``, insert-on-conflict, so two processes starting at once keep the same row;
- every later start compares, and other keys are refused with :class:`KeyMismatch`;
- a database that has data but no row yet (set up before migration 0012) gets its row only
  if a stored document (or phone) opens with these keys and its blind index matches.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ehcmpi.crypto.check import check_value
from ehcmpi.crypto.errors import CryptoError
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.storage.engine import write_options
from ehcmpi.storage.patients import DOC_CONTEXT, PHONE_CONTEXT, PHONE_KIND, document_kind
from ehcmpi.storage.rows import insert_ignoring_conflicts, now
from ehcmpi.storage.tables import key_checks, patient_documents, patient_phones

log = logging.getLogger(__name__)
#: the one row's name
KEY_SET = "keys"


class KeyMismatch(Exception):
    """The keys given are not the keys this database was set up with."""


def check_keys(engine: Engine, crypto: CryptoProvider) -> None:
    """Return if the database belongs to ``crypto``'s key set (recording it on first use);
    raise :class:`KeyMismatch` with one line naming both key sets otherwise."""
    value = check_value(crypto)
    with engine.connect() as conn:
        stored = _stored(conn)
    key_id, stored_value = stored or _record(engine, crypto, value)
    if stored_value != value:
        raise KeyMismatch(
            f"密钥与数据库不匹配：数据库由密钥集 {key_id} 建立，当前为 {crypto.key_id}，"
            "请使用该数据库原来的密钥文件或 HSM "
            f"(the keys do not match this database: it was set up with key set {key_id}, "
            f"these are {crypto.key_id}; use its original key file or HSM)"
        )


def _record(engine: Engine, crypto: CryptoProvider, value: bytes) -> tuple[str, bytes]:
    """The first start's row, written unless another process wrote it first: the row that
    won, either way (on SQLite in a ``BEGIN IMMEDIATE`` transaction, so that two processes
    starting at once wait for each other instead of failing)."""
    with engine.connect() as conn:
        if options := write_options(engine):
            conn = conn.execution_options(**options)
        with conn.begin():
            stored = _stored(conn)
            if stored is None:
                _vouch_for_existing_data(conn, crypto)
                row = {
                    "name": KEY_SET,
                    "key_id": crypto.key_id,
                    "check_value": value,
                    "created_at": now(),
                }
                if insert_ignoring_conflicts(conn, key_checks, [row], "name"):
                    log.info("数据库已绑定密钥集 (database bound to key set) %s", crypto.key_id)
                stored = _stored(conn)
    assert stored is not None
    return stored


def _stored(conn: Connection) -> tuple[str, bytes] | None:
    c = key_checks.c
    row = conn.execute(
        key_checks.select().with_only_columns(c.key_id, c.check_value).where(c.name == KEY_SET)
    ).first()
    return None if row is None else (row.key_id, bytes(row.check_value))


def _vouch_for_existing_data(conn: Connection, crypto: CryptoProvider) -> None:
    """Refuse keys under which a stored document (or, without documents, a stored phone) does
    not open or is not found by its blind index."""
    d, p = patient_documents.c, patient_phones.c
    document = conn.execute(sa.select(d.doc_type, d.number_enc, d.number_bidx).limit(1)).first()
    if document is not None:
        kind, context, sealed, index = document_kind(document[0]), DOC_CONTEXT, *document[1:]
    elif phone := conn.execute(sa.select(p.phone_enc, p.phone_bidx).limit(1)).first():
        kind, context, sealed, index = PHONE_KIND, PHONE_CONTEXT, *phone
    else:
        return  # nothing stored under any key yet
    try:
        found = crypto.blind_index(kind, crypto.decrypt_field(bytes(sealed), context))
    except CryptoError:
        found = None
    if found != bytes(index):
        raise KeyMismatch(
            f"密钥与数据库不匹配：库中已有的数据无法用密钥集 {crypto.key_id} 解密或检索，"
            "请使用该数据库原来的密钥文件或 HSM "
            f"(the keys do not match this database: its stored data does not open with "
            f"key set {crypto.key_id}; use its original key file or HSM)"
        )
