"""Builders shared by the FHIR tests: valid 公民身份号码 and Chinese Patient resources."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ehcmpi.terminology.validators import mod11_2_check_char

ID_CARD_SYSTEM = "urn:oid:2.16.156.10011.1.3"
EHC_ID_SYSTEM = "urn:oid:2.16.156.10011.1.19"
MPI_ID_SYSTEM = "http://ehcmpi.org/fhir/sid/mpi-id"
ARCHIVE_NUMBER_SYSTEM = "http://ehcmpi.org/fhir/sid/archive-number"
PASSPORT_SYSTEM = "http://ehcmpi.org/fhir/sid/doc-03"
HIS_SYSTEM = "urn:oid:1.2.156.112604.1.2.1"
DOCUMENT_TYPE_CODESYSTEM = "http://ehcmpi.org/fhir/CodeSystem/document-type"
EXT_ETHNICITY = "http://ehcmpi.org/fhir/StructureDefinition/ethnicity"
EXT_DATA_QUALITY = "http://ehcmpi.org/fhir/StructureDefinition/data-quality"
EXT_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
FHIR_JSON = "application/fhir+json"

ZHANG_WEI_BIRTH = dt.date(1985, 3, 12)


def citizen_id(born: dt.date, sequence: int, area: str = "110105") -> str:
    """A valid GB 11643 number; an odd sequence is a man, an even one a woman."""
    first17 = f"{area}{born:%Y%m%d}{sequence:03d}"
    return first17 + mod11_2_check_char(first17)


def citizen_id_ending_in_x(born: dt.date, *, male: bool = True) -> str:
    """A valid number whose check character is X (people type it as a lower-case x)."""
    for sequence in range(1 if male else 2, 1000, 2):
        number = citizen_id(born, sequence)
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence gives check character X")  # pragma: no cover


def with_bad_check_digit(number: str) -> str:
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


ZHANG_WEI_ID = citizen_id(ZHANG_WEI_BIRTH, 13)


def id_card(number: str) -> dict[str, Any]:
    return {"system": ID_CARD_SYSTEM, "value": number}


def his_id(value: str) -> dict[str, Any]:
    return {"system": HIS_SYSTEM, "value": value}


def chinese_patient(
    *identifiers: dict[str, Any],
    name: str = "张伟",
    gender: str = "male",
    birth_date: dt.date | None = ZHANG_WEI_BIRTH,
    phone: str | None = "13800138000",
) -> dict[str, Any]:
    """A Patient as a Chinese hospital app sends it (汉族, Beijing address)."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "extension": [
            {
                "url": EXT_ETHNICITY,
                "valueCoding": {
                    "system": "http://ehcmpi.org/fhir/CodeSystem/gb-t-3304-ethnicity",
                    "code": "01",
                },
            }
        ],
        "identifier": list(identifiers) or [id_card(ZHANG_WEI_ID)],
        "name": [{"use": "official", "text": name}],
        "gender": gender,
        "address": [
            {
                "line": ["朝阳路 1 号"],
                "district": "朝阳区",
                "city": "北京市",
                "postalCode": "100020",
            }
        ],
    }
    if birth_date is not None:
        resource["birthDate"] = birth_date.isoformat()
    if phone is not None:
        resource["telecom"] = [{"system": "phone", "value": phone}]
    return resource


def identifier_values(resource: dict[str, Any], system: str) -> list[str]:
    return [str(i["value"]) for i in resource.get("identifier", []) if i.get("system") == system]


def identifier(resource: dict[str, Any], system: str) -> dict[str, Any]:
    found = [i for i in resource.get("identifier", []) if i.get("system") == system]
    assert len(found) == 1, f"expected one identifier of {system}: {resource.get('identifier')}"
    return dict(found[0])


def ehc_id(resource: dict[str, Any]) -> str:
    return str(identifier(resource, EHC_ID_SYSTEM)["value"])


def diagnostics(outcome: dict[str, Any]) -> str:
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return " ".join(str(issue.get("diagnostics", "")) for issue in outcome["issue"])
