"""The FHIR Patient resource ↔ the master-index record (FHIR R4 Patient; DESIGN.md systems).

Identifiers: the master-index ID (``MPI_ID_SYSTEM``), the EHC ID
(``urn:oid:2.16.156.10011.1.19``), each Appendix A document with ``Identifier.type`` from the
document-type CodeSystem, the temporary archive number (``use=temp``, ``old`` once an EHC ID
exists: §5.1.6) and the hospital systems' local IDs.  A Chinese name is split into family
and given names and carries its pinyin as a syllabic representation (ISO 21090 EN.SYL).
The mother's maiden name (母亲姓名) is the FHIR core extension ``patient-mothersMaidenName``
(valueString), which IHE PDQm ITI-78 searches by (``mothersMaidenName``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.model import (
    Address,
    Demographics,
    DocumentInput,
    IdentityDocument,
    PatientRecord,
    PatientStatus,
    RegistrationMode,
    RegistrationRequest,
    SourceIdentifier,
)
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.validation import validate_resource
from ehcmpi.terminology.document_types import DOCUMENT_TYPES
from ehcmpi.terminology.errors import UnknownCodeError
from ehcmpi.terminology.gender import GENDERS, gender_from_fhir, gender_to_fhir
from ehcmpi.terminology.pinyin import has_cjk, split_chinese_name
from ehcmpi.terminology.systems import (
    ARCHIVE_NUMBER_SYSTEM,
    DOCUMENT_TYPE_CODESYSTEM,
    EHC_ID_SYSTEM,
    ETHNICITY_CODESYSTEM,
    GENDER_CODESYSTEM,
    MPI_ID_SYSTEM,
    document_system,
    document_type_for_system,
)

EXT_BASE = "http://ehcmpi.org/fhir/StructureDefinition"
EXT_ETHNICITY = f"{EXT_BASE}/ethnicity"
EXT_GB_GENDER = f"{EXT_BASE}/gb-t-2261-1-gender"
EXT_DATA_QUALITY = f"{EXT_BASE}/data-quality"
EXT_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
EXT_MOTHERS_MAIDEN_NAME = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
SERVER_ASSIGNED = frozenset({MPI_ID_SYSTEM, EHC_ID_SYSTEM, ARCHIVE_NUMBER_SYSTEM})
_ADDRESS_FIELDS = (
    ("text", "text"), ("city", "city"), ("district", "district"), ("state", "state"),
    ("postalCode", "postal_code"), ("country", "country"),
)  # fmt: skip


# --- resource → domain ---------------------------------------------------------------------


def _invalid(message: str, expression: str) -> FhirError:
    return FhirError(422, "invalid", message, expression=expression)


def parse_patient(body: Any) -> dict[str, Any]:
    """Validate a Patient body with ``fhir.resources`` (R4B): 400 OperationOutcome naming the
    element (FHIRPath in ``expression``) when it is not a valid Patient."""
    return validate_resource(body, "Patient")


def _identifier_type(identifier: dict[str, Any]) -> str | None:
    for coding in identifier.get("type", {}).get("coding", []):
        if coding.get("system") == DOCUMENT_TYPE_CODESYSTEM:
            return str(coding.get("code"))
    return None


def _identifiers(
    resource: dict[str, Any], domains: DomainRegistry
) -> tuple[list[DocumentInput], list[SourceIdentifier]]:
    documents: list[DocumentInput] = []
    sources: list[SourceIdentifier] = []
    for i, ident in enumerate(resource.get("identifier", [])):
        system, value = ident.get("system"), ident.get("value")
        where = f"Patient.identifier[{i}]"
        if not system or not value:
            raise _invalid("标识须有 system 和 value (identifier needs system and value)", where)
        if system in SERVER_ASSIGNED:
            continue  # assigned by this server; echoed back by clients, never taken as input
        doc_type = document_type_for_system(system) or _identifier_type(ident)
        if doc_type is not None:
            if doc_type not in DOCUMENT_TYPES:
                raise _invalid(f"未知的证件类型代码 '{doc_type}' (unknown document type)", where)
            documents.append(DocumentInput(doc_type, value))
        elif domains.by_system(system) is not None:
            sources.append(SourceIdentifier(system, value))
        else:
            raise _invalid(
                f"未配置的标识域 '{system}' (identifier system is not a configured domain)", where
            )
    return documents, sources


def _name(resource: dict[str, Any]) -> str | None:
    names = resource.get("name", [])
    official = [n for n in names if not _is_syllabic(n)]
    if not official:
        return None
    name = next((n for n in official if n.get("use") == "official"), official[0])
    if name.get("text"):
        return str(name["text"]).strip()
    family, given = name.get("family", ""), name.get("given", [])
    if has_cjk(family + "".join(given)):
        return (family + "".join(given)).strip() or None
    return " ".join([family, *given]).strip() or None


def _is_syllabic(name: dict[str, Any]) -> bool:
    return any(
        e.get("url") == EXT_REPRESENTATION and e.get("valueCode") == "SYL"
        for e in name.get("extension", [])
    )


def _extension_code(resource: dict[str, Any], url: str) -> str | None:
    for ext in resource.get("extension", []):
        if ext.get("url") == url:
            coding = ext.get("valueCoding") or {}
            return str(coding.get("code")) if coding.get("code") else None
    return None


def _mothers_maiden_name(resource: dict[str, Any]) -> str | None:
    """The ``patient-mothersMaidenName`` extension's valueString (blank: none); 422 when the
    extension carries another kind of value."""
    for i, ext in enumerate(resource.get("extension", [])):
        if ext.get("url") != EXT_MOTHERS_MAIDEN_NAME:
            continue
        value = ext.get("valueString")
        if not isinstance(value, str):
            raise _invalid(
                "母亲姓名扩展须为 valueString (mothersMaidenName needs a valueString)",
                f"Patient.extension[{i}]",
            )
        return value.strip() or None
    return None


def _gender(resource: dict[str, Any]) -> str | None:
    gb = _extension_code(resource, EXT_GB_GENDER)
    if gb is not None:
        return gb
    value = resource.get("gender")
    if value is None:
        return None
    try:
        return gender_from_fhir(value)
    except UnknownCodeError:
        raise _invalid(f"性别 '{value}' 无效 (invalid gender)", "Patient.gender") from None


def _birth_date(resource: dict[str, Any]) -> dt.date | None:
    value = resource.get("birthDate")
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _invalid(
            f"出生日期须精确到日 (birthDate must be a full date): {value}", "Patient.birthDate"
        ) from None


def _addresses(resource: dict[str, Any]) -> tuple[Address, ...]:
    out = []
    for a in resource.get("address", []):
        fields = {ours: a.get(theirs) for theirs, ours in _ADDRESS_FIELDS}
        out.append(Address(line=" ".join(a.get("line", [])) or None, **fields))
    return tuple(out)


def registration_request(
    resource: dict[str, Any], domains: DomainRegistry, mode: RegistrationMode
) -> RegistrationRequest:
    documents, sources = _identifiers(resource, domains)
    phones = tuple(
        t["value"].strip()
        for t in resource.get("telecom", [])
        if t.get("system") in ("phone", "sms") and t.get("value")
    )
    demographics = Demographics(
        name=_name(resource),
        gender=_gender(resource),
        birth_date=_birth_date(resource),
        ethnicity=_extension_code(resource, EXT_ETHNICITY),
        phones=tuple(dict.fromkeys(phones)),
        addresses=_addresses(resource),
        mothers_maiden_name=_mothers_maiden_name(resource),
    )
    return RegistrationRequest(demographics, tuple(documents), tuple(sources), mode)


# --- domain → resource ---------------------------------------------------------------------


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _document_identifier(doc: IdentityDocument) -> dict[str, Any]:
    kind = DOCUMENT_TYPES[doc.doc_type]
    ident: dict[str, Any] = {
        "use": "official" if doc.valid else "secondary",
        "type": {"coding": [_coding(DOCUMENT_TYPE_CODESYSTEM, doc.doc_type, kind.name_zh)]},
        "system": document_system(doc.doc_type),
        "value": doc.number,
    }
    if not doc.valid:
        ident["extension"] = [{"url": EXT_DATA_QUALITY, "valueString": doc.reason or ""}]
    return ident


def _identifiers_out(p: PatientRecord) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"use": "usual", "system": MPI_ID_SYSTEM, "value": p.mpi_id}]
    if p.ehc_id:
        out.append({"use": "official", "system": EHC_ID_SYSTEM, "value": p.ehc_id})
    if p.archive_no:
        use = "old" if p.ehc_id else "temp"
        out.append({"use": use, "system": ARCHIVE_NUMBER_SYSTEM, "value": p.archive_no})
    out.extend(_document_identifier(d) for d in p.documents)
    out.extend({"use": "usual", "system": s.system, "value": s.value} for s in p.source_ids)
    return out


def _names_out(d: Demographics) -> list[dict[str, Any]]:
    if not d.name:
        return []
    name: dict[str, Any] = {"use": "official", "text": d.name}
    if has_cjk(d.name):
        family, given = split_chinese_name(d.name)
        name["family"], name["given"] = family, [given] if given else []
    names = [name]
    if d.name_pinyin and has_cjk(d.name):
        names.append(
            {
                "extension": [{"url": EXT_REPRESENTATION, "valueCode": "SYL"}],
                "use": "usual",
                "text": d.name_pinyin,
            }
        )
    return names


def _address_out(a: Address) -> dict[str, Any]:
    out: dict[str, Any] = {t: v for t, o in _ADDRESS_FIELDS if (v := getattr(a, o)) is not None}
    if a.line:
        out["line"] = [a.line]
    return out


def patient_resource(p: PatientRecord) -> dict[str, Any]:
    d = p.demographics
    resource: dict[str, Any] = {"resourceType": "Patient", "id": p.mpi_id}
    resource["meta"] = {"versionId": str(p.version)}
    if p.updated_at:
        resource["meta"]["lastUpdated"] = p.updated_at.isoformat()
    extensions = []
    if d.ethnicity:
        extensions.append(
            {"url": EXT_ETHNICITY, "valueCoding": _coding(ETHNICITY_CODESYSTEM, d.ethnicity)}
        )
    if d.gender:
        gb = _coding(GENDER_CODESYSTEM, d.gender, GENDERS[d.gender].name_zh)
        extensions.append({"url": EXT_GB_GENDER, "valueCoding": gb})
    if d.mothers_maiden_name:
        extensions.append({"url": EXT_MOTHERS_MAIDEN_NAME, "valueString": d.mothers_maiden_name})
    extensions.extend({"url": EXT_DATA_QUALITY, "valueString": f} for f in p.data_quality)
    if extensions:
        resource["extension"] = extensions
    resource["identifier"] = _identifiers_out(p)
    resource["active"] = p.status is PatientStatus.ACTIVE
    if names := _names_out(d):
        resource["name"] = names
    if d.phones:
        resource["telecom"] = [{"system": "phone", "value": ph} for ph in d.phones]
    if d.gender:
        resource["gender"] = gender_to_fhir(d.gender)
    if d.birth_date:
        resource["birthDate"] = d.birth_date.isoformat()
    if d.addresses:
        resource["address"] = [_address_out(a) for a in d.addresses]
    if p.status is PatientStatus.MERGED and p.parent_id:  # FHIR R4 Patient "dup-records"
        other = {"reference": f"Patient/{p.parent_id}"}
        resource["link"] = [{"other": other, "type": "replaced-by"}]
    return resource
