"""Index query (guideline §4.1.2 索引查询): exact by any identifier, and fuzzy.

Exact lookup resolves an identifier system to what it names: an Appendix A document (the
number is normalised and validated first), the EHC ID, the master-index ID, a temporary
archive number (current or retired), or a hospital system's local patient ID.  Fuzzy query
takes a name in Chinese characters or pinyin (prefix), birth date, gender and phone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.errors import InvalidInputError, NotFoundError
from ehcmpi.core.model import (
    Actor,
    FuzzyQuery,
    IdentifierKey,
    KeyKind,
    PatientRecord,
    PatientVersion,
)
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.terminology.errors import UnknownCodeError
from ehcmpi.terminology.systems import (
    ARCHIVE_NUMBER_SYSTEM,
    EHC_ID_SYSTEM,
    MPI_ID_SYSTEM,
    document_type_for_system,
)
from ehcmpi.terminology.validators import check_document

MAX_FUZZY_RESULTS = 200
#: Identifiers the index issues itself, looked up upper-case.
_UPPER_CASE = {
    EHC_ID_SYSTEM: KeyKind.EHC_ID,
    MPI_ID_SYSTEM: KeyKind.MPI_ID,
    ARCHIVE_NUMBER_SYSTEM: KeyKind.ARCHIVE_NO,
}


def identifier_key(system: str, value: str) -> IdentifierKey | None:
    """What ``system|value`` is looked up by; None when it can name nobody (a document
    number that fails its check, an unknown document type)."""
    value = value.strip()
    doc_type = document_type_for_system(system)
    if doc_type is not None:
        try:
            check = check_document(doc_type, value)
        except UnknownCodeError:
            return None
        return IdentifierKey(KeyKind.DOCUMENT, check.number, doc_type) if check.valid else None
    if system in _UPPER_CASE:
        return IdentifierKey(_UPPER_CASE[system], value.upper())
    return IdentifierKey(KeyKind.SOURCE, value, system)


def resolve_identifier(uow: UnitOfWork, system: str, value: str) -> str | None:
    """The mpi_id that ``system|value`` names, or None."""
    key = identifier_key(system, value)
    return uow.patients.find_each([key])[0] if key is not None else None


class QueryService:
    def __init__(self, uow: Callable[..., UnitOfWork], audit: AuditLog) -> None:
        self._uow = uow
        self._audit = audit

    def get(self, mpi_id: str, actor: Actor) -> PatientRecord:
        """One record by master-index ID; cancelled records are returned with their status."""
        (answer,) = self.get_each([(mpi_id, actor)])
        if isinstance(answer, NotFoundError):
            raise answer
        return answer

    def get_each(
        self, requests: Sequence[tuple[str, Actor]]
    ) -> list[PatientRecord | NotFoundError]:
        """``get`` for several callers at once — their reads in one round trip, each call
        audited as its own; an unknown ID answers ``NotFoundError`` in its place."""
        with self._audit.calls([actor for _, actor in requests], "read") as calls:
            for (mpi_id, _), call in zip(requests, calls, strict=True):
                call.target = mpi_id
            with self._uow() as uow:
                found = uow.patients.get_each([mpi_id.upper() for mpi_id, _ in requests])
            answers: list[PatientRecord | NotFoundError] = []
            for (mpi_id, _), call, patient in zip(requests, calls, found, strict=True):
                if patient is not None:
                    answers.append(patient)
                    continue
                missing = NotFoundError(f"患者索引 {mpi_id} 不存在 (no such patient)")
                call.error = missing
                answers.append(missing)
            return answers

    def find(self, system: str, value: str, actor: Actor) -> PatientRecord | None:
        """精准查询: the patient that an identifier names (active or cancelled)."""
        with self._audit.call(actor, "lookup") as call, self._uow() as uow:
            call.detail = system
            mpi_id = resolve_identifier(uow, system, value)
            call.target = mpi_id
            return uow.patients.get(mpi_id) if mpi_id else None

    def search(self, query: FuzzyQuery, actor: Actor) -> list[PatientRecord]:
        """模糊查询: active patients matching every criterion given."""
        if query.is_empty():
            raise InvalidInputError(
                "模糊查询至少需要一个条件：姓名、出生日期、性别或电话 (give at least one of "
                "name, birth date, gender, phone)"
            )
        if not 1 <= query.limit <= MAX_FUZZY_RESULTS:
            raise InvalidInputError(
                f"结果数量必须在 1 到 {MAX_FUZZY_RESULTS} 之间 (limit out of range)"
            )
        with self._audit.call(actor, "search") as call, self._uow() as uow:
            results = uow.patients.search(query)
            call.detail = f"{len(results)} results"
            return results

    def history(self, mpi_id: str, actor: Actor) -> list[PatientVersion]:
        """Every version of a patient's record, oldest first (§4.1.2 患者基本信息维护)."""
        with self._audit.call(actor, "history") as call, self._uow() as uow:
            call.target = mpi_id
            versions = uow.patients.versions(mpi_id.upper())
            if not versions:
                raise NotFoundError(f"患者索引 {mpi_id} 不存在 (no such patient)")
            return versions
