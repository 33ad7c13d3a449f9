"""§5.1.6 信息缺失患者就医: a unique archive number first, the EHC ID when a document arrives."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from ehcmpi.bootstrap import Container
from ehcmpi.core.documents import FLAG_NO_DOCUMENT
from ehcmpi.core.errors import ConflictError, InvalidDocumentError
from ehcmpi.core.model import DocumentInput, PatientRecord, SourceIdentifier
from ehcmpi.terminology.systems import ARCHIVE_NUMBER_SYSTEM, ID_CARD_SYSTEM
from tests.core.support import (
    CLERK,
    LIS_SYSTEM,
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    citizen_id,
    his,
    request,
    with_bad_check_digit,
)

ARCHIVE_NO = re.compile(r"TA\d{16}")


def _without_document(container: Container, name: str = "张伟", hid: str = "H-9") -> PatientRecord:
    result = container.registration.register(request(name, sources=(his(hid),)), CLERK)
    assert result.created and not result.ehc_issued
    return result.patient


def test_patient_without_document_gets_a_unique_archive_number(container: Container) -> None:
    first = _without_document(container, "无名氏", "H-1")
    second = _without_document(container, "无名氏", "H-2")

    for patient in (first, second):
        assert patient.ehc_id is None
        assert patient.archive_no is not None and ARCHIVE_NO.fullmatch(patient.archive_no)
        assert FLAG_NO_DOCUMENT in patient.data_quality
    assert first.archive_no != second.archive_no
    assert first.mpi_id != second.mpi_id


def test_later_document_issues_the_ehc_id_on_the_same_record(container: Container) -> None:
    first = _without_document(container)
    lis = SourceIdentifier(LIS_SYSTEM, "L-55")
    container.registration.register(request("张伟", sources=(his("H-9"), lis)), CLERK)

    result = container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-9"),)), CLERK
    )

    patient = container.query.get(first.mpi_id, CLERK)
    assert result.patient.mpi_id == first.mpi_id and not result.created and result.ehc_issued
    assert patient.ehc_id == container.crypto.ehc_id(first.mpi_id, "01", ZHANG_WEI_ID)
    assert patient.archive_no == first.archive_no
    assert FLAG_NO_DOCUMENT not in patient.data_quality
    assert set(patient.source_ids) == {his("H-9"), lis}
    assert patient.demographics.birth_date == ZHANG_WEI_BIRTH
    assert patient.demographics.gender == "2"
    actions = [v.action for v in container.query.history(first.mpi_id, CLERK)]
    assert actions[0] == "create" and actions[-1] == "issue-ehc"
    assert first.archive_no is not None
    for system, value in (
        (ARCHIVE_NUMBER_SYSTEM, first.archive_no),
        (ARCHIVE_NUMBER_SYSTEM, first.archive_no.lower()),
        (ID_CARD_SYSTEM, ZHANG_WEI_ID),
        (his("H-9").system, "H-9"),
        (LIS_SYSTEM, "L-55"),
    ):
        found = container.query.find(system, value, CLERK)
        assert found is not None and found.mpi_id == first.mpi_id, (system, value)


def test_add_documents_issues_the_ehc_id(container: Container) -> None:
    first = _without_document(container)

    result = container.maintenance.add_documents(
        first.mpi_id, [DocumentInput("01", ZHANG_WEI_ID.lower())], CLERK
    )

    patient = container.query.get(first.mpi_id, CLERK)
    assert result.ehc_issued and result.patient.mpi_id == first.mpi_id
    assert patient.ehc_id == container.crypto.ehc_id(first.mpi_id, "01", ZHANG_WEI_ID)
    assert patient.archive_no == first.archive_no
    assert FLAG_NO_DOCUMENT not in patient.data_quality
    assert patient.source_ids == (his("H-9"),)
    assert patient.demographics.birth_date == ZHANG_WEI_BIRTH
    assert patient.demographics.gender == "2"
    assert [v.action for v in container.query.history(first.mpi_id, CLERK)] == [
        "create",
        "issue-ehc",
    ]
    # The document now finds the same record, in a registration as in a lookup.
    again = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    assert again.patient.mpi_id == first.mpi_id and not again.created


def test_second_document_does_not_change_an_issued_ehc_id(container: Container) -> None:
    first = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)

    result = container.maintenance.add_documents(
        first.patient.mpi_id, [DocumentInput("03", "E12345678")], CLERK
    )

    assert not result.ehc_issued
    assert result.patient.ehc_id == first.patient.ehc_id
    found = container.query.find("http://ehcmpi.org/fhir/sid/doc-03", "e12345678", CLERK)
    assert found is not None and found.mpi_id == first.patient.mpi_id


def test_add_documents_refuses_a_bad_number_and_another_patients_document(
    container: Container,
) -> None:
    first = _without_document(container)
    other = citizen_id("320102", dt.date(1988, 8, 8), 35)
    container.registration.register(request("王芳", ("01", other)), CLERK)

    with pytest.raises(InvalidDocumentError):
        container.maintenance.add_documents(
            first.mpi_id, [DocumentInput("01", with_bad_check_digit(ZHANG_WEI_ID))], CLERK
        )
    with pytest.raises(ConflictError):
        container.maintenance.add_documents(first.mpi_id, [DocumentInput("01", other)], CLERK)

    patient = container.query.get(first.mpi_id, CLERK)
    assert patient.ehc_id is None and patient.documents == () and patient.version == 1
