"""§4.1.2 索引查询: exact lookup by every identifier kind, fuzzy query by name/pinyin/date/phone."""

from __future__ import annotations

import datetime as dt

import pytest

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import InvalidInputError, NotFoundError
from ehcmpi.core.model import FuzzyQuery, PatientRecord
from ehcmpi.terminology.systems import (
    ARCHIVE_NUMBER_SYSTEM,
    EHC_ID_SYSTEM,
    ID_CARD_SYSTEM,
    MPI_ID_SYSTEM,
    document_system,
)
from tests.core.support import (
    CLERK,
    HIS_SYSTEM,
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    citizen_id,
    his,
    request,
    with_bad_check_digit,
)

SHAN_ID = citizen_id("120101", dt.date(1934, 12, 24), 15)
ZHANG_WEI_2_ID = citizen_id("110105", dt.date(1990, 2, 1), 21)


def _register(container: Container, name: str, *documents: tuple[str, str], **kw: str) -> str:
    phones = (kw["phone"],) if "phone" in kw else ()
    sources = (his(kw["his"]),) if "his" in kw else ()
    result = container.registration.register(
        request(name, *documents, sources=sources, phones=phones), CLERK
    )
    return result.patient.mpi_id


@pytest.fixture
def people(container: Container) -> dict[str, str]:
    """A small index: two 张伟, a 张三, 单田芳 (surname read shan), a passport holder, no-doc."""
    return {
        "zhang_wei": _register(
            container, "张伟", ("01", ZHANG_WEI_ID), his="H-1", phone="13800138000"
        ),
        "zhang_wei_2": _register(container, "张伟", ("01", ZHANG_WEI_2_ID), phone="13900139000"),
        "zhang_san": _register(container, "张三", ("03", "E99887766")),
        "shan": _register(container, "单田芳", ("01", SHAN_ID)),
        "foreigner": _register(container, "John Smith", ("03", "G12345678"), his="H-3"),
        "no_doc": _register(container, "无名氏", his="H-4"),
    }


def _ids(records: list[PatientRecord]) -> list[str]:
    return [r.mpi_id for r in records]


def _find(container: Container, system: str, value: str) -> str | None:
    found = container.query.find(system, value, CLERK)
    return found.mpi_id if found else None


def test_exact_lookup_by_every_identifier_kind(
    container: Container, people: dict[str, str]
) -> None:
    zhang = container.query.get(people["zhang_wei"], CLERK)
    no_doc = container.query.get(people["no_doc"], CLERK)
    assert zhang.ehc_id is not None and no_doc.archive_no is not None
    cases = [
        (ID_CARD_SYSTEM, ZHANG_WEI_ID, "zhang_wei"),
        (ID_CARD_SYSTEM, ZHANG_WEI_ID.lower(), "zhang_wei"),
        (ID_CARD_SYSTEM, "110105491231002", "zhang_wei"),
        ("http://ehcmpi.org/fhir/sid/doc-03", "E99887766", "zhang_san"),
        (document_system("03"), "g12345678", "foreigner"),
        (EHC_ID_SYSTEM, zhang.ehc_id, "zhang_wei"),
        (EHC_ID_SYSTEM, zhang.ehc_id.lower(), "zhang_wei"),
        (MPI_ID_SYSTEM, zhang.mpi_id, "zhang_wei"),
        (MPI_ID_SYSTEM, zhang.mpi_id.lower(), "zhang_wei"),
        (ARCHIVE_NUMBER_SYSTEM, no_doc.archive_no, "no_doc"),
        (HIS_SYSTEM, "H-1", "zhang_wei"),
        (HIS_SYSTEM, "H-3", "foreigner"),
        (HIS_SYSTEM, "H-4", "no_doc"),
    ]
    for system, value, who in cases:
        assert _find(container, system, value) == people[who], (system, value)


def test_exact_lookup_of_unknown_identifiers_finds_nothing(
    container: Container, people: dict[str, str]
) -> None:
    for system, value in [
        (ID_CARD_SYSTEM, citizen_id("110105", dt.date(2001, 1, 1), 11)),
        (ID_CARD_SYSTEM, with_bad_check_digit(ZHANG_WEI_ID)),
        (document_system("06"), "H12345678"),
        # The same number under another document type is another document.
        ("http://ehcmpi.org/fhir/sid/doc-02", ZHANG_WEI_ID),
        (EHC_ID_SYSTEM, "0" * 64),
        (MPI_ID_SYSTEM, "0" * 64),
        (ARCHIVE_NUMBER_SYSTEM, "TA2020010100000000"),
        (HIS_SYSTEM, "H-404"),
        ("urn:oid:1.2.156.112604.1.2.2", "H-1"),  # H-1 belongs to the HIS domain, not LIS
    ]:
        assert _find(container, system, value) is None, (system, value)
    with pytest.raises(NotFoundError):
        container.query.get("0" * 64, CLERK)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("张", ["zhang_san", "zhang_wei", "zhang_wei_2"]),
        ("张伟", ["zhang_wei", "zhang_wei_2"]),
        ("zhang wei", ["zhang_wei", "zhang_wei_2"]),
        ("Zhang", ["zhang_san", "zhang_wei", "zhang_wei_2"]),
        ("zhangwei", ["zhang_wei", "zhang_wei_2"]),
        ("ZHANG WEI", ["zhang_wei", "zhang_wei_2"]),
        ("zhangs", ["zhang_san"]),
        ("shan", ["shan"]),  # 单 as a surname reads shan, not dan
        ("shan tian fang", ["shan"]),
        ("单田", ["shan"]),
        ("dan", []),
        ("john", ["foreigner"]),
        ("wei", []),  # prefix, not substring
    ],
)
def test_fuzzy_by_name_and_pinyin(
    container: Container, people: dict[str, str], name: str, expected: list[str]
) -> None:
    found = container.query.search(FuzzyQuery(name=name), CLERK)

    assert sorted(_ids(found)) == sorted(people[w] for w in expected)


def test_fuzzy_by_birth_date_gender_phone_and_combined(
    container: Container, people: dict[str, str]
) -> None:
    def search(**criteria: object) -> list[str]:
        return sorted(_ids(container.query.search(FuzzyQuery(**criteria), CLERK)))  # type: ignore[arg-type]

    assert search(birth_date=ZHANG_WEI_BIRTH) == [people["zhang_wei"]]
    assert search(phone="13800138000") == [people["zhang_wei"]]
    assert search(phone=" 13900139000 ") == [people["zhang_wei_2"]]
    assert search(phone="13700137000") == []
    assert search(name="zhang wei", gender="2") == [people["zhang_wei"]]
    assert search(name="张伟", birth_date=dt.date(1990, 2, 1)) == [people["zhang_wei_2"]]
    assert search(name="张伟", phone="13900139000") == [people["zhang_wei_2"]]
    assert search(name="张三", phone="13900139000") == []
    assert search(name="shan", birth_date=dt.date(1934, 12, 24), gender="1") == [people["shan"]]


def test_fuzzy_results_are_full_records_in_pinyin_order_and_limited(
    container: Container, people: dict[str, str]
) -> None:
    found = container.query.search(FuzzyQuery(name="zhang", limit=2), CLERK)

    assert len(found) == 2
    assert found[0].mpi_id == people["zhang_san"]  # zhangsan < zhangwei
    assert found[0].documents[0].number == "E99887766"
    assert found[1].demographics.name == "张伟"


def test_cancelled_patients_are_excluded_from_fuzzy_results(
    container: Container, people: dict[str, str]
) -> None:
    container.maintenance.cancel(people["zhang_wei"], "重复建档", CLERK)

    assert _ids(container.query.search(FuzzyQuery(name="张伟"), CLERK)) == [people["zhang_wei_2"]]
    assert container.query.search(FuzzyQuery(phone="13800138000"), CLERK) == []


def test_rare_character_names_are_found_by_prefix(container: Container) -> None:
    """生僻字 outside the Basic Multilingual Plane (CJK Extension B) must not fall out."""
    mpi_id = _register(container, "王𠀾", ("03", "E55555555"))

    assert _ids(container.query.search(FuzzyQuery(name="王"), CLERK)) == [mpi_id]
    assert _ids(container.query.search(FuzzyQuery(name="王𠀾"), CLERK)) == [mpi_id]
    only_rare = _register(container, "𠀾明", ("03", "E66666666"))
    assert _ids(container.query.search(FuzzyQuery(name="𠀾"), CLERK)) == [only_rare]


def test_a_name_without_letters_or_characters_matches_nobody(
    container: Container, people: dict[str, str]
) -> None:
    assert container.query.search(FuzzyQuery(name="123"), CLERK) == []
    assert container.query.search(FuzzyQuery(name="·"), CLERK) == []


@pytest.mark.parametrize(
    "query",
    [
        FuzzyQuery(),
        FuzzyQuery(name="", phone=""),
        FuzzyQuery(name="张", limit=0),
        FuzzyQuery(name="张", limit=-1),
        FuzzyQuery(name="张", limit=201),
    ],
)
def test_empty_query_or_bad_limit_is_refused(container: Container, query: FuzzyQuery) -> None:
    with pytest.raises(InvalidInputError):
        container.query.search(query, CLERK)


def test_history_of_unknown_patient_is_not_found(container: Container) -> None:
    with pytest.raises(NotFoundError):
        container.query.history("A" * 64, CLERK)
