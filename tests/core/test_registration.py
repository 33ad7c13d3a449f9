"""Registration: 索引注册 and 建档 (guideline §4.1.2, §4.4.1; flows §5.1.1, §5.1.4, §5.2.1)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from ehcmpi.bootstrap import Container
from ehcmpi.core.documents import FLAG_INVALID_DOCUMENT
from ehcmpi.core.errors import (
    ConflictError,
    DomainError,
    InvalidDocumentError,
    InvalidInputError,
)
from ehcmpi.core.model import RegistrationMode, RegistrationResult
from tests.core.support import (
    CLERK,
    ZHANG_WEI_ID,
    citizen_id,
    his,
    request,
    with_bad_check_digit,
)

HEX64 = re.compile(r"[0-9A-F]{64}")


def _count(container: Container) -> int:
    with container.uow() as uow:
        return uow.patients.count()


def test_resident_id_card_gets_mpi_id_and_ehc_id_from_the_national_scheme(
    container: Container,
) -> None:
    result = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)

    patient = result.patient
    assert result.created and result.ehc_issued
    assert HEX64.fullmatch(patient.mpi_id)
    assert patient.ehc_id is not None and HEX64.fullmatch(patient.ehc_id)
    assert patient.ehc_id == container.crypto.ehc_id(patient.mpi_id, "01", ZHANG_WEI_ID)
    assert patient.archive_no is None
    stored = container.query.get(patient.mpi_id, CLERK)
    assert stored.ehc_id == patient.ehc_id
    assert stored.primary_document is not None
    assert stored.primary_document.number == ZHANG_WEI_ID
    with container.uow() as uow:
        account = uow.accounts.get(patient.ehc_id)
    assert account is not None and account.mpi_id == patient.mpi_id and account.doc_type == "01"


@pytest.mark.parametrize(
    "typed",
    [
        ZHANG_WEI_ID,
        ZHANG_WEI_ID.lower(),
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits, as typed with a Chinese IME
        " 110105 19491231 002X ",
        "110105491231002",  # the 15-digit GB 11643-1989 number of the same person
    ],
)
def test_same_document_in_any_spelling_is_the_same_patient(
    container: Container, typed: str
) -> None:
    first = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)

    again = container.registration.register(request("张伟", ("01", typed)), CLERK)

    assert not again.created and not again.ehc_issued
    assert again.patient.mpi_id == first.patient.mpi_id
    assert again.patient.ehc_id == first.patient.ehc_id
    assert _count(container) == 1


def test_birth_date_and_gender_are_taken_from_the_id_number_when_missing(
    container: Container,
) -> None:
    male = citizen_id("440305", dt.date(1990, 5, 17), 13)

    result = container.registration.register(request("李强", ("01", male)), CLERK)

    stored = container.query.get(result.patient.mpi_id, CLERK)
    assert stored.demographics.birth_date == dt.date(1990, 5, 17)
    assert stored.demographics.gender == "1"
    assert stored.demographics.name_pinyin == "li qiang"


def test_bad_check_digit_is_refused_naming_the_document_and_writes_nothing(
    container: Container,
) -> None:
    bad = with_bad_check_digit(ZHANG_WEI_ID)

    with pytest.raises(InvalidDocumentError) as caught:
        container.registration.register(request("张伟", ("01", bad)), CLERK)

    message = caught.value.message
    assert "居民身份证" in message and "校验位" in message
    assert message.count("居民身份证") == 1, message
    assert _count(container) == 0


def test_birth_date_contradicting_the_number_is_refused_and_writes_nothing(
    container: Container,
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        container.registration.register(
            request("张伟", ("01", ZHANG_WEI_ID), birth_date=dt.date(1950, 1, 1)), CLERK
        )

    assert "1950-01-01" in caught.value.message
    assert _count(container) == 0


def test_gender_contradicting_the_number_is_refused(container: Container) -> None:
    with pytest.raises(InvalidInputError):
        container.registration.register(request("张伟", ("01", ZHANG_WEI_ID), gender="1"), CLERK)
    assert _count(container) == 0


def test_feed_keeps_a_bad_number_without_ehc_id_and_flags_it(container: Container) -> None:
    """§5.2.1: 不满足电子健康卡生成规则的数据，保持现状."""
    bad = with_bad_check_digit(ZHANG_WEI_ID)
    feed = request("张伟", ("01", bad), mode=RegistrationMode.FEED)

    first = container.registration.register(feed, CLERK)
    second = container.registration.register(feed, CLERK)

    assert first.created and not first.ehc_issued
    stored = container.query.get(first.patient.mpi_id, CLERK)
    assert stored.ehc_id is None
    assert FLAG_INVALID_DOCUMENT in stored.data_quality
    (document,) = stored.documents
    assert document.number == bad and not document.valid
    assert document.reason is not None and "校验位" in document.reason
    # The same row sent again (same number, name and birth date) is the same record ...
    assert not second.created and second.patient.mpi_id == first.patient.mpi_id
    # ... but the number alone identifies nobody: another name with it is another record.
    other = container.registration.register(
        request("李娜", ("01", bad), mode=RegistrationMode.FEED), CLERK
    )
    assert other.created and other.patient.mpi_id != first.patient.mpi_id
    assert _count(container) == 2


def test_over_long_values_are_refused_and_nothing_is_written(container: Container) -> None:
    with pytest.raises(InvalidInputError, match="姓名"):
        container.registration.register(request("张" * 201, ("01", ZHANG_WEI_ID)), CLERK)
    with pytest.raises(InvalidInputError, match="院内标识"):
        container.registration.register(
            request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H" * 256),)), CLERK
        )
    assert _count(container) == 0


@pytest.mark.parametrize(
    ("doc_type", "typed", "normalised"),
    [
        ("03", "e12345678", "E12345678"),  # passport
        ("06", "H12345678", "H12345678"),  # 港澳居民来往内地通行证
        ("10", "usa123456789012", "USA123456789012"),  # 外国人永久居留身份证 (2017)
        ("04", "南字第1234567号", "南字第1234567号"),  # 军官证
        ("04", "中国人民解放军南部战区政治工作部字第00012345号", None),  # long 军官证
        ("99", "OTHER-DOCUMENT-NUMBER-0123456789-ABCDEFGHIJ", None),  # 其他法定有效证件
    ],
)
def test_other_document_types_yield_an_ehc_id(
    container: Container, doc_type: str, typed: str, normalised: str | None
) -> None:
    number = normalised or typed

    result = container.registration.register(request("Maria Rossi", (doc_type, typed)), CLERK)

    patient = result.patient
    assert result.ehc_issued
    assert patient.ehc_id == container.crypto.ehc_id(patient.mpi_id, doc_type, number)
    again = container.registration.register(request("Maria Rossi", (doc_type, number)), CLERK)
    assert again.patient.mpi_id == patient.mpi_id and not again.created
    assert container.query.get(patient.mpi_id, CLERK).ehc_id == patient.ehc_id


def test_documents_of_two_different_patients_in_one_request_conflict(
    container: Container,
) -> None:
    other = citizen_id("310101", dt.date(1985, 3, 8), 27)
    container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    container.registration.register(request("王芳", ("01", other)), CLERK)

    with pytest.raises(ConflictError):
        container.registration.register(request("张伟", ("01", ZHANG_WEI_ID), ("01", other)), CLERK)

    assert _count(container) == 2


def test_a_source_identifier_and_a_document_of_different_patients_conflict(
    container: Container,
) -> None:
    container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    container.registration.register(request("王芳", sources=(his("H-2"),)), CLERK)

    with pytest.raises(ConflictError):
        container.registration.register(
            request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-2"),)), CLERK
        )


def test_source_identifier_alone_then_with_document_is_one_record(container: Container) -> None:
    alone = container.registration.register(request("张伟", sources=(his("H-1001"),)), CLERK)
    again = container.registration.register(request("张伟", sources=(his("H-1001"),)), CLERK)

    with_doc = container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1001"),)), CLERK
    )

    assert alone.created and not again.created
    assert again.patient.mpi_id == alone.patient.mpi_id
    assert with_doc.patient.mpi_id == alone.patient.mpi_id
    assert not with_doc.created and with_doc.ehc_issued
    assert with_doc.patient.ehc_id == container.crypto.ehc_id(
        alone.patient.mpi_id, "01", ZHANG_WEI_ID
    )
    assert _count(container) == 1


def test_a_new_source_identifier_is_linked_to_the_existing_patient(
    container: Container,
) -> None:
    first = container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),)), CLERK
    )

    second = container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-77"),)), CLERK
    )

    assert second.patient.mpi_id == first.patient.mpi_id
    stored = container.query.get(first.patient.mpi_id, CLERK)
    assert set(stored.source_ids) == {his("H-1"), his("H-77")}
    assert [v.action for v in container.query.history(first.patient.mpi_id, CLERK)] == [
        "create",
        "attach",
    ]


def test_unknown_document_type_or_gender_code_is_refused(container: Container) -> None:
    with pytest.raises(InvalidInputError):
        container.registration.register(request("张伟", ("42", "123456")), CLERK)
    with pytest.raises(InvalidInputError):
        container.registration.register(request("张伟", ("03", "E1234567"), gender="3"), CLERK)
    assert _count(container) == 0


def test_batch_reports_each_item_in_order_and_commits_the_good_ones(
    container: Container,
) -> None:
    good_a = citizen_id("110101", dt.date(1970, 1, 2), 11)
    good_b = citizen_id("110101", dt.date(1971, 2, 3), 22)
    batch = [
        request("甲", ("01", good_a)),
        request("乙", ("01", with_bad_check_digit(good_b))),
        request("丙", ("01", good_b)),
        request("丁", ("01", good_a), birth_date=dt.date(2000, 1, 1)),
        request("甲", ("01", good_a)),
    ]

    results = container.registration.register_batch(batch, CLERK)

    assert len(results) == 5
    first, bad, third, contradicted, repeated = results
    assert isinstance(first, RegistrationResult) and first.created
    assert isinstance(bad, InvalidDocumentError)
    assert isinstance(third, RegistrationResult) and third.created
    assert isinstance(contradicted, InvalidInputError)
    assert isinstance(contradicted, DomainError)
    assert isinstance(repeated, RegistrationResult) and not repeated.created
    assert repeated.patient.mpi_id == first.patient.mpi_id
    assert _count(container) == 2
    assert container.query.get(third.patient.mpi_id, CLERK).demographics.name == "丙"
