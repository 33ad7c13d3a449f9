"""Identifier systems and CodeSystem URIs (DESIGN.md "Identifier systems", guideline Appendix A)."""

from __future__ import annotations

import pytest

from ehcmpi import terminology
from ehcmpi.terminology import (
    DOCUMENT_TYPES,
    EHC_ID_SYSTEM,
    HEALTH_RECORD_SYSTEM,
    ID_CARD_SYSTEM,
    MPI_ID_SYSTEM,
    UnknownCodeError,
    document_system,
    document_type_for_system,
)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ID_CARD_SYSTEM", "urn:oid:2.16.156.10011.1.3"),
        ("EHC_ID_SYSTEM", "urn:oid:2.16.156.10011.1.19"),
        ("HEALTH_RECORD_SYSTEM", "urn:oid:2.16.156.10011.1.2"),
        ("DOCUMENT_TYPE_CODESYSTEM", "http://ehcmpi.org/fhir/CodeSystem/document-type"),
        ("GENDER_CODESYSTEM", "http://ehcmpi.org/fhir/CodeSystem/gb-t-2261-1-gender"),
        ("ETHNICITY_CODESYSTEM", "http://ehcmpi.org/fhir/CodeSystem/gb-t-3304-ethnicity"),
        ("MPI_ID_SYSTEM", "http://ehcmpi.org/fhir/sid/mpi-id"),
        ("ARCHIVE_NUMBER_SYSTEM", "http://ehcmpi.org/fhir/sid/archive-number"),
        ("ID_CARD_OID", "2.16.156.10011.1.3"),
        ("EHC_ID_OID", "2.16.156.10011.1.19"),
    ],
)
def test_system_constants(name: str, value: str) -> None:
    assert getattr(terminology, name) == value


def test_oid_systems_are_urn_oid_of_their_oids() -> None:
    assert f"urn:oid:{terminology.ID_CARD_OID}" == ID_CARD_SYSTEM
    assert f"urn:oid:{terminology.EHC_ID_OID}" == EHC_ID_SYSTEM


@pytest.mark.parametrize(
    ("code", "system"),
    [
        ("01", "urn:oid:2.16.156.10011.1.3"),
        ("02", "http://ehcmpi.org/fhir/sid/doc-02"),
        ("03", "http://ehcmpi.org/fhir/sid/doc-03"),
        ("09", "http://ehcmpi.org/fhir/sid/doc-09"),
        ("10", "http://ehcmpi.org/fhir/sid/doc-10"),
        ("99", "http://ehcmpi.org/fhir/sid/doc-99"),
    ],
)
def test_document_system(code: str, system: str) -> None:
    assert document_system(code) == system


@pytest.mark.parametrize("code", sorted(DOCUMENT_TYPES))
def test_document_system_round_trips(code: str) -> None:
    assert document_type_for_system(document_system(code)) == code


def test_every_document_type_has_its_own_system() -> None:
    systems = {document_system(code) for code in DOCUMENT_TYPES}
    assert len(systems) == len(DOCUMENT_TYPES)


@pytest.mark.parametrize("code", ["11", "1", "", "07x"])
def test_document_system_rejects_codes_outside_appendix_a(code: str) -> None:
    with pytest.raises(UnknownCodeError):
        document_system(code)


@pytest.mark.parametrize(
    "system",
    [
        EHC_ID_SYSTEM,
        HEALTH_RECORD_SYSTEM,
        MPI_ID_SYSTEM,
        "urn:oid:2.16.156.10011.1.3.1",
        "http://ehcmpi.org/fhir/sid/doc-01",  # 居民身份证 uses the national OID instead
        "http://ehcmpi.org/fhir/sid/doc-42",
        "http://ehcmpi.org/fhir/sid/doc-",
        "https://ehcmpi.org/fhir/sid/doc-03",
        "",
    ],
)
def test_non_document_systems(system: str) -> None:
    assert document_type_for_system(system) is None
