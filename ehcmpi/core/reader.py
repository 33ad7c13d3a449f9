"""The unified reader entry (统一识读入口): guideline §4.4, flows §5.1.1–§5.1.4 and §5.1.6.

One call resolves whatever the patient shows to their master-index record and EHC ID, and
creates them when the rules allow ("按照证件号、证件类型、姓名生成电子健康卡 ID"):

============================ =================================================================
medium                       what happens
============================ =================================================================
``id-card`` (§5.1.1)         居民身份证 number (Appendix A 01) checked (GB 11643); the holder is
                             looked up; if unknown, registered with the card's name.
``document`` (§5.1.4)        any Appendix A document, read or typed in; same as above.
``ehc-qr`` (§5.1.2)          the EHC QR text goes to QR verification (``core.qr``: expiry, use
                             limit, cross-domain); the patient it names is returned.
``social-security-card``,    the card number / e-voucher QR goes to the 社保/医保身份识别系统
``insurance-qr`` (§5.1.3)    (``core.verifier`` port); the person it returns is looked up by
                             document or registered, and the medium is bound to them
                             (``core.media``); the answer carries the insurance status.
``none`` (§5.1.6)            no medium: registered from demographics with a temporary archive
                             number, no EHC ID.
============================ =================================================================

Lookup is :class:`~ehcmpi.core.query.QueryService`, creation is
:class:`~ehcmpi.core.registration.RegistrationService` (idempotent, race-safe): the reader
adds no second copy of either.  Creating needs at least a name (422 otherwise).

Degradation (§6.5, exact policy).  When the external verifier is down — timeout, refused,
5xx, or its circuit breaker open (then it is not called at all) — a social-security card that
is already bound resolves to its patient with verification ``unavailable`` (no insurance
information, the binding is not changed); anything else it alone could answer (an unbound
card, any e-voucher QR, whose code changes every time) is refused with
:class:`ServiceUnavailableError` (HTTP 503, ``Retry-After``: the breaker's cool-down).  Every
other medium never touches the external system and keeps working.  A verifier that answers
"unknown card" is authoritative: 404, whatever the bindings say.
"""

from __future__ import annotations

from dataclasses import replace

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.documents import check_documents
from ehcmpi.core.errors import (
    CancelledError,
    ConflictError,
    NotFoundError,
)
from ehcmpi.core.media import (
    INSURANCE_VOUCHER,
    SOCIAL_SECURITY_CARD,
    MediaBinding,
    MediaService,
    medium_number,
)
from ehcmpi.core.model import (
    Actor,
    Demographics,
    DocumentInput,
    PatientRecord,
    PatientStatus,
    RegistrationMode,
    RegistrationRequest,
)
from ehcmpi.core.query import QueryService
from ehcmpi.core.reading import (
    BadMediumError,
    MediumKind,
    NotCreatableError,
    QrVerifier,
    ReadRequest,
    ReadResult,
    ServiceUnavailableError,
    VerificationStatus,
    qr_error,
)
from ehcmpi.core.registration import RegistrationService
from ehcmpi.core.verifier import (
    IdentityVerifier,
    InsuredPerson,
    Verification,
    VerifierUnavailable,
)
from ehcmpi.terminology.systems import document_system

MAX_VALUE = 1024
MAX_PARENT_HOPS = 32


def _no_name(what: str) -> NotCreatableError:
    return NotCreatableError(
        f"{what}，且未提供姓名，无法建档 (no patient holds it and no name was given to create one)",
        location="demographics",
    )


class ReaderService:
    """The reader entry (module docstring) and manual binding of media."""

    def __init__(
        self,
        query: QueryService,
        registration: RegistrationService,
        media: MediaService,
        audit: AuditLog,
        *,
        verifier: IdentityVerifier | None = None,
        qr: QrVerifier | None = None,
    ) -> None:
        self._query = query
        self._registration = registration
        self._media = media
        self._audit = audit
        self._verifier = verifier
        self._qr = qr

    def read(self, request: ReadRequest, actor: Actor) -> ReadResult:
        with self._audit.call(actor, "read-medium") as call:
            call.detail = request.medium.kind.value
            result = self._read(request, actor)
            call.target = result.patient.mpi_id
            created = " created" if result.created else ""
            call.detail = f"{request.medium.kind} {result.verification}{created}"
            return result

    def _read(self, request: ReadRequest, actor: Actor) -> ReadResult:
        medium = request.medium
        if medium.kind is MediumKind.NONE:
            return self._no_medium(request, actor)
        value = (medium.value or "").strip()
        if not value or len(value) > MAX_VALUE:
            raise BadMediumError(
                f"介质内容须为 1 至 {MAX_VALUE} 个字符 (the medium's value must be 1 to "
                f"{MAX_VALUE} characters)",
                location="value",
            )
        if medium.kind is MediumKind.ID_CARD:
            return self._by_document("01", value, request, actor)
        if medium.kind is MediumKind.DOCUMENT:
            if not medium.doc_type:
                raise BadMediumError(
                    "证件介质须给出附录 A 证件类型 (a document needs its Appendix A type)",
                    location="documentType",
                )
            return self._by_document(medium.doc_type, value, request, actor)
        if medium.kind is MediumKind.EHC_QR:
            return self._ehc_qr(value, request, actor)
        return self._insured(medium.kind, value, request, actor)

    # -- documents (§5.1.1, §5.1.4) and no medium (§5.1.6) ---------------------------------

    def _by_document(
        self,
        doc_type: str,
        raw: str,
        request: ReadRequest,
        actor: Actor,
        *,
        verification: VerificationStatus = VerificationStatus.NOT_REQUIRED,
        insured: InsuredPerson | None = None,
    ) -> ReadResult:
        checked = check_documents(
            (DocumentInput(doc_type, raw),), request.demographics, RegistrationMode.DIRECT
        )
        number = checked.documents[0].number
        found = self._query.find(document_system(doc_type), number, actor)
        if found is not None and not request.source_ids:
            patient = self._current(found, actor)
            return ReadResult(patient, False, False, verification, insured)
        if found is None and not request.demographics.name:
            raise _no_name("未找到持此证件的患者 (no patient holds this document)")
        registration = RegistrationRequest(
            request.demographics,
            (DocumentInput(doc_type, number),),
            request.source_ids,
            RegistrationMode.DIRECT,
        )
        result = self._registration.register(registration, actor)
        return ReadResult(result.patient, result.created, result.ehc_issued, verification, insured)

    def _no_medium(self, request: ReadRequest, actor: Actor) -> ReadResult:
        if not request.demographics.name:
            raise _no_name("无介质 (no medium)")
        registration = RegistrationRequest(
            request.demographics, (), request.source_ids, RegistrationMode.DIRECT
        )
        result = self._registration.register(registration, actor)
        status = VerificationStatus.NOT_REQUIRED
        return ReadResult(result.patient, result.created, result.ehc_issued, status)

    def _known(
        self,
        patient: PatientRecord,
        request: ReadRequest,
        actor: Actor,
        verification: VerificationStatus,
    ) -> ReadResult:
        """The patient a QR code or binding named.  Hospital ids that came with the medium are
        added to them through registration, by the patient's own document."""
        patient = self._current(patient, actor)
        document = patient.primary_document or next((d for d in patient.documents if d.valid), None)
        if not request.source_ids or document is None:
            return ReadResult(patient, False, False, verification)
        return self._by_document(
            document.doc_type, document.number, request, actor, verification=verification
        )

    def _current(self, patient: PatientRecord, actor: Actor) -> PatientRecord:
        """The active record answering for ``patient``: a merged one's survivor."""
        for _ in range(MAX_PARENT_HOPS):
            if patient.status is PatientStatus.ACTIVE:
                return patient
            if patient.status is PatientStatus.CANCELLED:
                raise CancelledError(
                    f"患者索引 {patient.mpi_id} 已注销，需管理员恢复 (index cancelled; an "
                    "administrator may restore it)"
                )
            if patient.parent_id is None:
                break
            patient = self._query.get(patient.parent_id, actor)
        raise ConflictError(f"患者索引 {patient.mpi_id} 合并链异常 (broken merge chain)")

    # -- EHC QR (§5.1.2) -------------------------------------------------------------------

    def _ehc_qr(self, text: str, request: ReadRequest, actor: Actor) -> ReadResult:
        if self._qr is None:
            raise ServiceUnavailableError("二维码验证服务未启用 (QR verification is not enabled)")
        outcome = self._qr.verify(
            text,
            terminal=request.terminal or "",
            care_step=request.care_step or "other",
            channel=request.channel or actor.channel,
            actor=actor,
        )
        if not outcome.ok or outcome.mpi_id is None:
            raise qr_error(outcome)
        patient = self._query.get(outcome.mpi_id, actor)
        return self._known(patient, request, actor, VerificationStatus.VERIFIED)

    # -- social-security card, medical-insurance e-voucher (§5.1.3) -------------------------

    def _insured(
        self, kind: MediumKind, value: str, request: ReadRequest, actor: Actor
    ) -> ReadResult:
        card = kind is MediumKind.SOCIAL_SECURITY_CARD
        if card:
            value = medium_number(SOCIAL_SECURITY_CARD, value)
        try:
            answer = self._verify(kind, value)
        except VerifierUnavailable as exc:
            return self._degraded(value if card else None, exc, request, actor)
        person = answer.person
        if person is None:
            raise NotFoundError(
                f"社保/医保身份识别系统未识别此{'社保卡' if card else '医保电子凭证'}: "
                f"{answer.reason or ''} (not recognised by the insurance identity system)",
                location="value",
            )
        given = Demographics(name=person.name, gender=person.gender, birth_date=person.birth_date)
        verified = replace(request, demographics=given.filled_from(request.demographics))
        result = self._by_document(
            person.doc_type,
            person.doc_number,
            verified,
            actor,
            verification=VerificationStatus.VERIFIED,
            insured=person,
        )
        binding, _ = self._media.bind(
            result.patient.mpi_id,
            SOCIAL_SECURITY_CARD if card else INSURANCE_VOUCHER,
            value if card else person.medium_id,
            actor,
            verified=True,
            reason=f"verified: {kind}",
            move=True,
        )
        return replace(result, binding=binding)

    def _verify(self, kind: MediumKind, value: str) -> Verification:
        if self._verifier is None:
            raise VerifierUnavailable(
                "未配置社保/医保身份识别系统 (no insurance verifier configured)"
            )
        return self._verifier.verify(kind.value, value)

    def _degraded(
        self,
        card_number: str | None,
        exc: VerifierUnavailable,
        request: ReadRequest,
        actor: Actor,
    ) -> ReadResult:
        """§6.5: the external system is down; a bound card still resolves, unverified."""
        binding = self._media.find(SOCIAL_SECURITY_CARD, card_number) if card_number else None
        if binding is None:
            raise ServiceUnavailableError(
                "社保/医保身份识别系统暂不可用，且此介质未绑定患者；请稍后重试或读取居民身份证 "
                f"(insurance identity system unavailable and the medium is not bound; retry "
                f"later or read the ID card): {exc.message}",
                retry_after=exc.retry_after,
            )
        patient = self._query.get(binding.mpi_id, actor)
        result = self._known(patient, request, actor, VerificationStatus.UNAVAILABLE)
        return replace(result, binding=binding)

    # -- manual binding (§4.4.2) -----------------------------------------------------------

    def bind(
        self, mpi_id: str, kind: str, value: str, actor: Actor, *, reason: str | None = None
    ) -> tuple[MediaBinding, bool]:
        """Bind a medium by hand.  A social-security card is checked with the insurance
        system when it answers: it must name a document of this patient (409 otherwise); when
        it is down the binding is kept unverified (§6.5) and a later read verifies it."""
        number = medium_number(kind, value)
        verified = False
        if kind == SOCIAL_SECURITY_CARD and self._verifier is not None:
            try:
                answer = self._verifier.verify(kind, number)
            except VerifierUnavailable:
                answer = None
            if answer is not None:
                self._check_owner(mpi_id, answer, actor)
                verified = True
        return self._media.bind(mpi_id, kind, number, actor, verified=verified, reason=reason)

    def _check_owner(self, mpi_id: str, answer: Verification, actor: Actor) -> None:
        person = answer.person
        if person is None:
            raise NotFoundError(
                f"社保/医保身份识别系统未识别此社保卡: {answer.reason or ''} (card not "
                "recognised by the insurance identity system)",
                location="value",
            )
        patient = self._query.get(mpi_id, actor)
        owner = self._query.find(document_system(person.doc_type), person.doc_number, actor)
        if owner is None or owner.mpi_id != patient.mpi_id:
            raise ConflictError(
                "社保卡登记的持卡人证件与该患者不符 (the card's holder is not this patient)"
            )
