"""The reader entry (guideline §4.4; flows §5.1.1–§5.1.4, §5.1.6; degradation §6.5) on the
real services and database.  The 社保/医保身份识别系统 is an in-memory twin of the
``IdentityVerifier`` port here; ``tests/fhir/test_read_medium.py`` runs the real simulator."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import (
    CancelledError,
    ConflictError,
    InvalidDocumentError,
    InvalidInputError,
    NotFoundError,
)
from ehcmpi.core.media import INSURANCE_VOUCHER, SOCIAL_SECURITY_CARD
from ehcmpi.core.model import Demographics, SourceIdentifier
from ehcmpi.core.reader import ReaderService
from ehcmpi.core.reading import (
    BadMediumError,
    Medium,
    MediumKind,
    NotCreatableError,
    ReadRequest,
    ServiceUnavailableError,
    VerificationStatus,
)
from ehcmpi.core.verifier import (
    CircuitBreaker,
    GuardedVerifier,
    InsuredPerson,
    Verification,
    VerifierUnavailable,
)
from ehcmpi.storage.card_tables import media_bindings
from tests.core.support import ADMIN, CLERK, HIS_SYSTEM, ZHANG_WEI_ID, citizen_id, request

LI_NA_ID = citizen_id("110108", dt.date(1990, 7, 15), 2)
LI_NA = InsuredPerson(
    name="李娜",
    doc_type="01",
    doc_number=LI_NA_ID,
    medium_id="K10000001",
    insurance_status="active",
    gender="2",
    birth_date=dt.date(1990, 7, 15),
    insurance_type="职工基本医疗保险",
    insurance_area="110100",
)
QR = "YBQR0000000000000000000001"
ZHANG = Demographics(name="张伟")


class InsuranceTwin:
    """The 社保/医保身份识别系统 in memory: cards and QR texts → persons; can be down."""

    def __init__(self) -> None:
        self.cards = {"K10000001": LI_NA}
        self.codes = {QR: LI_NA}
        self.down = False
        self.calls = 0

    def verify(self, kind: str, value: str) -> Verification:
        self.calls += 1
        if self.down:
            raise VerifierUnavailable("connection refused")
        known = self.cards if kind == SOCIAL_SECURITY_CARD else self.codes
        person = known.get(value)
        if person is None:
            return Verification(None, "未找到参保人")
        medium_id = value if kind == SOCIAL_SECURITY_CARD else "YB11000000000001"
        return Verification(InsuredPerson(**{**_fields(person), "medium_id": medium_id}))


def _fields(person: InsuredPerson) -> dict[str, object]:
    return {name: getattr(person, name) for name in person.__slots__}


@pytest.fixture
def twin() -> InsuranceTwin:
    return InsuranceTwin()


@pytest.fixture
def reader(container: Container, twin: InsuranceTwin) -> ReaderService:
    breaker = CircuitBreaker(failures=2, reset_seconds=60)
    return ReaderService(
        container.query,
        container.registration,
        container.media,
        container.audit,
        verifier=GuardedVerifier(twin, breaker),
        qr=container.qr,
    )


def patients(container: Container) -> int:
    with container.uow() as uow:
        return uow.patients.count()


# --- §5.1.1 居民身份证, §5.1.4 其他有效证件, §5.1.6 无介质 ----------------------------------


def test_id_card_creates_the_patient_once_with_the_national_ehc_id(
    reader: ReaderService, container: Container
) -> None:
    first = reader.read(ReadRequest(Medium(MediumKind.ID_CARD, ZHANG_WEI_ID), ZHANG), CLERK)
    again = reader.read(ReadRequest(Medium(MediumKind.ID_CARD, ZHANG_WEI_ID.lower())), CLERK)

    assert first.created and first.ehc_issued and not again.created
    assert first.verification is VerificationStatus.NOT_REQUIRED
    assert again.patient.mpi_id == first.patient.mpi_id
    expected = container.crypto.ehc_id(first.patient.mpi_id, "01", ZHANG_WEI_ID)
    assert first.patient.ehc_id == again.patient.ehc_id == expected
    assert patients(container) == 1


def test_an_unknown_card_without_a_name_is_not_creatable_and_writes_nothing(
    reader: ReaderService, container: Container
) -> None:
    with pytest.raises(NotCreatableError) as raised:
        reader.read(ReadRequest(Medium(MediumKind.ID_CARD, ZHANG_WEI_ID)), CLERK)
    assert "姓名" in raised.value.message
    assert patients(container) == 0


def test_a_bad_check_digit_is_refused_with_its_reason(reader: ReaderService) -> None:
    bad = ZHANG_WEI_ID[:-1] + "1"
    with pytest.raises(InvalidDocumentError) as raised:
        reader.read(ReadRequest(Medium(MediumKind.ID_CARD, bad), ZHANG), CLERK)
    assert "居民身份证" in raised.value.message and "校验" in raised.value.message


def test_other_documents_need_their_type_and_resolve_like_the_id_card(
    reader: ReaderService,
) -> None:
    with pytest.raises(BadMediumError):
        reader.read(ReadRequest(Medium(MediumKind.DOCUMENT, "E12345678"), ZHANG), CLERK)
    with pytest.raises(InvalidInputError):
        reader.read(ReadRequest(Medium(MediumKind.DOCUMENT, "E12345678", "42"), ZHANG), CLERK)

    passport = Medium(MediumKind.DOCUMENT, "e12345678", "03")
    created = reader.read(ReadRequest(passport, Demographics(name="JOHN SMITH")), CLERK)
    found = reader.read(ReadRequest(passport), CLERK)
    assert created.created and not found.created
    assert found.patient.ehc_id == created.patient.ehc_id is not None
    assert found.patient.primary_document is not None
    assert found.patient.primary_document.doc_type == "03"


def test_no_medium_gives_a_temporary_archive_number_and_needs_a_name(
    reader: ReaderService,
) -> None:
    result = reader.read(ReadRequest(Medium(MediumKind.NONE), ZHANG), CLERK)
    assert result.created and result.patient.ehc_id is None
    assert result.patient.archive_no is not None and result.patient.archive_no.startswith("TA")
    with pytest.raises(NotCreatableError):
        reader.read(ReadRequest(Medium(MediumKind.NONE)), CLERK)


def test_hospital_ids_read_with_the_medium_join_the_patient(reader: ReaderService) -> None:
    his = SourceIdentifier(HIS_SYSTEM, "H-1001")
    reader.read(ReadRequest(Medium(MediumKind.ID_CARD, ZHANG_WEI_ID), ZHANG), CLERK)
    result = reader.read(
        ReadRequest(Medium(MediumKind.ID_CARD, ZHANG_WEI_ID), source_ids=(his,)), CLERK
    )
    assert his in result.patient.source_ids and not result.created


def test_a_cancelled_patient_is_not_served(reader: ReaderService, container: Container) -> None:
    made = reader.read(ReadRequest(Medium(MediumKind.ID_CARD, ZHANG_WEI_ID), ZHANG), CLERK)
    container.maintenance.cancel(made.patient.mpi_id, "重复建档", ADMIN)
    with pytest.raises(CancelledError):
        reader.read(ReadRequest(Medium(MediumKind.ID_CARD, ZHANG_WEI_ID)), CLERK)


# --- §5.1.3 社保卡 / 医保电子凭证 -----------------------------------------------------------


def test_a_verified_card_creates_its_holder_and_binds_the_card(
    reader: ReaderService, container: Container
) -> None:
    first = reader.read(ReadRequest(Medium(MediumKind.SOCIAL_SECURITY_CARD, "k10000001")), CLERK)
    again = reader.read(ReadRequest(Medium(MediumKind.SOCIAL_SECURITY_CARD, "K10000001")), CLERK)

    assert first.created and not again.created
    assert first.verification is VerificationStatus.VERIFIED
    assert first.insured is not None and first.insured.insurance_type == "职工基本医疗保险"
    patient = first.patient
    assert patient.demographics.name == "李娜" and patient.documents[0].number == LI_NA_ID
    assert patient.ehc_id == container.crypto.ehc_id(patient.mpi_id, "01", LI_NA_ID)
    assert first.binding is not None and first.binding.verified
    assert again.binding == first.binding  # bound once
    _, bindings = container.media.of_patient(patient.mpi_id, CLERK, history=True)
    assert [(b.kind, b.value) for b in bindings] == [(SOCIAL_SECURITY_CARD, "K10000001")]


def test_a_card_of_someone_registered_by_id_card_joins_that_record(
    reader: ReaderService, container: Container
) -> None:
    by_id = reader.read(
        ReadRequest(Medium(MediumKind.ID_CARD, LI_NA_ID), Demographics(name="李娜")), CLERK
    )
    by_card = reader.read(ReadRequest(Medium(MediumKind.SOCIAL_SECURITY_CARD, "K10000001")), CLERK)
    assert by_card.patient.mpi_id == by_id.patient.mpi_id and not by_card.created
    assert patients(container) == 1


def test_an_e_voucher_qr_binds_the_voucher_not_the_changing_code(
    reader: ReaderService, container: Container
) -> None:
    result = reader.read(ReadRequest(Medium(MediumKind.INSURANCE_QR, QR)), CLERK)
    assert result.binding is not None
    assert (result.binding.kind, result.binding.value) == (INSURANCE_VOUCHER, "YB11000000000001")


def test_a_card_the_insurance_system_does_not_know_is_not_found(
    reader: ReaderService, container: Container
) -> None:
    with pytest.raises(NotFoundError) as raised:
        reader.read(ReadRequest(Medium(MediumKind.SOCIAL_SECURITY_CARD, "K99999999")), CLERK)
    assert "未找到参保人" in raised.value.message
    assert patients(container) == 0
    with pytest.raises(BadMediumError):
        reader.read(ReadRequest(Medium(MediumKind.SOCIAL_SECURITY_CARD, "K-1")), CLERK)


def test_when_the_insurance_system_is_down_a_bound_card_still_resolves(
    reader: ReaderService, twin: InsuranceTwin
) -> None:
    made = reader.read(ReadRequest(Medium(MediumKind.SOCIAL_SECURITY_CARD, "K10000001")), CLERK)
    twin.down = True

    degraded = reader.read(ReadRequest(Medium(MediumKind.SOCIAL_SECURITY_CARD, "K10000001")), CLERK)
    assert degraded.patient.mpi_id == made.patient.mpi_id
    assert degraded.verification is VerificationStatus.UNAVAILABLE and degraded.degraded
    assert degraded.insured is None

    twin.cards["K10000002"] = LI_NA
    with pytest.raises(ServiceUnavailableError):
        reader.read(ReadRequest(Medium(MediumKind.SOCIAL_SECURITY_CARD, "K10000002")), CLERK)
    with pytest.raises(ServiceUnavailableError) as raised:  # the breaker is open now
        reader.read(ReadRequest(Medium(MediumKind.INSURANCE_QR, QR)), CLERK)
    assert raised.value.retry_after is not None and raised.value.retry_after > 50
    calls = twin.calls
    reader.read(ReadRequest(Medium(MediumKind.SOCIAL_SECURITY_CARD, "K10000001")), CLERK)
    assert twin.calls == calls  # open: the external system is not called
    assert reader.read(ReadRequest(Medium(MediumKind.ID_CARD, LI_NA_ID)), CLERK).patient


def test_the_verified_owner_takes_a_card_bound_to_someone_else(
    reader: ReaderService, container: Container
) -> None:
    zhang = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    container.media.bind(
        zhang.patient.mpi_id, SOCIAL_SECURITY_CARD, "K10000001", CLERK, verified=False
    )
    li_na = reader.read(ReadRequest(Medium(MediumKind.SOCIAL_SECURITY_CARD, "K10000001")), CLERK)

    assert li_na.patient.mpi_id != zhang.patient.mpi_id
    _, old = container.media.of_patient(zhang.patient.mpi_id, CLERK, history=True)
    assert len(old) == 1 and not old[0].active
    assert old[0].end_reason is not None and li_na.patient.mpi_id in old[0].end_reason
    _, active = container.media.of_patient(zhang.patient.mpi_id, CLERK)
    assert active == []


# --- manual binding (§4.4.2) ---------------------------------------------------------------


def test_binding_by_hand_checks_the_holder_when_the_insurance_system_answers(
    reader: ReaderService, container: Container, twin: InsuranceTwin
) -> None:
    zhang = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    with pytest.raises(ConflictError):
        reader.bind(zhang.patient.mpi_id, SOCIAL_SECURITY_CARD, "K10000001", CLERK)
    with pytest.raises(NotFoundError):
        reader.bind(zhang.patient.mpi_id, SOCIAL_SECURITY_CARD, "K77777777", CLERK)

    twin.down = True
    binding, wrote = reader.bind(zhang.patient.mpi_id, SOCIAL_SECURITY_CARD, "K77777777", CLERK)
    assert wrote and not binding.verified  # kept unverified while the system is down (§6.5)
    again, wrote = reader.bind(zhang.patient.mpi_id, SOCIAL_SECURITY_CARD, "k77777777", CLERK)
    assert again.id == binding.id and not wrote


def test_a_medium_bound_to_one_patient_cannot_be_bound_to_another(
    container: Container,
) -> None:
    zhang = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    li_na = container.registration.register(request("李娜", ("01", LI_NA_ID)), CLERK)
    container.media.bind(
        zhang.patient.mpi_id, INSURANCE_VOUCHER, "YB1000000001", CLERK, verified=False
    )
    with pytest.raises(ConflictError):
        container.media.bind(
            li_na.patient.mpi_id, INSURANCE_VOUCHER, "YB1000000001", CLERK, verified=False
        )
    with pytest.raises(NotFoundError):
        container.media.unbind(li_na.patient.mpi_id, INSURANCE_VOUCHER, "YB1000000001", CLERK)

    ended = container.media.unbind(zhang.patient.mpi_id, INSURANCE_VOUCHER, "YB1000000001", CLERK)
    assert not ended.active and ended.ended_by == CLERK.name
    container.media.bind(
        li_na.patient.mpi_id, INSURANCE_VOUCHER, "YB1000000001", CLERK, verified=False
    )
    _, history = container.media.of_patient(zhang.patient.mpi_id, CLERK, history=True)
    assert [b.active for b in history] == [False]


def test_two_readers_of_a_new_card_at_once_make_one_patient_and_one_binding(
    reader: ReaderService, container: Container
) -> None:
    barrier, results, errors = threading.Barrier(2), [], []

    def read_card() -> None:
        barrier.wait(5)
        try:
            medium = Medium(MediumKind.SOCIAL_SECURITY_CARD, "K10000001")
            results.append(reader.read(ReadRequest(medium), CLERK).patient.mpi_id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read_card) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(set(results)) == 1
    _, bindings = container.media.of_patient(results[0], CLERK, history=True)
    assert len(bindings) == 1 and patients(container) == 1


def test_card_numbers_are_stored_encrypted(reader: ReaderService, container: Container) -> None:
    reader.read(ReadRequest(Medium(MediumKind.SOCIAL_SECURITY_CARD, "K10000001")), CLERK)
    with container.engine.connect() as conn:
        rows = conn.execute(sa.select(media_bindings)).all()
    assert len(rows) == 1
    raw = repr(tuple(rows[0]))
    assert "K10000001" not in raw and b"K10000001" not in rows[0].value_enc
