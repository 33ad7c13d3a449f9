"""§4.1.1 索引合并 / 索引拆分: merge, split, the round trip, the EHC ID following its document."""

from __future__ import annotations

import datetime as dt

import pytest

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import ConflictError
from ehcmpi.core.links import LinkOrigin, LinkState
from ehcmpi.core.model import PatientRecord, PatientStatus, RegistrationMode
from tests.core.support import (
    ADMIN,
    CLERK,
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    citizen_id,
    his,
    lis,
    request,
)

FEED = RegistrationMode.FEED
OTHER_ID = citizen_id("310101", dt.date(1980, 3, 4), 21)


def _get(container: Container, mpi_id: str) -> PatientRecord:
    with container.uow() as uow:
        patient = uow.patients.get(mpi_id)
    assert patient is not None
    return patient


def _two_records(container: Container) -> tuple[PatientRecord, PatientRecord]:
    a = container.registration.register(
        request(
            "张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), phones=("13800138000",), mode=FEED
        ),
        CLERK,
    ).patient
    b = container.registration.register(
        request(
            "王芳", ("01", OTHER_ID), sources=(lis("L-1"),), phones=("13700137000",), mode=FEED
        ),
        CLERK,
    ).patient
    return a, b


def _essentials(p: PatientRecord) -> tuple[object, ...]:
    return (
        p.status,
        p.ehc_id,
        p.demographics.name,
        p.demographics.phones,
        sorted((d.doc_type, d.number) for d in p.documents),
        sorted(p.source_ids, key=str),
        p.parent_id,
    )


def test_merge_moves_sources_documents_and_ehc_accounts(linked: Container) -> None:
    a, b = _two_records(linked)
    survivor = linked.merges.merge(a.mpi_id, b.mpi_id, ADMIN, reason="same person")
    assert {(d.doc_type, d.number) for d in survivor.documents} == {
        ("01", ZHANG_WEI_ID),
        ("01", OTHER_ID),
    }
    assert set(survivor.source_ids) == {his("H-1"), lis("L-1")}
    assert survivor.ehc_id == a.ehc_id
    retired = _get(linked, b.mpi_id)
    assert (retired.status, retired.parent_id, retired.ehc_id) == (
        PatientStatus.MERGED,
        a.mpi_id,
        None,
    )
    with linked.uow() as uow:
        assert b.ehc_id is not None
        account = uow.accounts.get(b.ehc_id)
        assert account is not None and account.mpi_id == a.mpi_id
        moved = uow.links.get_source(lis("L-1"))
        assert moved is not None and moved.origin is LinkOrigin.MANUAL
        assert uow.patients.find_by_document("01", OTHER_ID) == a.mpi_id
        assert [e.kind for e in uow.links.events(source=lis("L-1"))][-1] == "MERGE"
    found = linked.query.find("urn:oid:2.16.156.10011.1.3", OTHER_ID, CLERK)
    assert found is not None and found.mpi_id == a.mpi_id


def test_split_after_merge_restores_both_records(linked: Container) -> None:
    a, b = _two_records(linked)
    before = _essentials(_get(linked, a.mpi_id)), _essentials(_get(linked, b.mpi_id))
    linked.merges.merge(a.mpi_id, b.mpi_id, ADMIN)
    restored = linked.merges.split(a.mpi_id, lis("L-1"), ADMIN, reason="wrong merge")
    assert restored.mpi_id == b.mpi_id
    after = _essentials(_get(linked, a.mpi_id)), _essentials(_get(linked, b.mpi_id))
    assert after == before
    with linked.uow() as uow:
        assert b.ehc_id is not None
        account = uow.accounts.get(b.ehc_id)
        assert account is not None and account.mpi_id == b.mpi_id
        assert uow.links.manual_no_match(a.mpi_id, b.mpi_id)


def test_merging_again_after_a_split_is_allowed(linked: Container) -> None:
    a, b = _two_records(linked)
    linked.merges.merge(a.mpi_id, b.mpi_id, ADMIN)
    linked.merges.split(a.mpi_id, lis("L-1"), ADMIN)
    again = linked.merges.merge(a.mpi_id, b.mpi_id, ADMIN)
    assert lis("L-1") in again.source_ids


def test_the_ehc_id_follows_the_document_when_a_source_is_split_off(linked: Container) -> None:
    phone = ("13800138000",)
    without_doc = linked.registration.register(
        request("张伟", sources=(his("H-7"),), birth_date=ZHANG_WEI_BIRTH, phones=phone, mode=FEED),
        CLERK,
    ).patient
    assert without_doc.ehc_id is None and without_doc.archive_no is not None
    with_doc = linked.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(lis("L-7"),), phones=phone, mode=FEED),
        CLERK,
    ).patient
    assert with_doc.mpi_id == without_doc.mpi_id and with_doc.ehc_id is not None
    split = linked.merges.split(with_doc.mpi_id, lis("L-7"), ADMIN, reason="not the same")
    assert split.ehc_id == with_doc.ehc_id
    assert [(d.doc_type, d.number) for d in split.documents] == [("01", ZHANG_WEI_ID)]
    left = _get(linked, without_doc.mpi_id)
    assert left.ehc_id is None and left.documents == () and left.archive_no is not None
    with linked.uow() as uow:
        assert uow.patients.find_by_document("01", ZHANG_WEI_ID) == split.mpi_id
        source = uow.links.get_source(his("H-7"))
        assert source is not None and source.state is LinkState.MATCH


def test_merge_refuses_a_record_into_itself_and_inactive_records(linked: Container) -> None:
    a, b = _two_records(linked)
    with pytest.raises(ConflictError):
        linked.merges.merge(a.mpi_id, a.mpi_id, ADMIN)
    linked.merges.merge(a.mpi_id, b.mpi_id, ADMIN)
    with pytest.raises(ConflictError):
        linked.merges.merge(a.mpi_id, b.mpi_id, ADMIN)


def test_the_only_source_of_a_record_cannot_be_split_off(linked: Container) -> None:
    a, _ = _two_records(linked)
    with pytest.raises(ConflictError):
        linked.merges.split(a.mpi_id, his("H-1"), ADMIN)
