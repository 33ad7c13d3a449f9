"""Code tables and identifier rules of the guideline and the national standards it cites.

Guideline Appendix A document types, GB/T 2261.1-2003 gender, GB/T 3304-1991 ethnicity,
GB 11643-1999 citizen identity numbers and the other document-number rules, and the FHIR
identifier systems. Standard library only, except ``pinyin`` (pypinyin: name readings),
``hanzi`` (OpenCC's traditional→simplified character table) and ``similarity`` (rapidfuzz:
Jaro–Winkler and edit distances for matching).
"""

from ehcmpi.terminology.document_types import DOCUMENT_TYPES, DocumentType, document_type
from ehcmpi.terminology.errors import UnknownCodeError
from ehcmpi.terminology.ethnicity import ETHNICITIES, ethnicity_name
from ehcmpi.terminology.gender import GENDERS, Gender, gender_from_fhir, gender_to_fhir
from ehcmpi.terminology.systems import (
    ARCHIVE_NUMBER_SYSTEM,
    DOCUMENT_TYPE_CODESYSTEM,
    EHC_ID_OID,
    EHC_ID_SYSTEM,
    ETHNICITY_CODESYSTEM,
    GENDER_CODESYSTEM,
    HEALTH_RECORD_SYSTEM,
    ID_CARD_OID,
    ID_CARD_SYSTEM,
    MPI_ID_SYSTEM,
    document_system,
    document_type_for_system,
)
from ehcmpi.terminology.validators import (
    DocumentCheck,
    check_document,
    cross_check,
    id_number_15_to_18,
    mod11_2_check_char,
    normalize_number,
)

__all__ = [
    "ARCHIVE_NUMBER_SYSTEM",
    "DOCUMENT_TYPES",
    "DOCUMENT_TYPE_CODESYSTEM",
    "EHC_ID_OID",
    "EHC_ID_SYSTEM",
    "ETHNICITIES",
    "ETHNICITY_CODESYSTEM",
    "GENDERS",
    "GENDER_CODESYSTEM",
    "HEALTH_RECORD_SYSTEM",
    "ID_CARD_OID",
    "ID_CARD_SYSTEM",
    "MPI_ID_SYSTEM",
    "DocumentCheck",
    "DocumentType",
    "Gender",
    "UnknownCodeError",
    "check_document",
    "cross_check",
    "document_system",
    "document_type",
    "document_type_for_system",
    "ethnicity_name",
    "gender_from_fhir",
    "gender_to_fhir",
    "id_number_15_to_18",
    "mod11_2_check_char",
    "normalize_number",
]
