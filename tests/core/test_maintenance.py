"""§4.1.2 患者基本信息维护 (versioned updates) and 索引注销 (cancel, batch cancel, restore)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import (
    CancelledError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    VersionConflictError,
)
from ehcmpi.core.model import (
    Address,
    Demographics,
    DocumentInput,
    FuzzyQuery,
    PatientRecord,
    PatientStatus,
    RegistrationMode,
)
from ehcmpi.terminology.systems import ID_CARD_SYSTEM
from tests.core.support import (
    ADMIN,
    CLERK,
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    citizen_id,
    his,
    request,
)


def _zhang_wei(container: Container) -> PatientRecord:
    result = container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), phones=("13800138000",)),
        CLERK,
    )
    return result.patient


def _changed(patient: PatientRecord, **changes: object) -> Demographics:
    return replace(patient.demographics, **changes)  # type: ignore[arg-type]


# --- 患者基本信息维护 -------------------------------------------------------------------


def test_update_bumps_the_version_and_history_keeps_the_old_values(
    container: Container,
) -> None:
    patient = _zhang_wei(container)
    address = Address(text="北京市东城区东长安街1号", area_code="110101")
    new = _changed(
        patient,
        name="张薇",
        name_pinyin=None,
        ethnicity="03",
        phones=("13900139000",),
        addresses=(address,),
    )

    updated = container.maintenance.update_demographics(
        patient.mpi_id, new, CLERK, expected_version=1
    )

    assert updated.version == 2
    stored = container.query.get(patient.mpi_id, CLERK)
    assert stored.version == 2
    assert stored.demographics.name == "张薇"
    assert stored.demographics.name_pinyin == "zhang wei"
    assert stored.demographics.ethnicity == "03"
    assert stored.demographics.phones == ("13900139000",)
    assert stored.demographics.addresses == (address,)
    assert stored.ehc_id == patient.ehc_id
    versions = container.query.history(patient.mpi_id, CLERK)
    assert [(v.version, v.action, v.actor) for v in versions] == [
        (1, "create", CLERK.name),
        (2, "update", CLERK.name),
    ]
    assert versions[0].snapshot.demographics.name == "张伟"
    assert versions[0].snapshot.demographics.phones == ("13800138000",)
    assert versions[1].snapshot.demographics.name == "张薇"
    # The fuzzy index follows the new name; the old one no longer finds the patient.
    assert [p.mpi_id for p in container.query.search(FuzzyQuery(name="张薇"), CLERK)] == [
        patient.mpi_id
    ]
    assert container.query.search(FuzzyQuery(name="张伟"), CLERK) == []
    assert container.query.search(FuzzyQuery(phone="13800138000"), CLERK) == []


def test_update_without_birth_date_and_gender_keeps_those_of_the_id_number(
    container: Container,
) -> None:
    patient = _zhang_wei(container)

    updated = container.maintenance.update_demographics(
        patient.mpi_id, Demographics(name="张伟", phones=("13900139000",)), CLERK
    )

    assert updated.demographics.birth_date == ZHANG_WEI_BIRTH
    assert updated.demographics.gender == "2"
    stored = container.query.get(patient.mpi_id, CLERK)
    assert (stored.demographics.birth_date, stored.demographics.gender) == (ZHANG_WEI_BIRTH, "2")
    assert stored.demographics.phones == ("13900139000",)


def test_stale_expected_version_is_refused_and_nothing_changes(container: Container) -> None:
    patient = _zhang_wei(container)
    container.maintenance.update_demographics(
        patient.mpi_id, _changed(patient, ethnicity="01"), CLERK, expected_version=1
    )

    with pytest.raises(VersionConflictError):
        container.maintenance.update_demographics(
            patient.mpi_id, _changed(patient, name="李四"), CLERK, expected_version=1
        )

    stored = container.query.get(patient.mpi_id, CLERK)
    assert stored.version == 2 and stored.demographics.name == "张伟"
    assert len(container.query.history(patient.mpi_id, CLERK)) == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"birth_date": dt.date(1950, 1, 1)},
        {"gender": "1"},
    ],
)
def test_update_contradicting_the_id_number_is_refused(
    container: Container, changes: dict[str, object]
) -> None:
    patient = _zhang_wei(container)

    with pytest.raises(InvalidInputError):
        container.maintenance.update_demographics(
            patient.mpi_id, _changed(patient, **changes), CLERK
        )

    stored = container.query.get(patient.mpi_id, CLERK)
    assert stored.version == 1 and stored.demographics.birth_date == ZHANG_WEI_BIRTH


@pytest.mark.parametrize(
    ("field", "code"), [("gender", "3"), ("gender", "F"), ("ethnicity", "57"), ("ethnicity", "1")]
)
def test_unknown_gender_or_ethnicity_code_is_refused(
    container: Container, field: str, code: str
) -> None:
    patient = _zhang_wei(container)

    with pytest.raises(InvalidInputError) as caught:
        container.maintenance.update_demographics(
            patient.mpi_id, _changed(patient, **{field: code}), CLERK
        )

    assert caught.value.location == field
    assert container.query.get(patient.mpi_id, CLERK).version == 1


def test_update_of_unknown_patient_is_not_found(container: Container) -> None:
    with pytest.raises(NotFoundError):
        container.maintenance.update_demographics("0" * 64, Demographics(name="张伟"), CLERK)


# --- 索引注销 -------------------------------------------------------------------------


def test_cancel_restore_cycle(container: Container) -> None:
    patient = _zhang_wei(container)

    cancelled = container.maintenance.cancel(patient.mpi_id, "重复建档", CLERK)

    assert cancelled.status is PatientStatus.CANCELLED
    assert container.query.get(patient.mpi_id, CLERK).status is PatientStatus.CANCELLED
    assert container.query.search(FuzzyQuery(name="张伟"), CLERK) == []
    # Exact lookup still names the record, with its status.
    found = container.query.find(ID_CARD_SYSTEM, ZHANG_WEI_ID, CLERK)
    assert found is not None and found.status is PatientStatus.CANCELLED
    for attempt in (
        request("张伟", ("01", ZHANG_WEI_ID)),
        request("张伟", sources=(his("H-1"),)),
        request("张伟", ("01", ZHANG_WEI_ID), mode=RegistrationMode.FEED),
    ):
        with pytest.raises(CancelledError):
            container.registration.register(attempt, CLERK)
    with pytest.raises(ConflictError):
        container.maintenance.update_demographics(patient.mpi_id, patient.demographics, CLERK)
    with pytest.raises(PermissionDeniedError):
        container.maintenance.restore(patient.mpi_id, CLERK)
    assert container.query.get(patient.mpi_id, CLERK).status is PatientStatus.CANCELLED

    restored = container.maintenance.restore(patient.mpi_id, ADMIN)

    assert restored.status is PatientStatus.ACTIVE
    assert not any(f.startswith("cancelled:") for f in restored.data_quality)
    assert [p.mpi_id for p in container.query.search(FuzzyQuery(name="张伟"), CLERK)] == [
        patient.mpi_id
    ]
    again = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    assert again.patient.mpi_id == patient.mpi_id and not again.created
    history = container.query.history(patient.mpi_id, CLERK)
    assert [(v.action, v.actor) for v in history] == [
        ("create", CLERK.name),
        ("cancel", CLERK.name),
        ("restore", ADMIN.name),
    ]
    assert history[1].snapshot.status is PatientStatus.CANCELLED
    assert "cancelled:重复建档" in history[1].snapshot.data_quality


def test_cancel_needs_a_reason_and_an_active_record(container: Container) -> None:
    patient = _zhang_wei(container)

    with pytest.raises(InvalidInputError):
        container.maintenance.cancel(patient.mpi_id, "  ", CLERK)
    assert container.query.get(patient.mpi_id, CLERK).status is PatientStatus.ACTIVE

    container.maintenance.cancel(patient.mpi_id, "死亡", CLERK)
    with pytest.raises(ConflictError):
        container.maintenance.cancel(patient.mpi_id, "死亡", CLERK)
    with pytest.raises(ConflictError):
        container.maintenance.restore(_other_patient(container).mpi_id, ADMIN)


def _other_patient(container: Container) -> PatientRecord:
    number = citizen_id("110101", dt.date(1960, 6, 6), 31)
    return container.registration.register(request("王五", ("01", number)), CLERK).patient


def test_batch_cancel_reports_per_id(container: Container) -> None:
    first = _zhang_wei(container)
    second = _other_patient(container)
    unknown = "F" * 64

    results = container.maintenance.cancel_batch(
        [first.mpi_id, unknown, second.mpi_id.lower()], "批量清理测试数据", CLERK
    )

    assert len(results) == 3
    done_first, missing, done_second = results
    assert isinstance(done_first, PatientRecord) and done_first.mpi_id == first.mpi_id
    assert isinstance(missing, NotFoundError)
    assert isinstance(done_second, PatientRecord) and done_second.mpi_id == second.mpi_id
    for mpi_id in (first.mpi_id, second.mpi_id):
        assert container.query.get(mpi_id, CLERK).status is PatientStatus.CANCELLED
        assert [v.action for v in container.query.history(mpi_id, CLERK)] == [
            "create",
            "cancel",
        ]


def test_update_with_a_bad_document_changes_nothing(container: Container) -> None:
    """Demographics and documents of one update commit together or not at all."""
    archived = container.registration.register(
        request("李明", sources=(his("H-9"),)), CLERK
    ).patient
    bad = citizen_id("110105", dt.date(1980, 5, 1), 13)[:-1] + "0"

    with pytest.raises(InvalidInputError, match="居民身份证"):
        container.maintenance.update_demographics(
            archived.mpi_id,
            _changed(archived, name="李明明"),
            CLERK,
            documents=[DocumentInput("01", bad)],
        )

    stored = container.query.get(archived.mpi_id, CLERK)
    assert stored.demographics.name == "李明" and stored.version == archived.version
    assert stored.ehc_id is None


def test_update_with_a_first_valid_document_issues_the_ehc_id(container: Container) -> None:
    archived = container.registration.register(
        request("李明", sources=(his("H-9"),)), CLERK
    ).patient
    number = citizen_id("110105", dt.date(1980, 5, 1), 13)

    updated = container.maintenance.update_demographics(
        archived.mpi_id,
        _changed(archived, name="李明", phones=("13900000000",)),
        CLERK,
        documents=[DocumentInput("01", number)],
    )

    assert updated.ehc_id == container.crypto.ehc_id(archived.mpi_id, "01", number)
    assert updated.demographics.phones == ("13900000000",)
    assert updated.demographics.birth_date == dt.date(1980, 5, 1)
    assert updated.archive_no == archived.archive_no
