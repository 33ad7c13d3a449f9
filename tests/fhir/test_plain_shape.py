"""The quick Patient check (``fhir.plain_shape``) vouches only for bodies the FHIR model accepts.

Every body here is a registration a hospital system might send, then mutated element by
element (each value replaced by a tricky one, each key removed, keys added): wherever the
quick check says "valid", ``fhir.resources``' model must accept the body too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.plain_shape import plain_patient
from ehcmpi.fhir.validation import validate_resource
from tests.fhir.support import chinese_patient, his_id, id_card

FULL: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "A1.b-2",
    "meta": {"versionId": "1", "source": "urn:oid:1.2.156.112604.1.2.1",
             "profile": ["http://ehcmpi.org/fhir/StructureDefinition/patient"],
             "tag": [{"system": "http://ehcmpi.org/fhir/tag", "code": "his"}]},
    "extension": [
        {"url": "http://ehcmpi.org/fhir/StructureDefinition/ethnicity",
         "valueCoding": {"system": "http://ehcmpi.org/fhir/CodeSystem/gb-t-3304-ethnicity",
                         "code": "05", "display": "回族", "userSelected": True}},
        {"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
         "valueString": "李芳"},
    ],
    "identifier": [
        {"use": "official", "system": "urn:oid:2.16.156.10011.1.3", "value": "11010519850312001X",
         "type": {"coding": [{"system": "http://ehcmpi.org/fhir/CodeSystem/document-type",
                              "code": "01"}], "text": "居民身份证"}},
        {"system": "urn:oid:1.2.156.112604.1.2.1", "value": "HIS 000123",
         "assigner": {"reference": "Organization/his", "display": "某某医院"}},
    ],
    "active": True,
    "name": [{"use": "official", "text": "欧阳 娜娜", "family": "欧阳", "given": ["娜娜"],
              "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation",
                             "valueCode": "SYL"}]}],
    "telecom": [{"system": "phone", "value": "+86 138 0013 8000", "use": "mobile", "rank": 1}],
    "gender": "female",
    "birthDate": "1985-03-12",
    "deceasedBoolean": False,
    "address": [{"use": "home", "type": "physical", "text": "北京市朝阳区朝阳路1号",
                 "line": ["朝阳路 1 号"], "city": "北京市", "district": "朝阳区",
                 "state": "北京市", "postalCode": "100020", "country": "CN"}],
    "maritalStatus": {"coding": [{"code": "M"}]},
    "generalPractitioner": [{"reference": "Practitioner/7", "type": "Practitioner"}],
    "managingOrganization": {"reference": "Organization/his", "display": "某某医院"},
}  # fmt: skip

TRICKY: list[Any] = [
    None, "", " ", "x ", " x", "a  b", "a\tb", "a\nb", "\u3000", "\x00", "é", "x" * 65, 0, 1.5,
    True, False, 2**31, [], {}, [None], ["x"], [{}], {"x": 1}, {"url": "u"}, "2020", "2020-13",
    "2020-02-30", "2020-02-29", "2019-02-29", "0000-01-01", "20200101", "2020-1-1",
    "1985-03-12T10:00:00", "urn:oid:1.2", "http://x y", "male", "MALE", "a.b-c", "a_b",
]  # fmt: skip
EXTRA_KEYS: list[tuple[str, Any]] = [
    ("nickname", "W"), ("_birthDate", {"extension": []}), ("fhir_comments", "c"),
    ("resourceType", "Patient"), ("id", "x"), ("extension", []), ("valueString", "v"),
    ("valueInteger", 1), ("period", {"start": "2020"}), ("url", "http://x"),
    ("deceasedDateTime", "2020"), ("multipleBirthBoolean", True),
]  # fmt: skip


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*path, i))


def _at(body: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        body = body[step]
    return body


def _mutants(body: dict[str, Any]) -> Iterator[Any]:
    for path in _paths(body):
        if path:
            for value in TRICKY:
                mutant = copy.deepcopy(body)
                _at(mutant, path[:-1])[path[-1]] = value
                yield mutant
            mutant = copy.deepcopy(body)
            del _at(mutant, path[:-1])[path[-1]]
            yield mutant
        target = _at(body, path)
        if isinstance(target, dict):
            for key, value in EXTRA_KEYS:
                mutant = copy.deepcopy(body)
                _at(mutant, path)[key] = value
                yield mutant
        if isinstance(target, list):
            mutant = copy.deepcopy(body)
            _at(mutant, path).append(copy.deepcopy(target[0]) if target else None)
            yield mutant


def _model_accepts(body: Any) -> bool:
    try:
        Patient.model_validate(copy.deepcopy(body))
    except (ValidationError, ValueError, TypeError):
        return False
    return True


BODIES = [
    FULL,
    chinese_patient(),
    chinese_patient(id_card("11010519850312001X"), his_id("000123"), phone=None),
]


@pytest.mark.parametrize("body", BODIES, ids=["every-element", "registration", "two-ids"])
def test_what_the_quick_check_vouches_for_the_model_accepts(body: dict[str, Any]) -> None:
    assert plain_patient(body) and _model_accepts(body)
    vouched = refused_by_model = 0
    for mutant in _mutants(body):
        model = _model_accepts(mutant)
        if plain_patient(mutant):
            vouched += 1
            assert model, f"vouched for a body the model rejects: {mutant}"
        refused_by_model += not model
    # the mutations reach both sides: bodies still plain, and bodies the model rejects
    assert vouched > 50 and refused_by_model > 50


def test_a_body_the_quick_check_does_not_know_is_left_to_the_model() -> None:
    unusual = chinese_patient()
    unusual["identifier"][0]["period"] = {"start": "2020-01-01"}  # valid, not a plain shape
    assert not plain_patient(unusual)
    assert validate_resource(unusual, "Patient") is unusual

    invalid = chinese_patient()
    invalid["birthDate"] = "1985-02-30"
    assert not plain_patient(invalid)
    with pytest.raises(FhirError) as raised:
        validate_resource(invalid, "Patient")
    assert raised.value.status == 400
