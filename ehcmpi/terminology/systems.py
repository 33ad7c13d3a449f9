"""Identifier systems and code systems used on the wire.

FHIR ``Identifier.system`` URIs and OIDs for guideline Appendix A documents, the electronic
health card ID (guideline §4.2) and the health record number, and the CodeSystem URIs for
Appendix A, GB/T 2261.1-2003 and GB/T 3304-1991. OIDs under 2.16.156.10011 are the NHC
health-information OID arc (WS/T 681).
"""

from __future__ import annotations

from ehcmpi.terminology.document_types import DOCUMENT_TYPES, document_type

ID_CARD_OID = "2.16.156.10011.1.3"
EHC_ID_OID = "2.16.156.10011.1.19"

ID_CARD_SYSTEM = "urn:oid:2.16.156.10011.1.3"
EHC_ID_SYSTEM = "urn:oid:2.16.156.10011.1.19"
HEALTH_RECORD_SYSTEM = "urn:oid:2.16.156.10011.1.2"

DOCUMENT_TYPE_CODESYSTEM = "http://ehcmpi.org/fhir/CodeSystem/document-type"
GENDER_CODESYSTEM = "http://ehcmpi.org/fhir/CodeSystem/gb-t-2261-1-gender"
ETHNICITY_CODESYSTEM = "http://ehcmpi.org/fhir/CodeSystem/gb-t-3304-ethnicity"

MPI_ID_SYSTEM = "http://ehcmpi.org/fhir/sid/mpi-id"
ARCHIVE_NUMBER_SYSTEM = "http://ehcmpi.org/fhir/sid/archive-number"

_DOC_SYSTEM_PREFIX = "http://ehcmpi.org/fhir/sid/doc-"
_ID_CARD_CODE = "01"


def document_system(code: str) -> str:
    """Return the ``Identifier.system`` for an Appendix A document type.

    01 (居民身份证) uses the national OID; every other type gets ``…/sid/doc-XX``.
    Raises ``UnknownCodeError`` for a code that is not in Appendix A.
    """
    document_type(code)
    if code == _ID_CARD_CODE:
        return ID_CARD_SYSTEM
    return f"{_DOC_SYSTEM_PREFIX}{code}"


def document_type_for_system(system: str) -> str | None:
    """Return the Appendix A code whose system is ``system``, or None for any other system."""
    if system == ID_CARD_SYSTEM:
        return _ID_CARD_CODE
    if not system.startswith(_DOC_SYSTEM_PREFIX):
        return None
    code = system.removeprefix(_DOC_SYSTEM_PREFIX)
    if code == _ID_CARD_CODE or code not in DOCUMENT_TYPES:
        return None
    return code
