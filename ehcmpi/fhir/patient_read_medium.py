"""``POST /fhir/Patient/$read-medium``: the unified reader entry (统一识读入口; guideline §4.4,
flows §5.1.1 居民身份证, §5.1.2 电子健康卡, §5.1.3 社保卡/医保电子凭证, §5.1.4 其他有效证件,
§5.1.6 无介质; degradation §6.5).  Semantics: :mod:`ehcmpi.core.reader`.

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/Patient-read-medium``, type
level, affectsState true.  IN: ``medium`` 1..1 code (``id-card`` | ``ehc-qr`` |
``social-security-card`` | ``insurance-qr`` | ``document`` | ``none``), ``value`` 0..1 string
(what was read; all but ``none``), ``documentType`` 0..1 code (Appendix A, for ``document``),
``patient`` 0..1 Patient (demographics and hospital identifiers to create with; no documents:
the document is the medium), ``terminal`` / ``careStep`` / ``channel`` 0..1 (where an EHC QR
code is verified).  OUT: ``patient`` Reference, ``resource`` the Patient, ``ehcId`` Identifier
(absent without one), ``archiveNumber`` Identifier (temporary archive, §5.1.6), ``created``
and ``ehcIssued`` boolean, ``verification`` code (``verified`` | ``not-required`` |
``unavailable`` = degraded), ``insurance`` (parts ``status``, ``type``, ``area``) after a
verified insurance medium, ``binding`` the medium's binding.

Errors (OperationOutcome): 400 bad parameter, unknown medium, malformed value, check digit
(the reason names the document type); 403 QR verified at an unregistered or disabled
terminal; 404 nobody holds the medium / the insurance system does not know it / unknown EHC
QR; 409 cancelled patient; 422 not creatable (no name given) or an unusable QR code (expired,
used up, card suspended); 503 + ``Retry-After`` when only the insurance identity system could
answer and it is down.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.model import RegistrationMode
from ehcmpi.core.reading import Medium, MediumKind, ReadRequest, ReadResult
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.medium_common import Unavailable, binding_part, call
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.patient_resource import parse_patient, patient_resource, registration_request
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import FhirResponse
from ehcmpi.terminology.systems import ARCHIVE_NUMBER_SYSTEM, EHC_ID_SYSTEM

router = APIRouter()
KINDS = " | ".join(k.value for k in MediumKind)
PARAMS = (
    p.Param("medium", "in", 1, "1", "code", f"识读到的介质类型 (kind of medium): {KINDS}"),
    p.Param("value", "in", 0, "1", "string", "介质内容：证件号、二维码文本、卡号 (what was read)"),
    p.Param("documentType", "in", 0, "1", "code", "附录 A 证件类型 (Appendix A type, document)"),
    p.Param("patient", "in", 0, "1", "Patient", "建档用的人口学信息和院内标识 (to create with)"),
    p.Param("terminal", "in", 0, "1", "string", "识读终端编码 (reader terminal, for ehc-qr)"),
    p.Param("careStep", "in", 0, "1", "code", "诊疗环节 (care step, for ehc-qr)"),
    p.Param("channel", "in", 0, "1", "code", "渠道 (channel, for ehc-qr)"),
    p.Param("patient", "out", 1, "1", "Reference", "患者 (the patient)"),
    p.Param("resource", "out", 1, "1", "Patient", "患者信息 (the patient's record)"),
    p.Param("ehcId", "out", 0, "1", "Identifier", "电子健康卡 ID"),
    p.Param("archiveNumber", "out", 0, "1", "Identifier", "临时档案号 (§5.1.6)"),
    p.Param("created", "out", 1, "1", "boolean", "本次新建档 (created by this call)"),
    p.Param("ehcIssued", "out", 1, "1", "boolean", "本次生成电子健康卡 ID (EHC ID issued)"),
    p.Param("verification", "out", 1, "1", "code", "verified | not-required | unavailable"),
    p.Param("insurance", "out", 0, "1", None, "参保信息: status, type, area"),
    p.Param("binding", "out", 0, "1", None, "介质绑定 (the medium's binding)"),
)
DEFINITION = p.operation_definition(
    "read-medium",
    "统一识读入口 (unified reader entry)",
    "Resolve any medium — 居民身份证, EHC QR code, social-security card, medical-insurance "
    "e-voucher, another Appendix A document, or none — to the patient and EHC ID, creating "
    "them when the rules allow (guideline §4.4, §5.1.1–§5.1.4, §5.1.6).",
    PARAMS,
    affects_state=True,
)
CAPABILITY = Capability(
    "Patient",
    operations=(
        Operation("read-medium", DEFINITION["url"], "统一识读入口 (read any medium)", DEFINITION),
    ),
)
DECLARED = {x.name: x.max for x in PARAMS if x.use == "in"}


def _kind(given: p.Given) -> MediumKind:
    p.required(given, "medium")
    code = p.text(given, "medium") or ""
    try:
        return MediumKind(code)
    except ValueError:
        raise FhirError(
            400,
            "code-invalid",
            f"未知的介质类型 '{code}'，可选 {KINDS} (unknown medium kind)",
            expression="Parameters.parameter.where(name='medium')",
        ) from None


def read_request(given: p.Given, domains: DomainRegistry) -> ReadRequest:
    """The reader's request from the operation's parameters (400 on anything malformed)."""
    medium = Medium(_kind(given), p.text(given, "value"), p.text(given, "documentType"))
    request = ReadRequest(
        medium,
        terminal=p.text(given, "terminal"),
        care_step=p.text(given, "careStep"),
        channel=p.text(given, "channel"),
    )
    resource = p.resource(given, "patient", "Patient")
    if resource is None:
        return request
    asked = registration_request(parse_patient(resource), domains, RegistrationMode.DIRECT)
    if asked.documents:
        raise FhirError(
            400,
            "invalid",
            "patient 参数不能含证件，证件由 medium 和 value 给出 (give the document as medium "
            "and value, not in patient.identifier)",
            expression="Parameters.parameter.where(name='patient')",
        )
    return replace(request, demographics=asked.demographics, source_ids=asked.source_ids)


def _identifier(system: str, value: str) -> dict[str, Any]:
    return {"system": system, "value": value}


def output(result: ReadResult) -> dict[str, Any]:
    patient = result.patient
    out: list[dict[str, Any]] = [
        {"name": "patient", "valueReference": {"reference": f"Patient/{patient.mpi_id}"}},
        {"name": "resource", "resource": patient_resource(patient)},
    ]
    if patient.ehc_id:
        out.append({"name": "ehcId", "valueIdentifier": _identifier(EHC_ID_SYSTEM, patient.ehc_id)})
    elif patient.archive_no:
        archive = _identifier(ARCHIVE_NUMBER_SYSTEM, patient.archive_no)
        out.append({"name": "archiveNumber", "valueIdentifier": archive})
    out += [
        {"name": "created", "valueBoolean": result.created},
        {"name": "ehcIssued", "valueBoolean": result.ehc_issued},
        {"name": "verification", "valueCode": result.verification.value},
    ]
    if (insured := result.insured) is not None:
        parts = [{"name": "status", "valueCode": insured.insurance_status}]
        if insured.insurance_type:
            parts.append({"name": "type", "valueString": insured.insurance_type})
        if insured.insurance_area:
            parts.append({"name": "area", "valueString": insured.insurance_area})
        out.append({"name": "insurance", "part": parts})
    if result.binding is not None:
        out.append(binding_part(result.binding))
    return {"resourceType": "Parameters", "parameter": out}


@router.post("/Patient/$read-medium", summary="统一识读入口: resolve any medium (§4.4, §5.1)")
async def read_medium(request: Request) -> FhirResponse:
    given = p.read_parameters(await read_json(request, "Parameters"), DECLARED)
    wired = container(request)
    asked = read_request(given, wired.domains)
    try:
        result = await call(wired.reader.read, asked, actor(request))
    except Unavailable as exc:
        return exc.response
    return FhirResponse(output(result))
