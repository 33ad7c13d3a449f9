"""§6.3 数据存储安全: no ID or phone number in plaintext anywhere in the database."""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.core.model import Demographics, DocumentInput, FuzzyQuery, RegistrationMode
from ehcmpi.crypto.keys import init_keyfile
from ehcmpi.crypto.software import SoftwareCryptoProvider
from ehcmpi.settings import ConfigError, Settings
from ehcmpi.storage.patients import document_kind
from ehcmpi.storage.tables import metadata, patient_documents
from ehcmpi.terminology.systems import ID_CARD_SYSTEM
from tests.core.support import (
    CLERK,
    ZHANG_WEI_ID,
    citizen_id,
    his,
    request,
    with_bad_check_digit,
)
from tests.support import with_key_file

PHONE = "13812345678"
SECOND_PHONE = "15987654321"
PASSPORT = "E87654321"
OFFICER = "南字第7654321号"
FEED_ID = with_bad_check_digit(citizen_id("330106", dt.date(1977, 7, 7), 77))
LEGACY_15 = "320102770808351"  # added later to a record that had no document
LEGACY_18 = citizen_id("320102", dt.date(1977, 8, 8), 351)

SECRETS = (ZHANG_WEI_ID, PHONE, SECOND_PHONE, PASSPORT, OFFICER, FEED_ID, LEGACY_15, LEGACY_18)


def _dump(engine: Engine) -> str:
    """Every row of every table as text, byte columns decoded as leniently as possible."""
    parts: list[str] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                parts.append(str(tuple(row)))
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        parts.append(raw.decode("utf-8", errors="ignore"))
                        parts.append(raw.decode("latin-1"))
    return "\n".join(parts)


def _populate(container: Container) -> str:
    """Registrations, a feed with a bad number, updates and lookups; returns 张伟's mpi_id."""
    zhang = container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), ("03", PASSPORT), phones=(PHONE,)), CLERK
    ).patient
    container.registration.register(request("刘军", ("04", OFFICER)), CLERK)
    container.registration.register(
        request("陈明", ("01", FEED_ID), mode=RegistrationMode.FEED, phones=(PHONE,)), CLERK
    )
    no_doc = container.registration.register(request("王强", sources=(his("H-5"),)), CLERK)
    container.maintenance.add_documents(
        no_doc.patient.mpi_id, [DocumentInput("01", LEGACY_15)], CLERK
    )
    container.maintenance.update_demographics(
        zhang.mpi_id, Demographics(name="张伟", phones=(PHONE, SECOND_PHONE)), CLERK
    )
    container.query.find(ID_CARD_SYSTEM, ZHANG_WEI_ID, CLERK)
    container.query.search(FuzzyQuery(phone=PHONE), CLERK)
    container.audit.flush()
    return zhang.mpi_id


def test_no_document_or_phone_number_is_stored_in_plaintext(
    container: Container, engine: Engine
) -> None:
    mpi_id = _populate(container)

    dump = _dump(engine)

    assert mpi_id in dump and "张伟" in dump  # the dump really holds the records
    leaked = [secret for secret in SECRETS if secret in dump]
    assert leaked == []
    # …while the service still reads them back.
    zhang = container.query.get(mpi_id, CLERK)
    assert {d.number for d in zhang.documents} == {ZHANG_WEI_ID, PASSPORT}
    assert zhang.demographics.phones == (PHONE, SECOND_PHONE)
    history = container.query.history(mpi_id, CLERK)
    assert history[0].snapshot.demographics.phones == (PHONE,)


def test_blind_index_depends_on_the_key(
    container: Container, settings: Settings, engine: Engine, tmp_path: pathlib.Path
) -> None:
    container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    other_key = tmp_path / "other.key"
    init_keyfile(other_key)
    other = SoftwareCryptoProvider.from_keyfile(other_key)
    kind = document_kind("01")

    with engine.connect() as conn:
        stored = bytes(conn.execute(sa.select(patient_documents.c.number_bidx)).scalar_one())

    assert stored == container.crypto.blind_index(kind, ZHANG_WEI_ID)
    assert other.blind_index(kind, ZHANG_WEI_ID) != stored
    assert len(stored) == 32
    # A server holding another key file would not find the patient by ID number: it is
    # refused before it serves (storage.key_check).
    with pytest.raises(ConfigError, match="密钥与数据库不匹配"):
        build(with_key_file(settings, other_key), engine=engine)
    assert container.query.find(ID_CARD_SYSTEM, ZHANG_WEI_ID, CLERK) is not None
