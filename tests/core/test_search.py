"""``core.search``: the search a continuation pointer carries survives the round trip, and a
condition no storage could answer is refused when it is built."""

from __future__ import annotations

import datetime as dt

import pytest

from ehcmpi.core.errors import InvalidInputError
from ehcmpi.core.search import (
    Condition,
    DateRange,
    Field,
    IdentifierValue,
    Match,
    PatientSearch,
    Text,
)

EVERY_KIND = PatientSearch(
    (
        Condition(Field.NAME, (Text("张伟"), Text("zhang", Match.EXACT))),
        Condition(Field.ADDRESS, (Text("朝阳路", Match.CONTAINS),)),
        Condition(Field.BIRTH_DATE, (DateRange(dt.date(1985, 1, 1), None, negate=True),)),
        Condition(Field.BIRTH_DATE, (DateRange.day(dt.date(1985, 3, 12)),)),
        Condition(Field.IDENTIFIER, (IdentifierValue(None, "H1"), IdentifierValue("urn:x", "2"))),
        Condition(Field.ACTIVE, (True, False)),
        Condition(Field.GENDER, ("1", "5")),
        Condition(Field.TELECOM, ()),
        Condition(Field.DOMAIN, ("urn:oid:1.2.3",)),
    )
)


def test_a_search_survives_its_plain_form() -> None:
    plain = EVERY_KIND.to_plain()

    assert PatientSearch.from_plain(plain) == EVERY_KIND
    assert DateRange.day(dt.date(2024, 2, 28)).end == dt.date(2024, 2, 29)


@pytest.mark.parametrize(
    "plain",
    [
        [["nickname", ["x"]]],
        [["name", [["x", "soundex"]]]],
        [["active", ["true"]]],
        [["id", [1]]],
        [["birth_date", [["1985-13-01", None, False]]]],
        [["name", [["   ", "prefix"]]]],
    ],
)
def test_a_forged_plain_form_is_refused(plain: object) -> None:
    with pytest.raises((ValueError, TypeError, KeyError, InvalidInputError)):
        PatientSearch.from_plain(plain)


def test_conditions_check_their_values() -> None:
    with pytest.raises(InvalidInputError):
        Condition(Field.FAMILY, (Text("张", Match.CONTAINS),))
    with pytest.raises(InvalidInputError):
        Condition(Field.GENDER, (True,))
    with pytest.raises(InvalidInputError):
        Condition(Field.NAME, ("张伟",))
    assert not PatientSearch().has(Field.NAME) and PatientSearch().is_empty()
