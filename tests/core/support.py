"""Shared builders for the core and storage tests: valid ID numbers, requests, actors."""

from __future__ import annotations

import datetime as dt

from ehcmpi.core.model import (
    Actor,
    Demographics,
    DocumentInput,
    RegistrationMode,
    RegistrationRequest,
    SourceIdentifier,
)
from ehcmpi.terminology.validators import mod11_2_check_char

HIS_SYSTEM = "urn:oid:1.2.156.112604.1.2.1"
LIS_SYSTEM = "urn:oid:1.2.156.112604.1.2.2"

CLERK = Actor("clerk-01", frozenset({"registrar"}), "test")
ADMIN = Actor("admin-01", frozenset({"admin"}), "test")

# 张伟, female, born 1949-12-31 (the 18-digit form of 110105491231002).
ZHANG_WEI_ID = "11010519491231002X"
ZHANG_WEI_BIRTH = dt.date(1949, 12, 31)


def citizen_id(area: str, born: dt.date, sequence: int) -> str:
    """A valid GB 11643 number: area code, birth date, 3-digit sequence, MOD 11-2 check."""
    first17 = f"{area}{born:%Y%m%d}{sequence:03d}"
    return first17 + mod11_2_check_char(first17)


def with_bad_check_digit(number: str) -> str:
    """The same number with a check character that does not match."""
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


def request(
    name: str = "张伟",
    *documents: tuple[str, str],
    sources: tuple[SourceIdentifier, ...] = (),
    mode: RegistrationMode = RegistrationMode.DIRECT,
    birth_date: dt.date | None = None,
    gender: str | None = None,
    phones: tuple[str, ...] = (),
) -> RegistrationRequest:
    return RegistrationRequest(
        Demographics(name=name, birth_date=birth_date, gender=gender, phones=phones),
        documents=tuple(DocumentInput(t, n) for t, n in documents),
        source_ids=sources,
        mode=mode,
    )


def his(value: str) -> SourceIdentifier:
    return SourceIdentifier(HIS_SYSTEM, value)


def lis(value: str) -> SourceIdentifier:
    return SourceIdentifier(LIS_SYSTEM, value)
