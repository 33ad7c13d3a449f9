"""Maintenance (guideline §4.1.2 患者基本信息维护, 索引注销).

Demographics are added and changed with a version history; an update may name the version it
was based on (optimistic locking).  Cancellation (注销) is exact or batch, recorded, and
reversible by an administrator.  Adding a valid document to a record that has none issues its
EHC ID (§5.1.6 step 4–5).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.documents import check_demographics, check_documents, derived_demographics
from ehcmpi.core.errors import (
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    VersionConflictError,
)
from ehcmpi.core.model import (
    Actor,
    Demographics,
    DocumentInput,
    PatientRecord,
    PatientStatus,
    PatientVersion,
    RegistrationMode,
    RegistrationResult,
)
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.registration import RegistrationService, utcnow
from ehcmpi.terminology.pinyin import name_pinyin
from ehcmpi.terminology.validators import check_document, cross_check


class MaintenanceService:
    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        audit: AuditLog,
        registration: RegistrationService,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._registration = registration

    def _load(self, uow: UnitOfWork, mpi_id: str) -> PatientRecord:
        patient = uow.patients.get(mpi_id.upper())
        if patient is None:
            raise NotFoundError(f"患者索引 {mpi_id} 不存在 (no such patient)")
        return patient

    def _save(
        self,
        uow: UnitOfWork,
        current: PatientRecord,
        updated: PatientRecord,
        action: str,
        actor: Actor,
    ) -> PatientRecord:
        return save_version(uow, current, updated, action, actor, utcnow())

    def update_demographics(
        self,
        mpi_id: str,
        demographics: Demographics,
        actor: Actor,
        *,
        expected_version: int | None = None,
        documents: Sequence[DocumentInput] = (),
    ) -> PatientRecord:
        """Replace a patient's demographics; the old values stay in the version history.

        ``documents`` the record lacks are added in the same transaction (the first valid one
        issues the EHC ID), so a refused document leaves the demographics unchanged too.
        """
        with self._audit.call(actor, "update") as call:
            call.target = mpi_id
            check_demographics(demographics)
            if demographics.name and not demographics.name_pinyin:
                demographics = replace(demographics, name_pinyin=name_pinyin(demographics.name))
            with self._uow(write=True) as uow:
                current = self._load(uow, mpi_id)
                _require_active(current)
                if expected_version is not None and expected_version != current.version:
                    raise VersionConflictError(
                        f"版本 {expected_version} 不是当前版本 {current.version} (stale version)"
                    )
                primary = current.primary_document
                if primary is not None:
                    _cross_check(primary.doc_type, primary.number, demographics)
                if documents:
                    current = self._attach_documents(uow, current, documents, demographics, actor)
                # What the ID number encodes is not lost by an update that leaves it out.
                demographics = derived_demographics(demographics, current.documents)
                updated = self._save(
                    uow,
                    current,
                    current.with_changes(demographics=demographics),
                    "update",
                    actor,
                )
                uow.commit()
                return updated

    def _attach_documents(
        self,
        uow: UnitOfWork,
        current: PatientRecord,
        documents: Sequence[DocumentInput],
        demographics: Demographics,
        actor: Actor,
    ) -> PatientRecord:
        checked = check_documents(tuple(documents), demographics, RegistrationMode.DIRECT)
        for doc in checked.valid:
            owner = uow.patients.find_by_document(doc.doc_type, doc.number)
            if owner and owner != current.mpi_id:
                raise ConflictError(
                    f"证件 {doc.doc_type} 已属于另一患者 (document belongs to another patient)"
                )
        # Like registration: a missing birth date and gender come from the number.
        derived = derived_demographics(current.demographics, checked.documents)
        result = self._registration.attach(uow, current, derived, checked, (), actor)
        if result is None:
            raise VersionConflictError("患者索引被并发修改，请重试 (modified concurrently; retry)")
        return result.patient

    def add_documents(
        self, mpi_id: str, documents: Sequence[DocumentInput], actor: Actor
    ) -> RegistrationResult:
        """Add documents to a record; a first valid one issues the EHC ID (§5.1.6)."""
        with self._audit.call(actor, "add-documents") as call:
            call.target = mpi_id
            with self._uow(write=True) as uow:
                current = self._load(uow, mpi_id)
                _require_active(current)
                updated = self._attach_documents(
                    uow, current, documents, current.demographics, actor
                )
                uow.commit()
                issued = current.ehc_id is None and updated.ehc_id is not None
                return RegistrationResult(updated, created=False, ehc_issued=issued)

    def cancel(self, mpi_id: str, reason: str, actor: Actor) -> PatientRecord:
        """精准注销 of one index; the record stays, marked cancelled, with the reason."""
        if not reason.strip():
            raise InvalidInputError("注销须说明原因 (a cancellation needs a reason)")
        with self._audit.call(actor, "cancel") as call, self._uow(write=True) as uow:
            call.target, call.detail = mpi_id, reason
            current = self._load(uow, mpi_id)
            _require_active(current)
            if current.status is PatientStatus.MERGED:  # its survivor answers for it
                raise ConflictError(
                    f"患者索引 {mpi_id} 已合并到 {current.parent_id} (index merged into "
                    f"{current.parent_id}; cancel that one)"
                )
            flags = (*current.data_quality, f"cancelled:{reason.strip()}")
            updated = self._save(
                uow,
                current,
                current.with_changes(status=PatientStatus.CANCELLED, data_quality=flags),
                "cancel",
                actor,
            )
            uow.commit()
            return updated

    def cancel_batch(
        self, mpi_ids: Sequence[str], reason: str, actor: Actor
    ) -> list[PatientRecord | DomainError]:
        """批量注销: each index on its own; the result lists what happened to each."""
        results: list[PatientRecord | DomainError] = []
        for mpi_id in mpi_ids:
            try:
                results.append(self.cancel(mpi_id, reason, actor))
            except DomainError as exc:
                results.append(exc)
        return results

    def restore(self, mpi_id: str, actor: Actor) -> PatientRecord:
        """Undo a cancellation; administrators only."""
        with self._audit.call(actor, "restore") as call, self._uow(write=True) as uow:
            call.target = mpi_id
            if not actor.is_admin:
                raise PermissionDeniedError("只有管理员可以恢复已注销的索引 (admin only)")
            current = self._load(uow, mpi_id)
            if current.status is not PatientStatus.CANCELLED:
                raise ConflictError(f"患者索引 {mpi_id} 未被注销 (index is not cancelled)")
            flags = tuple(f for f in current.data_quality if not f.startswith("cancelled:"))
            updated = self._save(
                uow,
                current,
                current.with_changes(status=PatientStatus.ACTIVE, data_quality=flags),
                "restore",
                actor,
            )
            uow.commit()
            return updated


def save_version(
    uow: UnitOfWork,
    current: PatientRecord,
    updated: PatientRecord,
    action: str,
    actor: Actor,
    now: dt.datetime,
) -> PatientRecord:
    """Write ``updated`` as the next version of ``current`` and record it in the history
    (§4.1.2 患者基本信息维护); a concurrent change makes it a ``VersionConflictError``."""
    updated = updated.with_changes(version=current.version + 1, updated_at=now)
    if not uow.patients.update(updated, current.version):
        raise VersionConflictError(
            f"患者索引 {current.mpi_id} 已被他人修改，请刷新后重试 (modified concurrently)"
        )
    uow.patients.add_version(
        PatientVersion(current.mpi_id, updated.version, action, actor.name, now, updated)
    )
    return updated


def _require_active(patient: PatientRecord) -> None:
    if patient.status is PatientStatus.CANCELLED:
        raise ConflictError(
            f"患者索引 {patient.mpi_id} 已注销 (index cancelled; an administrator may restore it)"
        )


def _cross_check(doc_type: str, number: str, demographics: Demographics) -> None:
    problems = cross_check(
        check_document(doc_type, number),
        birth_date=demographics.birth_date,
        gender=demographics.gender,
    )
    if problems:
        raise InvalidInputError("; ".join(problems), location="demographics")
