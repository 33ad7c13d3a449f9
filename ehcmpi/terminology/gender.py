"""Sex/gender codes of GB/T 2261.1-2003 and their FHIR R4 AdministrativeGender mapping.

GB/T 2261.1-2003 《个人基本信息分类与代码 第1部分：人的性别代码》 defines 0, 1, 2, 5, 6, 9.
FHIR R4 ``Patient.gender`` uses the AdministrativeGender value set (male, female, other,
unknown). A changed gender (5, 6) maps to the gender changed *to*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ehcmpi.terminology.errors import unknown_code


@dataclass(frozen=True)
class Gender:
    """One GB/T 2261.1 code with its FHIR AdministrativeGender value."""

    code: str
    name_zh: str
    fhir: str
    name_en: str = ""


_ROWS = (
    Gender("0", "未知的性别", "unknown", "Unknown sex"),
    Gender("1", "男性", "male", "Male"),
    Gender("2", "女性", "female", "Female"),
    Gender("5", "女性改(变)为男性", "male", "Female changed to male"),
    Gender("6", "男性改(变)为女性", "female", "Male changed to female"),
    Gender("9", "未说明的性别", "unknown", "Not stated"),
)

GENDERS: Mapping[str, Gender] = MappingProxyType({row.code: row for row in _ROWS})

# FHIR → GB/T 2261.1. "other" has no own code; 9 (未说明的性别) is the closest.
_FROM_FHIR: Mapping[str, str] = MappingProxyType(
    {"male": "1", "female": "2", "other": "9", "unknown": "0"}
)


def gender_to_fhir(code: str) -> str:
    """Map a GB/T 2261.1 code to FHIR AdministrativeGender; raise ``UnknownCodeError``."""
    try:
        return GENDERS[code].fhir
    except KeyError:
        raise unknown_code(code, "性别代码", "GB/T 2261.1 gender code") from None


def gender_from_fhir(value: str) -> str:
    """Map FHIR AdministrativeGender to a GB/T 2261.1 code; raise ``UnknownCodeError``."""
    try:
        return _FROM_FHIR[value]
    except KeyError:
        raise unknown_code(value, "FHIR性别值", "FHIR administrative gender") from None
