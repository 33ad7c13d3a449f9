"""PDQ Supplier (ehcmpi.ihe.pdq) on SQLite and PostgreSQL: ITI-21 / PDQm ITI-78 criteria,
What Domains Returned and the continuation protocol (RULES 18–21, 27)."""

from __future__ import annotations

import datetime as dt

import pytest

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import (
    Address,
    Demographics,
    DocumentInput,
    RegistrationMode,
    RegistrationRequest,
    SourceIdentifier,
)
from ehcmpi.core.search import Condition, Field, IdentifierValue, PatientSearch, Text, Value
from ehcmpi.ihe.pdq import PdqQuery, PdqSupplier
from ehcmpi.ihe.results import PdqCriteria, PdqPage, PixError
from ehcmpi.terminology.systems import EHC_ID_SYSTEM, ID_CARD_SYSTEM, MPI_ID_SYSTEM
from tests.core.support import (
    ADMIN,
    CLERK,
    HIS_SYSTEM,
    LIS_SYSTEM,
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    citizen_id,
    his,
    lis,
)

BORN_1990 = dt.date(1990, 2, 1)
ZHANG_WEI_2_ID = citizen_id("110105", BORN_1990, 21)
ZHANG_SAN_ID = citizen_id("110101", dt.date(1975, 3, 3), 13)
ZHANG_WEI_3_ID = citizen_id("440104", dt.date(1968, 8, 8), 35)
ZHANG_LI_ID = citizen_id("320102", BORN_1990, 44)
LI_NA_ID = citizen_id("310101", dt.date(1985, 6, 15), 24)
CHAOYANG = Address(
    text="北京市朝阳区建国路1号", city="北京市", district="朝阳区", postal_code="100022"
)
XUHUI = Address(text="上海市徐汇区漕溪北路", city="上海市", district="徐汇区", postal_code="200030")


def _feed(
    container: Container,
    name: str,
    doc: str,
    *sources: SourceIdentifier,
    address: Address | None = None,
    phone: str | None = None,
    mother: str | None = None,
) -> str:
    request = RegistrationRequest(
        Demographics(
            name=name,
            addresses=(address,) if address else (),
            phones=(phone,) if phone else (),
            mothers_maiden_name=mother,
        ),
        documents=(DocumentInput("01", doc),),
        source_ids=sources,
        mode=RegistrationMode.FEED,
    )
    return container.registration.register(request, CLERK).patient.mpi_id


@pytest.fixture
def people(container: Container) -> dict[str, str]:
    """Five 张 (two 张伟 and a 张卫, all read zhang wei) and 李娜; genders/dates from the ID.
    张伟's mother is 王秀兰, 李娜's 汪洋 (both read wang)."""
    return {
        "zhang_wei": _feed(
            container,
            "张伟",
            ZHANG_WEI_ID,
            his("H-1"),
            lis("L-1"),
            address=CHAOYANG,
            mother="王秀兰",
        ),
        "zhang_wei_2": _feed(
            container, "张伟", ZHANG_WEI_2_ID, his("H-2"), address=XUHUI, phone="13900139000"
        ),
        "zhang_wei_3": _feed(container, "张卫", ZHANG_WEI_3_ID, lis("L-3")),
        "zhang_san": _feed(container, "张三", ZHANG_SAN_ID, his("H-4")),
        "zhang_li": _feed(container, "张丽", ZHANG_LI_ID, his("H-5"), address=CHAOYANG),
        "li_na": _feed(container, "李娜", LI_NA_ID, lis("L-6"), mother="汪洋"),
    }


@pytest.fixture
def pdq(container: Container) -> PdqSupplier:
    return PdqSupplier(container.uow, container.domains, container.audit)


def _found(page: PdqPage, people: dict[str, str]) -> set[str]:
    names = {mpi_id: key for key, mpi_id in people.items()}
    return {names[p.patient.mpi_id] for p in page.patients}


def _search(pdq: PdqSupplier, people: dict[str, str], **criteria: object) -> set[str]:
    page = pdq.search(PdqCriteria(**criteria))  # type: ignore[arg-type]
    assert page.total == len(page.patients) and page.next_cursor is None
    return _found(page, people)


def test_by_name_in_chinese_characters(pdq: PdqSupplier, people: dict[str, str]) -> None:
    assert _search(pdq, people, name="张伟") == {"zhang_wei", "zhang_wei_2"}
    five = {"zhang_wei", "zhang_wei_2", "zhang_wei_3", "zhang_san", "zhang_li"}
    assert _search(pdq, people, family="张") == five
    assert _search(pdq, people, family="张", given="伟") == {"zhang_wei", "zhang_wei_2"}
    assert _search(pdq, people, given="丽", birth_date=BORN_1990) == {"zhang_li"}
    assert _search(pdq, people, name="王") == set()


def test_by_name_in_pinyin(pdq: PdqSupplier, people: dict[str, str]) -> None:
    zhang_wei = {"zhang_wei", "zhang_wei_2", "zhang_wei_3"}  # 张伟 and 张卫 read alike
    assert _search(pdq, people, name="zhang wei") == zhang_wei
    assert _search(pdq, people, name="ZhangWei") == zhang_wei
    assert _search(pdq, people, family="zhang", given="wei") == zhang_wei
    assert _search(pdq, people, family="Li") == {"li_na"}
    assert _search(pdq, people, given="na", gender="2") == {"li_na"}


def test_by_birth_date_and_gender(pdq: PdqSupplier, people: dict[str, str]) -> None:
    assert _search(pdq, people, birth_date=ZHANG_WEI_BIRTH) == {"zhang_wei"}
    assert _search(pdq, people, birth_date=BORN_1990) == {"zhang_wei_2", "zhang_li"}
    assert _search(pdq, people, birth_date=BORN_1990, gender="2") == {"zhang_li"}
    women = _search(pdq, people, gender="2")
    men = _search(pdq, people, gender="1")
    assert women | men == set(people) and not women & men
    assert _search(pdq, people, family="张", gender="1", birth_date=BORN_1990) == {"zhang_wei_2"}


def test_by_identifier(container: Container, pdq: PdqSupplier, people: dict[str, str]) -> None:
    ehc_id = container.query.get(people["li_na"], CLERK).ehc_id
    cases = [
        (his("H-2"), {"zhang_wei_2"}),
        (lis("L-1"), {"zhang_wei"}),
        (SourceIdentifier(ID_CARD_SYSTEM, ZHANG_SAN_ID.lower()), {"zhang_san"}),
        (SourceIdentifier(EHC_ID_SYSTEM, str(ehc_id)), {"li_na"}),
        (SourceIdentifier(MPI_ID_SYSTEM, people["zhang_li"]), {"zhang_li"}),
        (his("nobody"), set()),
        (SourceIdentifier("urn:oid:1.2.3.4.5", "H-1"), set()),
    ]
    for identifier, expected in cases:
        assert _search(pdq, people, identifier=identifier) == expected
    assert _search(pdq, people, identifier=his("H-1"), name="张伟") == {"zhang_wei"}
    assert _search(pdq, people, identifier=his("H-1"), name="李") == set()


def test_by_phone_and_address(pdq: PdqSupplier, people: dict[str, str]) -> None:
    assert _search(pdq, people, phone="13900139000") == {"zhang_wei_2"}
    assert _search(pdq, people, family="张", city="北京") == {"zhang_wei", "zhang_li"}
    assert _search(pdq, people, family="张", district="徐汇区") == {"zhang_wei_2"}
    assert _search(pdq, people, family="张", address="建国路") == {"zhang_wei", "zhang_li"}
    assert _search(pdq, people, family="张", postal_code="200030") == {"zhang_wei_2"}
    assert _search(pdq, people, name="张伟", city="上海", postal_code="100022") == set()


def test_by_mothers_maiden_name(pdq: PdqSupplier, people: dict[str, str]) -> None:
    """PID-6 (ITI-21 @PID.6): by prefix, in characters or pinyin, with other criteria."""
    assert _search(pdq, people, family="张", mothers_maiden_name="王") == {"zhang_wei"}
    assert _search(pdq, people, mothers_maiden_name="王秀兰") == {"zhang_wei"}
    assert _search(pdq, people, mothers_maiden_name="wang") == {"zhang_wei", "li_na"}
    assert _search(pdq, people, mothers_maiden_name="Wang Xiu") == {"zhang_wei"}
    assert _search(pdq, people, mothers_maiden_name="汪") == {"li_na"}
    assert _search(pdq, people, mothers_maiden_name="秀兰") == set()


def test_every_patient_carries_its_identifiers(
    container: Container, pdq: PdqSupplier, people: dict[str, str]
) -> None:
    page = pdq.search(PdqCriteria(identifier=his("H-1")))
    patient = container.query.get(people["zhang_wei"], CLERK)
    assert page.patients[0].identifiers == [
        (HIS_SYSTEM, "H-1"),
        (LIS_SYSTEM, "L-1"),
        (ID_CARD_SYSTEM, ZHANG_WEI_ID),
        (EHC_ID_SYSTEM, str(patient.ehc_id)),
        (MPI_ID_SYSTEM, patient.mpi_id),
    ]


def test_requested_domains_restrict_identifiers_and_patients(
    pdq: PdqSupplier, people: dict[str, str]
) -> None:
    page = pdq.search(PdqCriteria(family="张"), [LIS_SYSTEM])
    assert page.total == 2  # RULES 19 Case 2: a patient without a LIS id is left out
    assert _found(page, people) == {"zhang_wei", "zhang_wei_3"}
    assert {tuple(p.identifiers) for p in page.patients} == {
        ((LIS_SYSTEM, "L-1"),),
        ((LIS_SYSTEM, "L-3"),),
    }
    both = pdq.search(PdqCriteria(name="张伟"), [ID_CARD_SYSTEM, HIS_SYSTEM])
    assert {tuple(p.identifiers) for p in both.patients} == {
        ((HIS_SYSTEM, "H-1"), (ID_CARD_SYSTEM, ZHANG_WEI_ID)),
        ((HIS_SYSTEM, "H-2"), (ID_CARD_SYSTEM, ZHANG_WEI_2_ID)),
    }


def test_unknown_requested_domains_are_listed_by_ordinal(
    pdq: PdqSupplier, people: dict[str, str]
) -> None:
    with pytest.raises(PixError) as exc:
        pdq.search(PdqCriteria(family="张"), ["urn:oid:9.9", HIS_SYSTEM, "urn:oid:8.8"])
    assert exc.value.kind == "unknown_target_domain"  # RULES 19 Case 3
    assert exc.value.ordinals == (1, 3)


def test_continuation_returns_each_patient_exactly_once(
    container: Container, pdq: PdqSupplier, people: dict[str, str]
) -> None:
    criteria = PdqCriteria(family="张")
    first = pdq.search(criteria, page_size=2)
    # Another replica continues with nothing but the pointer (no server memory).
    replica = PdqSupplier(container.uow, container.domains, container.audit)
    second = replica.search(None, cursor=first.next_cursor)
    # An HL7 continuation resends the same query with DSC-1.
    third = pdq.search(criteria, page_size=2, cursor=second.next_cursor)
    pages = [first, second, third]
    assert [len(p.patients) for p in pages] == [2, 2, 1]
    assert [p.total for p in pages] == [5, 5, 5]
    assert third.next_cursor is None and first.next_cursor and second.next_cursor
    seen = [p.patient.mpi_id for page in pages for p in page.patients]
    assert len(seen) == len(set(seen)) == 5 and seen == sorted(seen)
    pdq.cancel(first.next_cursor)  # QCN^J01: stateless, always succeeds
    pdq.cancel(None)
    assert pdq.search(None, cursor=first.next_cursor).patients == second.patients


def test_continuation_survives_changes_between_increments(
    container: Container, pdq: PdqSupplier, people: dict[str, str]
) -> None:
    first = pdq.search(PdqCriteria(family="张"), page_size=2)
    container.maintenance.cancel(first.patients[0].patient.mpi_id, "重复建档", ADMIN)
    rest = pdq.search(None, cursor=first.next_cursor, page_size=10)
    seen = {p.patient.mpi_id for p in first.patients + rest.patients}
    assert len(seen) == 5 and rest.total == 4 and rest.next_cursor is None


def test_bad_queries_and_pointers(pdq: PdqSupplier, people: dict[str, str]) -> None:
    first = pdq.search(PdqCriteria(family="张"), page_size=2)
    assert first.next_cursor is not None
    bad: list[tuple[PdqCriteria | None, str | None, str]] = [
        (PdqCriteria(), None, "invalid_query"),
        (PdqCriteria(mothers_maiden_name="  "), None, "invalid_query"),
        (PdqCriteria(name="  "), None, "invalid_query"),
        (None, None, "invalid_query"),
        (PdqCriteria(family="李"), first.next_cursor, "invalid_cursor"),
        (None, "not-a-pointer", "invalid_cursor"),
        (None, first.next_cursor[:-6], "invalid_cursor"),
    ]
    for criteria, cursor, kind in bad:
        with pytest.raises(PixError) as exc:
            pdq.search(criteria, cursor=cursor)
        assert exc.value.kind == kind, (criteria, cursor)
    with pytest.raises(PixError) as exc:
        pdq.search(PdqCriteria(family="张"), page_size=0)
    assert exc.value.kind == "invalid_query"


def test_queries_answered_together_each_get_their_own_answer_and_audit_entry(
    container: Container, pdq: PdqSupplier, people: dict[str, str]
) -> None:
    """``query_each`` (the FHIR lookups that reach a worker together): one answer per query
    in order — a refused query its error in its place, spoiling no other — and one call-audit
    entry each with its own outcome."""
    by_id = [his("H-2"), lis("L-1"), his("nobody"), SourceIdentifier(ID_CARD_SYSTEM, LI_NA_ID)]
    queries = [
        PdqQuery(_by(Field.IDENTIFIER, IdentifierValue(s.system, s.value)), actor=CLERK)
        for s in by_id
    ]
    queries.insert(2, PdqQuery(None, cursor="not-a-pointer", actor=CLERK))
    queries.append(PdqQuery(_by(Field.FAMILY, Text("李")), actor=CLERK))

    answers = pdq.query_each(queries)

    found = [a.kind if isinstance(a, PixError) else {p.mpi_id for p in a.patients} for a in answers]
    assert found == [
        {people["zhang_wei_2"]}, {people["zhang_wei"]}, "invalid_cursor", set(),
        {people["li_na"]}, {people["li_na"]},
    ]  # fmt: skip
    container.audit.flush()
    with container.uow() as uow:
        entries = uow.audit.recent(20, action="pdq-query")
    assert sorted(e.outcome for e in entries) == ["error:invalid"] + ["success"] * 5


def _by(field: Field, value: Value) -> PatientSearch:
    return PatientSearch((Condition(field, (value,)),))
