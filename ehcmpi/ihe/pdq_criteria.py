"""ITI-21 query parameters as a search (IHE ITI TF-2 3.21.4.1.2.2, 3.21.4.1.3.2; RULES 18).

QPD-3 criteria (``ihe.results.PdqCriteria``, read by ``hl7v2.iti21``) become a
``core.search.PatientSearch``, the form ``PdqSupplier`` answers for HL7 v2 and FHIR alike.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from ehcmpi.core.search import (
    Condition,
    DateRange,
    Field,
    IdentifierValue,
    Match,
    PatientSearch,
    Text,
    Value,
)
from ehcmpi.ihe.results import PdqCriteria


def criteria_search(criteria: PdqCriteria) -> PatientSearch:
    """ITI-21 QPD-3 criteria as a search: names by prefix (PID-5), the birth date's day
    (PID-7), address line contained in an address (PID-11.1), city and district by prefix,
    postal code exactly, the mother's maiden name by prefix (PID-6), the account number
    exactly (PID-18)."""
    c = _cleaned(criteria)
    wanted: list[tuple[Field, Value | None]] = [
        (Field.IDENTIFIER, IdentifierValue(c.identifier.system, c.identifier.value)
         if c.identifier else None),
        (Field.NAME, Text(c.name) if c.name else None),
        (Field.FAMILY, Text(c.family) if c.family else None),
        (Field.GIVEN, Text(c.given) if c.given else None),
        (Field.BIRTH_DATE, DateRange.day(c.birth_date) if c.birth_date else None),
        (Field.GENDER, c.gender),
        (Field.TELECOM, c.phone),
        (Field.ADDRESS, Text(c.address, Match.CONTAINS) if c.address else None),
        (Field.CITY, Text(c.city) if c.city else None),
        (Field.DISTRICT, Text(c.district) if c.district else None),
        (Field.POSTAL_CODE, Text(c.postal_code, Match.EXACT) if c.postal_code else None),
        (Field.MOTHERS_MAIDEN_NAME,
         Text(c.mothers_maiden_name) if c.mothers_maiden_name else None),
        (Field.ACCOUNT, IdentifierValue(c.account_system, c.account) if c.account else None),
    ]  # fmt: skip
    return PatientSearch(tuple(Condition(f, (v,)) for f, v in wanted if v is not None))


def _cleaned(criteria: PdqCriteria) -> PdqCriteria:
    """Blank values are no criterion; values are stripped."""
    changes: dict[str, Any] = {}
    for f in fields(criteria):
        value = getattr(criteria, f.name)
        if isinstance(value, str):
            changes[f.name] = value.strip() or None
    sid = criteria.identifier
    if sid is not None and not (sid.system.strip() and sid.value.strip()):
        changes["identifier"] = None
    return replace(criteria, **changes)
