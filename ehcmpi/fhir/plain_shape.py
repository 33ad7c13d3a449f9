"""A quick, stricter check that vouches for the common shape of a ``Patient`` body, so that
the full model (``fhir.resources``, :mod:`ehcmpi.fhir.validation`) runs only for the rest
(FHIR R4 §3.1.0.4: the server SHALL reject an invalid resource; JSON format §2.6.2).

The model validates a typical registration in some 120 µs, most of it Python validators
that ``fhir_core`` runs for every nested element; a registration's whole server CPU is under
a millisecond.  :func:`plain_patient` answers in a tenth of that time for a body made only
of the elements hospital systems send when registering a patient (identifiers, names,
telecom, gender, birth date, addresses, simple extensions, profiles, the managing
organization) whose every value is of a form the model accepts: strings non-empty,
printable and trimmed; codes, URIs and ids by their R4 regexes; dates real calendar dates;
no nulls, no empty objects or arrays, no ``_element`` siblings, no key the element does not
have.

It never rejects: ``False`` means only "not vouched for", and the model then decides, with
its own error messages.  ``True`` implies the model would accept the body — a test checks
that on thousands of mutated bodies — so nothing invalid gets past it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

_CODE = re.compile(r"[^\s]+(\s[^\s]+)*")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_SPACE = re.compile(r"\s")  # for str patterns, exactly the characters of str.isspace()
_DATE = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
)


def _string(value: Any) -> bool:
    return type(value) is str and value != "" and value.isprintable() and value.strip() == value


def _code(value: Any) -> bool:
    return _string(value) and _CODE.fullmatch(value) is not None


def _uri(value: Any) -> bool:
    return _string(value) and _SPACE.search(value) is None


def _id(value: Any) -> bool:
    return type(value) is str and _ID.fullmatch(value) is not None


def _boolean(value: Any) -> bool:
    return type(value) is bool


def _positive_int(value: Any) -> bool:
    return type(value) is int and 0 < value < 2**31


def _date(value: Any) -> bool:
    if type(value) is not str or _DATE.fullmatch(value) is None:
        return False
    if len(value) < 10:
        return True  # YYYY or YYYY-MM: the regex has checked the month
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _element(fields: Mapping[str, tuple[Check, bool]]) -> Check:
    """An element of these fields (``(check, repeats)`` each): a non-empty object with no
    other key, each repeating field a non-empty array."""

    def check(value: Any) -> bool:
        if type(value) is not dict or not value:
            return False
        for key, item in value.items():
            spec = fields.get(key)
            if spec is None:
                return False
            each, repeats = spec
            if repeats:
                if type(item) is not list or not item or not all(each(i) for i in item):
                    return False
            elif not each(item):
                return False
        return True

    return check


_coding = _element(
    {"system": (_uri, False), "version": (_string, False), "code": (_code, False),
     "display": (_string, False), "userSelected": (_boolean, False)}
)  # fmt: skip
_codeable = _element({"coding": (_coding, True), "text": (_string, False)})
_VALUES: dict[str, Check] = {
    "valueString": _string, "valueCode": _code, "valueBoolean": _boolean, "valueDate": _date,
    "valueCoding": _coding, "valueCodeableConcept": _codeable,
}  # fmt: skip


def _extension(value: Any) -> bool:
    """A simple extension: its ``url`` and exactly one value of the kinds above."""
    if type(value) is not dict or len(value) != 2 or not _uri(value.get("url")):
        return False
    ((key, item),) = ((k, v) for k, v in value.items() if k != "url")
    check = _VALUES.get(key)
    return check is not None and check(item)


_reference = _element(
    {"reference": (_string, False), "type": (_uri, False), "display": (_string, False)}
)
_meta = _element(
    {"versionId": (_id, False), "source": (_uri, False), "profile": (_uri, True),
     "security": (_coding, True), "tag": (_coding, True)}
)  # fmt: skip
_identifier = _element(
    {"use": (_code, False), "type": (_codeable, False), "system": (_uri, False),
     "value": (_string, False), "assigner": (_reference, False)}
)  # fmt: skip
_human_name = _element(
    {"use": (_code, False), "text": (_string, False), "family": (_string, False),
     "given": (_string, True), "prefix": (_string, True), "suffix": (_string, True),
     "extension": (_extension, True)}
)  # fmt: skip
_contact_point = _element(
    {"system": (_code, False), "value": (_string, False), "use": (_code, False),
     "rank": (_positive_int, False)}
)  # fmt: skip
_address = _element(
    {"use": (_code, False), "type": (_code, False), "text": (_string, False),
     "line": (_string, True), "city": (_string, False), "district": (_string, False),
     "state": (_string, False), "postalCode": (_string, False), "country": (_string, False)}
)  # fmt: skip
_patient = _element(
    {"resourceType": (lambda v: v == "Patient", False), "id": (_id, False), "meta": (_meta, False),
     "extension": (_extension, True), "identifier": (_identifier, True),
     "active": (_boolean, False), "name": (_human_name, True), "telecom": (_contact_point, True),
     "gender": (_code, False), "birthDate": (_date, False), "deceasedBoolean": (_boolean, False),
     "address": (_address, True), "maritalStatus": (_codeable, False),
     "generalPractitioner": (_reference, True), "managingOrganization": (_reference, False)}
)  # fmt: skip


def plain_patient(body: Any) -> bool:
    """True if ``body`` is a Patient of the common shape, valid for certain; False: ask the
    model."""
    return _patient(body)
