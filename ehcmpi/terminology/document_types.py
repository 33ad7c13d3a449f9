"""Legal document types for electronic health card registration.

Implements guideline Appendix A (规范性附录 A：电子健康卡注册法定证件类型编码表) of
《医疗卫生机构患者主索引标准统一技术指南（2023 版）》. The codes are used as the FHIR
document-type CodeSystem and in HL7 v2 PID-3 CX.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ehcmpi.terminology.errors import unknown_code


@dataclass(frozen=True)
class DocumentType:
    """One row of Appendix A."""

    code: str
    name_zh: str
    name_en: str


_ROWS = (
    DocumentType("01", "居民身份证", "Resident identity card"),
    DocumentType("02", "居民户口簿", "Household register"),
    DocumentType("03", "护照", "Passport"),
    DocumentType("04", "军官证", "Military officer certificate"),
    DocumentType("05", "驾驶证", "Driving licence"),
    DocumentType(
        "06", "港澳居民来往内地通行证", "Mainland travel permit for Hong Kong and Macao residents"
    ),
    DocumentType("07", "台湾居民来往大陆通行证", "Mainland travel permit for Taiwan residents"),
    DocumentType("08", "出生医学证明", "Medical certificate of birth"),
    DocumentType(
        "09", "港澳台居民居住证", "Residence permit for Hong Kong, Macao and Taiwan residents"
    ),
    DocumentType("10", "外国人永久居留身份证", "Foreign permanent resident ID card"),
    DocumentType("99", "其他法定有效证件", "Other legally valid document"),
)

DOCUMENT_TYPES: Mapping[str, DocumentType] = MappingProxyType({row.code: row for row in _ROWS})


def document_type(code: str) -> DocumentType:
    """Return the Appendix A row for ``code``; raise ``UnknownCodeError`` if there is none."""
    try:
        return DOCUMENT_TYPES[code]
    except KeyError:
        raise unknown_code(code, "证件类型代码", "document type code") from None
