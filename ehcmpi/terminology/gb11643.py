"""Citizen identity number (公民身份号码) per GB 11643-1999.

Structure (GB 11643-1999 clause 5.1): 6-digit address code (5.2, GB/T 2260), 8-digit birth
date YYYYMMDD (5.3), 3-digit sequence code whose last digit is odd for men and even for women
(5.4), and one check character computed with ISO 7064:1983 MOD 11-2 (5.5). Numbers issued
under GB 11643-1989 have 15 digits: no century (always 19xx) and no check character.

The same 18-character structure is used by the residence permit for Hong Kong, Macao and Taiwan
residents (address codes 810000/820000/830000) and by the 2023 foreign permanent resident ID
card (leading "9", birth date at positions 7-14, sex at position 17).
"""

from __future__ import annotations

import datetime
import operator
import re
from dataclasses import dataclass

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"  # indexed by (weighted sum mod 11)

_FIRST17 = re.compile(r"[0-9]{17}")
_SHAPE_18 = re.compile(r"[0-9]{17}[0-9X]")
_SHAPE_15 = re.compile(r"[0-9]{15}")

# GB/T 2260 province-level codes (first two digits of the address code).
PROVINCE_CODES = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82"]
)

# Address codes of the residence permit for Hong Kong, Macao and Taiwan residents.
PERMIT_ADDRESS_CODES = {"810000": "香港", "820000": "澳门", "830000": "台湾"}

EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)


@dataclass(frozen=True)
class Problem:
    """Why a number is not valid, Chinese and English."""

    zh: str
    en: str


@dataclass(frozen=True)
class Decoded:
    """What a valid 18-character number encodes."""

    number: str
    birth_date: datetime.date
    gender: str  # GB/T 2261.1: "1" male, "2" female


def mod11_2_check_char(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for 17 digits (GB 11643-1999 clause 5.5)."""
    if not _FIRST17.fullmatch(first17):
        raise ValueError(f"需要17位数字 (expected 17 digits, got {first17!r})")
    total = sum(map(operator.mul, map(int, first17), _WEIGHTS))  # 17 of each (checked above)
    return _CHECK_CHARS[total % 11]


def id_number_15_to_18(number15: str) -> str:
    """Upgrade a 15-digit GB 11643-1989 number: insert century "19", append the check char."""
    if not _SHAPE_15.fullmatch(number15):
        raise ValueError(f"15位身份号码应全部为数字 (expected 15 digits, got {number15!r})")
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + mod11_2_check_char(first17)


def gender_of(number: str) -> str:
    """GB/T 2261.1 code from the 17th character: odd is male ("1"), even is female ("2")."""
    return "1" if int(number[16]) % 2 else "2"


def structure_problem(number: str, *, legacy_allowed: bool = False) -> Problem | None:
    """Length and character set of an 18-character number."""
    if len(number) != 18:
        if legacy_allowed:
            return Problem(
                f"长度应为18位（或15位旧号码），实际为{len(number)}位",
                f"length must be 18 (or 15 for a legacy number), got {len(number)}",
            )
        return Problem(
            f"长度应为18位，实际为{len(number)}位", f"length must be 18, got {len(number)}"
        )
    if not _SHAPE_18.fullmatch(number):
        return Problem(
            "含有非法字符，应为17位数字加1位数字或X",
            "illegal characters: expected 17 digits followed by a digit or X",
        )
    return None


def province_problem(number: str) -> Problem | None:
    """The first two digits must be a GB/T 2260 province-level code."""
    if number[:2] in PROVINCE_CODES:
        return None
    return Problem(
        f"省级行政区划代码 {number[:2]} 无效",
        f"bad province code {number[:2]}",
    )


def parse_birth_date(yyyymmdd: str, today: datetime.date) -> datetime.date | Problem:
    """A real calendar date between 1900-01-01 and today."""
    try:
        born = datetime.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return Problem(f"出生日期 {yyyymmdd} 不是有效日期", f"impossible birth date {yyyymmdd}")
    if born < EARLIEST_BIRTH_DATE:
        return Problem(
            f"出生日期 {born} 早于 {EARLIEST_BIRTH_DATE}",
            f"impossible birth date {born}: before {EARLIEST_BIRTH_DATE}",
        )
    if born > today:
        return Problem(
            f"出生日期 {born} 晚于今天（{today}）",
            f"impossible birth date {born}: after today ({today})",
        )
    return born


def check_char_problem(number: str) -> Problem | None:
    """The 18th character must equal the MOD 11-2 check character of the first 17."""
    expected = mod11_2_check_char(number[:17])
    if number[17] == expected:
        return None
    return Problem(f"校验位错误，应为 {expected}", f"check digit mismatch: expected {expected}")


def decode_18(number: str, today: datetime.date) -> Decoded | Problem:
    """Birth date (positions 7-14), check character and sex of a well-formed 18-char number."""
    born = parse_birth_date(number[6:14], today)
    if isinstance(born, Problem):
        return born
    problem = check_char_problem(number)
    if problem is not None:
        return problem
    return Decoded(number, born, gender_of(number))


def decode_citizen_number(number: str, today: datetime.date) -> Decoded | Problem:
    """Validate an 18-digit (or legacy 15-digit) 公民身份号码; 15-digit numbers are upgraded."""
    if len(number) == 15:
        return _decode_15(number, today)
    problem = structure_problem(number, legacy_allowed=True) or province_problem(number)
    if problem is not None:
        return problem
    return decode_18(number, today)


def _decode_15(number: str, today: datetime.date) -> Decoded | Problem:
    if not _SHAPE_15.fullmatch(number):
        return Problem(
            "含有非法字符，15位旧号码应全部为数字",
            "illegal characters: a 15-digit legacy number must be all digits",
        )
    problem = province_problem(number)
    if problem is not None:
        return problem
    born = parse_birth_date("19" + number[6:12], today)
    if isinstance(born, Problem):
        return born
    upgraded = id_number_15_to_18(number)
    return Decoded(upgraded, born, gender_of(upgraded))


def decode_residence_permit(number: str, today: datetime.date) -> Decoded | Problem:
    """港澳台居民居住证: GB 11643 structure with address code 810000, 820000 or 830000."""
    problem = structure_problem(number)
    if problem is not None:
        return problem
    if number[:6] not in PERMIT_ADDRESS_CODES:
        return Problem(
            f"地址码应为810000（香港）、820000（澳门）或830000（台湾），实际为{number[:6]}",
            f"address code must be 810000 (Hong Kong), 820000 (Macao) or 830000 (Taiwan),"
            f" got {number[:6]}",
        )
    return decode_18(number, today)


def decode_foreign_2023(number: str, today: datetime.date) -> Decoded | Problem:
    """2023 外国人永久居留身份证: 18 characters, leading "9", GB 11643 check character."""
    problem = structure_problem(number)
    if problem is not None:
        return problem
    if not number.startswith("9"):
        return Problem("2023版号码应以9开头", "a 2023-version number must start with 9")
    return decode_18(number, today)
