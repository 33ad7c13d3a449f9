"""Validation and normalisation of document numbers for the guideline Appendix A types.

One rule per Appendix A code:

* 01 居民身份证, 02 居民户口簿 — the 公民身份号码 of GB 11643-1999 (18 characters, MOD 11-2
  check character; 15-digit GB 11643-1989 numbers are upgraded to 18).
* 05 驾驶证 — the licence number is the holder's 公民身份号码 (公安部《机动车驾驶证申领和
  使用规定》); other formats are accepted as 6-20 letters or digits.
* 09 港澳台居民居住证 — GB 11643 structure, address code 810000/820000/830000 (公安部《港澳台
  居民居住证申领发放办法》, 2018).
* 10 外国人永久居留身份证 — 2017 version (3 letters + 12 digits) and 2023 version (18 characters,
  leading "9", GB 11643 check character).
* 06, 07 mainland travel permits, 03 passport, 08 出生医学证明, 04 军官证, 99 — format rules.

A bad number is data, not an exception: ``check_document`` returns ``valid=False`` with a reason
in Chinese first and English beside it.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ehcmpi.terminology.document_types import DocumentType, document_type
from ehcmpi.terminology.gb11643 import (
    Decoded,
    Problem,
    decode_citizen_number,
    decode_foreign_2023,
    decode_residence_permit,
    id_number_15_to_18,
    mod11_2_check_char,
)
from ehcmpi.terminology.gender import GENDERS

__all__ = [
    "DocumentCheck",
    "check_document",
    "cross_check",
    "id_number_15_to_18",
    "mod11_2_check_char",
    "normalize_number",
]


@dataclass(frozen=True)
class DocumentCheck:
    """The outcome of checking one document number."""

    doc_type: str
    number: str  # normalised; a 15-digit 公民身份号码 is given in its 18-digit form
    valid: bool
    reason: str | None  # Chinese-first reason when not valid
    birth_date: datetime.date | None  # encoded in the number, if any
    gender: str | None  # GB/T 2261.1 code "1"/"2" encoded in the number, if any


@dataclass(frozen=True)
class _Format:
    pattern: re.Pattern[str]
    zh: str
    en: str


_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_CITIZEN_LIKE = re.compile(r"[0-9X]{15}|[0-9X]{18}")

_FORMATS: Mapping[str, _Format] = MappingProxyType(
    {
        "03": _Format(
            re.compile(r"[A-Z0-9]{5,17}"),
            "应为5至17位字母或数字",
            "expected 5 to 17 letters or digits",
        ),
        "04": _Format(
            re.compile(f"[A-Z0-9{_CJK}]{{1,30}}"),
            "应为1至30位字母、数字或汉字",
            "expected 1 to 30 letters, digits or Chinese characters",
        ),
        "05": _Format(
            re.compile(r"[A-Z0-9]{6,20}"),
            "应为公民身份号码或6至20位字母、数字",
            "expected a citizen identity number or 6 to 20 letters or digits",
        ),
        "06": _Format(
            re.compile(r"[HM][0-9]{8}(?:[0-9]{2})?"),
            "应为H或M加8位或10位数字",
            "expected H or M followed by 8 or 10 digits",
        ),
        "07": _Format(
            re.compile(r"[0-9]{8}(?:[0-9]{2})?"),
            "应为8位或10位数字",
            "expected 8 or 10 digits",
        ),
        "08": _Format(
            re.compile(r"[A-Z][0-9]{9}"),
            "应为1位字母加9位数字",
            "expected 1 letter followed by 9 digits",
        ),
        "10": _Format(
            re.compile(r"[A-Z]{3}[0-9]{12}"),
            "2017版应为3位字母加12位数字",
            "2017 version: expected 3 letters followed by 12 digits",
        ),
        "99": _Format(
            re.compile(r"[^\x00-\x20\x7f]{1,50}"),
            "应为1至50个非空白字符",
            "expected 1 to 50 non-space characters",
        ),
    }
)


_PLAIN_NUMBER = re.compile(r"[0-9A-Za-z]*")


def normalize_number(raw: str) -> str:
    """NFKC (full-width → half-width), drop whitespace and invisible characters, upper-case."""
    if _PLAIN_NUMBER.fullmatch(raw):
        return raw.upper()  # the common case, and what NFKC would leave unchanged
    text = unicodedata.normalize("NFKC", raw)
    kept = (ch for ch in text if not ch.isspace() and unicodedata.category(ch) != "Cf")
    return "".join(kept).upper()


def check_document(doc_type: str, raw: str, *, today: datetime.date | None = None) -> DocumentCheck:
    """Validate and normalise a document number of Appendix A type ``doc_type``.

    Never raises for a bad number; raises ``UnknownCodeError`` for an unknown ``doc_type``.
    """
    doc = document_type(doc_type)
    number = normalize_number(raw)
    if not number:
        return _invalid(doc, number, Problem("证件号码为空", "document number is empty"))
    return _CHECKERS[doc.code](doc, number, today or datetime.date.today())


def cross_check(
    check: DocumentCheck, *, birth_date: datetime.date | None, gender: str | None
) -> list[str]:
    """Problems where the given birth date or GB/T 2261.1 gender contradicts the number.

    Gender 5 and 6 (changed gender) accept either encoded sex; 0 and 9 accept anything;
    None skips the comparison. An unknown gender code is reported as a problem.
    """
    doc = document_type(check.doc_type)
    found = (_birth_problem(check, birth_date), _gender_problem(check, gender))
    return [_reason(doc, problem) for problem in found if problem is not None]


def _reason(doc: DocumentType, problem: Problem) -> str:
    return f"{doc.name_zh}：{problem.zh} ({doc.name_en}: {problem.en})"


def _invalid(doc: DocumentType, number: str, problem: Problem) -> DocumentCheck:
    return DocumentCheck(doc.code, number, False, _reason(doc, problem), None, None)


def _valid(doc: DocumentType, number: str) -> DocumentCheck:
    return DocumentCheck(doc.code, number, True, None, None, None)


def _from_decoded(doc: DocumentType, number: str, result: Decoded | Problem) -> DocumentCheck:
    if isinstance(result, Problem):
        return _invalid(doc, number, result)
    return DocumentCheck(doc.code, result.number, True, None, result.birth_date, result.gender)


def _by_format(doc: DocumentType, number: str, fmt: _Format) -> DocumentCheck:
    if fmt.pattern.fullmatch(number):
        return _valid(doc, number)
    return _invalid(doc, number, Problem(f"号码格式错误，{fmt.zh}", f"bad format: {fmt.en}"))


def _check_citizen(doc: DocumentType, number: str, today: datetime.date) -> DocumentCheck:
    return _from_decoded(doc, number, decode_citizen_number(number, today))


def _check_residence_permit(doc: DocumentType, number: str, today: datetime.date) -> DocumentCheck:
    return _from_decoded(doc, number, decode_residence_permit(number, today))


def _check_foreign_permanent(doc: DocumentType, number: str, today: datetime.date) -> DocumentCheck:
    if len(number) == 18:
        return _from_decoded(doc, number, decode_foreign_2023(number, today))
    if len(number) == 15:
        return _by_format(doc, number, _FORMATS["10"])
    return _invalid(
        doc,
        number,
        Problem(
            f"长度应为15位（2017版）或18位（2023版），实际为{len(number)}位",
            f"length must be 15 (2017 version) or 18 (2023 version), got {len(number)}",
        ),
    )


def _check_driving_licence(doc: DocumentType, number: str, today: datetime.date) -> DocumentCheck:
    # Chinese licences carry the holder's 公民身份号码; anything shaped like one must be one.
    if _CITIZEN_LIKE.fullmatch(number):
        return _check_citizen(doc, number, today)
    return _by_format(doc, number, _FORMATS["05"])


def _format_checker(code: str) -> Callable[[DocumentType, str, datetime.date], DocumentCheck]:
    def check(doc: DocumentType, number: str, today: datetime.date) -> DocumentCheck:
        return _by_format(doc, number, _FORMATS[code])

    return check


_CHECKERS: Mapping[str, Callable[[DocumentType, str, datetime.date], DocumentCheck]] = (
    MappingProxyType(
        {
            "01": _check_citizen,
            "02": _check_citizen,
            "03": _format_checker("03"),
            "04": _format_checker("04"),
            "05": _check_driving_licence,
            "06": _format_checker("06"),
            "07": _format_checker("07"),
            "08": _format_checker("08"),
            "09": _check_residence_permit,
            "10": _check_foreign_permanent,
            "99": _format_checker("99"),
        }
    )
)


def _birth_problem(check: DocumentCheck, given: datetime.date | None) -> Problem | None:
    if given is None or check.birth_date is None or given == check.birth_date:
        return None
    return Problem(
        f"出生日期 {given} 与证件号码中的 {check.birth_date} 不一致",
        f"birth date {given} contradicts {check.birth_date} encoded in the number",
    )


# GB/T 2261.1 code given → sexes encoded in a number that agree with it.
_AGREEING_SEXES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "0": frozenset({"1", "2"}),
        "1": frozenset({"1"}),
        "2": frozenset({"2"}),
        "5": frozenset({"1", "2"}),
        "6": frozenset({"1", "2"}),
        "9": frozenset({"1", "2"}),
    }
)


def _gender_problem(check: DocumentCheck, given: str | None) -> Problem | None:
    if given is None or check.gender is None:
        return None
    if given not in _AGREEING_SEXES:
        return Problem(
            f"性别代码 '{given}' 不在 GB/T 2261.1 中", f"gender code '{given}' is not GB/T 2261.1"
        )
    if check.gender in _AGREEING_SEXES[given]:
        return None
    given_zh, encoded_zh = GENDERS[given].name_zh, GENDERS[check.gender].name_zh
    return Problem(
        f"性别“{given_zh}”与证件号码中的“{encoded_zh}”不一致",
        f"gender {GENDERS[given].fhir} contradicts {GENDERS[check.gender].fhir}"
        " encoded in the number",
    )
