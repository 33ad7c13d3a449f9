"""Checking the documents and demographics of a registration (guideline §4.4 按照证件号、
证件类型、姓名生成电子健康卡 ID; Appendix A; §5.2.1 不满足电子健康卡生成规则的数据，保持现状).

A number that fails its check never yields an EHC ID.  Direct registration refuses it with a
message naming the document type and the reason; a hospital feed or batch import keeps it as
an invalid document and flags the record for data quality, so that matching can still see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ehcmpi.core.errors import InvalidDocumentError, InvalidInputError
from ehcmpi.core.model import (
    Demographics,
    DocumentInput,
    IdentifierKey,
    IdentityDocument,
    KeyKind,
    RegistrationMode,
    RegistrationRequest,
    SourceIdentifier,
)
from ehcmpi.terminology.errors import UnknownCodeError
from ehcmpi.terminology.ethnicity import ETHNICITIES
from ehcmpi.terminology.gender import GENDERS
from ehcmpi.terminology.pinyin import name_pinyin
from ehcmpi.terminology.validators import DocumentCheck, check_document, cross_check

FLAG_INVALID_DOCUMENT = "invalid-document"
FLAG_DEMOGRAPHICS_MISMATCH = "demographics-mismatch"
FLAG_NO_DOCUMENT = "no-document"


@dataclass(frozen=True, slots=True)
class CheckedDocuments:
    documents: tuple[IdentityDocument, ...]
    flags: tuple[str, ...]

    @property
    def valid(self) -> tuple[IdentityDocument, ...]:
        return tuple(d for d in self.documents if d.valid)


#: Longest values the schema stores (``storage.tables``); longer input is refused, not cut.
MAX_NAME = 200
MAX_IDENTIFIER = 255
MAX_PHONE = 40


def _too_long(what: str, value: str | None, limit: int, location: str) -> None:
    if value is not None and len(value) > limit:
        raise InvalidInputError(
            f"{what}超过 {limit} 个字符 ({location} longer than {limit} characters)",
            location=location,
        )


def check_source_ids(source_ids: tuple[SourceIdentifier, ...]) -> None:
    for sid in source_ids:
        _too_long("标识域", sid.system, MAX_IDENTIFIER, "identifier.system")
        _too_long("院内标识", sid.value, MAX_IDENTIFIER, "identifier.value")


def check_demographics(demographics: Demographics) -> None:
    """Refuse codes outside GB/T 2261.1 (gender) and GB/T 3304 (ethnicity), and over-long
    names and phones."""
    _too_long("姓名", demographics.name, MAX_NAME, "name")
    _too_long("母亲姓名", demographics.mothers_maiden_name, MAX_NAME, "mothers_maiden_name")
    for phone in demographics.phones:
        _too_long("电话号码", phone, MAX_PHONE, "telecom")
    if demographics.gender is not None and demographics.gender not in GENDERS:
        raise InvalidInputError(
            f"性别代码 '{demographics.gender}' 不在 GB/T 2261.1 中 (unknown gender code)",
            location="gender",
        )
    if demographics.ethnicity is not None and demographics.ethnicity not in ETHNICITIES:
        raise InvalidInputError(
            f"民族代码 '{demographics.ethnicity}' 不在 GB/T 3304 中 (unknown ethnicity code)",
            location="ethnicity",
        )


def _check_one(item: DocumentInput) -> DocumentCheck:
    try:
        return check_document(item.doc_type, item.number)
    except UnknownCodeError as exc:
        raise InvalidInputError(str(exc), location="document.type") from exc


def check_documents(
    inputs: tuple[DocumentInput, ...],
    demographics: Demographics,
    mode: RegistrationMode,
) -> CheckedDocuments:
    """Validate and normalise every document, cross-checking birth date and gender."""
    documents: list[IdentityDocument] = []
    flags: list[str] = []
    seen: set[tuple[str, str]] = set()
    for item in inputs:
        check = _check_one(item)
        if (check.doc_type, check.number) in seen:
            continue
        seen.add((check.doc_type, check.number))
        if not check.valid:
            if mode is RegistrationMode.DIRECT:
                # The reason already names the document type (validators._reason).
                raise InvalidDocumentError(str(check.reason), location="document.number")
            flags.append(FLAG_INVALID_DOCUMENT)
            documents.append(
                IdentityDocument(check.doc_type, check.number, valid=False, reason=check.reason)
            )
            continue
        problems = cross_check(
            check, birth_date=demographics.birth_date, gender=demographics.gender
        )
        if problems and mode is RegistrationMode.DIRECT:
            raise InvalidInputError("; ".join(problems), location="demographics")
        if problems:
            flags.append(FLAG_DEMOGRAPHICS_MISMATCH)
        documents.append(IdentityDocument(check.doc_type, check.number))
    if not any(d.valid for d in documents):
        flags.append(FLAG_NO_DOCUMENT)
    return CheckedDocuments(tuple(documents), tuple(dict.fromkeys(flags)))


def with_primary(documents: tuple[IdentityDocument, ...]) -> tuple[IdentityDocument, ...]:
    """Mark the first valid document as the one the EHC ID is generated from."""
    first = next((d for d in documents if d.valid), None)
    return tuple(
        IdentityDocument(d.doc_type, d.number, d.valid, d.reason, primary=d is first)
        for d in documents
    )


def identifier_keys(checked: CheckedDocuments, request: RegistrationRequest) -> list[IdentifierKey]:
    """The keys that name the request's patient: its valid documents and source identifiers."""
    return [IdentifierKey(KeyKind.DOCUMENT, d.number, d.doc_type) for d in checked.valid] + [
        IdentifierKey(KeyKind.SOURCE, s.value, s.system) for s in request.source_ids
    ]


def derived_demographics(
    demographics: Demographics, documents: Sequence[IdentityDocument]
) -> Demographics:
    """Fill a missing birth date, gender and pinyin from what the documents encode."""
    birth, gender = demographics.birth_date, demographics.gender
    for doc in documents:
        if doc.valid and (birth is None or gender is None):
            check = check_document(doc.doc_type, doc.number)
            birth = birth or check.birth_date
            gender = gender or check.gender
    pinyin = demographics.name_pinyin or (
        name_pinyin(demographics.name) if demographics.name else None
    )
    return replace(demographics, birth_date=birth, gender=gender, name_pinyin=pinyin)
