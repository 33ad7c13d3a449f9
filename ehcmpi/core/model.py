"""Domain model of the master index (guideline §4.1.2 索引注册, §4.2.2, §4.4.1).

Plain dataclasses; no framework imports. A patient's master-index record carries the
person's demographics (患者基本信息: 姓名、性别、身份证信息、民族、手机号码), identity documents
(Appendix A), identifiers assigned by hospital systems, and the electronic health card ID.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from enum import StrEnum


class PatientStatus(StrEnum):
    """Lifecycle of a master-index record (§4.1.2 索引注销 is reversible by an administrator)."""

    ACTIVE = "active"
    CANCELLED = "cancelled"
    #: merged into another record (``parent_id``) by 索引合并; a split can bring it back
    MERGED = "merged"


class RegistrationMode(StrEnum):
    """Who is registering: decides what happens to a number that fails its check.

    DIRECT registration (a reader terminal, an app, FHIR create) refuses it; a hospital FEED
    or a batch IMPORT keeps the record without an EHC ID, flagged (§5.2.1 保持现状).
    """

    DIRECT = "direct"
    FEED = "feed"


class EhcAccountStatus(StrEnum):
    """Electronic health card account states (§4.2.2): 正常 / 暂停 / 注销."""

    NORMAL = "normal"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class EhcCardKind(StrEnum):
    """A formal card (正式卡) or a temporary 电子就诊卡."""

    FORMAL = "formal"
    TEMPORARY = "temporary"


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address; ``area_code`` is the 6-digit GB/T 2260 division code when known."""

    text: str | None = None
    line: str | None = None
    city: str | None = None
    district: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    area_code: str | None = None


@dataclass(frozen=True, slots=True)
class Demographics:
    """患者基本信息. ``gender`` is a GB/T 2261.1 code, ``ethnicity`` a GB/T 3304 code.

    ``mothers_maiden_name`` (母亲姓名, HL7 PID-6, FHIR extension patient-mothersMaidenName) is
    a third person's name, kept as given, for PDQ / PDQm search (IHE ITI-21, ITI-78).
    """

    name: str | None = None
    name_pinyin: str | None = None
    gender: str | None = None
    birth_date: dt.date | None = None
    ethnicity: str | None = None
    phones: tuple[str, ...] = ()
    addresses: tuple[Address, ...] = ()
    mothers_maiden_name: str | None = None

    def filled_from(self, other: Demographics) -> Demographics:
        """Keep what this record has; take from ``other`` only what is missing here."""
        return Demographics(
            name=self.name or other.name,
            name_pinyin=self.name_pinyin or other.name_pinyin,
            gender=self.gender or other.gender,
            birth_date=self.birth_date or other.birth_date,
            ethnicity=self.ethnicity or other.ethnicity,
            phones=self.phones + tuple(p for p in other.phones if p not in self.phones),
            addresses=self.addresses or other.addresses,
            mothers_maiden_name=self.mothers_maiden_name or other.mothers_maiden_name,
        )


@dataclass(frozen=True, slots=True)
class IdentityDocument:
    """An Appendix A document: type code and normalised number.

    ``valid`` is False for a number that fails its check (kept from feeds for data quality);
    ``reason`` then says why.  ``retired`` marks an identifier that no longer identifies the
    patient but stays on record.
    """

    doc_type: str
    number: str
    valid: bool = True
    reason: str | None = None
    primary: bool = False


@dataclass(frozen=True, slots=True)
class SourceIdentifier:
    """A patient ID assigned by a hospital system: its identifier system (domain) and value."""

    system: str
    value: str


class KeyKind(StrEnum):
    """What an :class:`IdentifierKey` is looked up by."""

    DOCUMENT = "document"  # a valid identity document; scope: its Appendix A type
    SOURCE = "source"  # a hospital system's patient ID; scope: its system
    EHC_ID = "ehc_id"
    ARCHIVE_NO = "archive_no"
    MPI_ID = "mpi_id"


@dataclass(frozen=True, slots=True)
class IdentifierKey:
    """An identifier as the patient repository finds its holder (§4.1.2 精准查询), the
    value normalised (``core.query.identifier_key``)."""

    kind: KeyKind
    value: str
    scope: str = ""


@dataclass(frozen=True, slots=True)
class EhcAccount:
    """The electronic health card account issued on registration (§4.2.2)."""

    ehc_id: str
    mpi_id: str
    doc_type: str
    status: EhcAccountStatus = EhcAccountStatus.NORMAL
    kind: EhcCardKind = EhcCardKind.FORMAL
    issued_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """The master-index record (人员主索引): ID, EHC ID, documents, parent ID, demographics."""

    mpi_id: str
    demographics: Demographics
    ehc_id: str | None = None
    archive_no: str | None = None
    documents: tuple[IdentityDocument, ...] = ()
    source_ids: tuple[SourceIdentifier, ...] = ()
    status: PatientStatus = PatientStatus.ACTIVE
    parent_id: str | None = None
    data_quality: tuple[str, ...] = ()
    version: int = 1
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def primary_document(self) -> IdentityDocument | None:
        """The document the EHC ID was generated from."""
        return next((d for d in self.documents if d.primary), None)

    def with_changes(self, **changes: object) -> PatientRecord:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class DocumentInput:
    """A document as a caller typed it: type code and raw (unnormalised) number."""

    doc_type: str
    number: str


@dataclass(frozen=True, slots=True)
class RegistrationRequest:
    """What a caller gives to register (§4.1.2 索引注册, §4.4.1 建档).

    ``accounts`` are patient account numbers (HL7 PID-18, CX): value and the system of their
    assigning authority.  They are no identity: they never decide which record is meant, are
    recorded on the record registered or matched, and are searchable (IHE ITI-21 ``@PID.18``).
    """

    demographics: Demographics
    documents: tuple[DocumentInput, ...] = ()
    source_ids: tuple[SourceIdentifier, ...] = ()
    mode: RegistrationMode = RegistrationMode.DIRECT
    accounts: tuple[SourceIdentifier, ...] = ()


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    """The patient's record, and whether this call created it or issued its EHC ID."""

    patient: PatientRecord
    created: bool
    ehc_issued: bool


@dataclass(frozen=True, slots=True)
class PatientVersion:
    """One entry of a patient's version history (§4.1.2 患者基本信息维护)."""

    mpi_id: str
    version: int
    action: str
    actor: str
    at: dt.datetime
    snapshot: PatientRecord


@dataclass(frozen=True, slots=True)
class Actor:
    """Who calls a service: a user or system name and its roles (``admin`` may restore)."""

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    channel: str = "api"

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


SYSTEM_ACTOR = Actor("system", frozenset({"admin"}), "internal")


@dataclass(frozen=True, slots=True)
class FuzzyQuery:
    """索引查询 模糊查询: any combination; strings match by prefix, names also by pinyin."""

    name: str | None = None
    birth_date: dt.date | None = None
    gender: str | None = None
    phone: str | None = None
    limit: int = 50

    def is_empty(self) -> bool:
        return not (self.name or self.birth_date or self.gender or self.phone)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One service call for the call audit (§4.1.1 索引服务调用审计)."""

    at: dt.datetime
    actor: str
    channel: str
    action: str
    outcome: str
    duration_ms: float
    target: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A notification waiting for delivery (``core.outbox``)."""

    id: int
    consumer: str
    mpi_id: str
    attempts: int
    created_at: dt.datetime
