"""What the matcher compares: one record's fields, free of storage and transport details.

A ``MatchRecord`` is built from a source record (a hospital system's patient), from a golden
record, or from a benchmark row.  Values are as received; comparators normalise them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ehcmpi.terminology.validators import check_document

#: Document types whose numbers encode birth date and sex (GB 11643 and its look-alikes).
_ENCODING_TYPES = ("01", "06", "09", "10")


@dataclass(frozen=True, slots=True)
class MatchDocument:
    """An identity document: Appendix A type code (or another scheme's code) and number.

    ``valid`` is False when the number failed its check (kept from feeds, §5.2.1).
    """

    doc_type: str
    number: str
    valid: bool = True


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """The fields that matching may use; any of them may be missing.

    ``name`` is a full name in Chinese characters or Latin script (pinyin or a foreign name);
    ``given_name`` / ``family_name`` are used when a source sends them apart (FEBRL does).
    ``birth_date`` is ``YYYY-MM-DD``, or ``YYYY-MM`` / ``YYYY`` when only that is known, kept
    as text so that a corrupted date still compares digit by digit.  ``gender`` is a GB/T
    2261.1 code.  ``address`` is free text; ``area_code`` the 6-digit GB/T 2260 code.
    ``extra`` carries scheme-specific fields (e.g. FEBRL's ``street_number``, ``suburb``).
    """

    key: str
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    birth_date: str | None = None
    gender: str | None = None
    documents: tuple[MatchDocument, ...] = ()
    phones: tuple[str, ...] = ()
    address: str | None = None
    area_code: str | None = None
    postcode: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    def extra_value(self, name: str) -> str | None:
        for key, value in self.extra:
            if key == name:
                return value
        return None


def with_document_facts(record: MatchRecord) -> MatchRecord:
    """Fill a missing birth date or gender from a valid ID number that encodes them.

    Registration does the same (``derived_demographics``), so a record read from any source
    compares like a stored one; a number that fails its check contributes nothing.
    """
    if record.birth_date and record.gender:
        return record
    for doc in record.documents:
        if doc.valid and doc.doc_type in _ENCODING_TYPES:
            check = check_document(doc.doc_type, doc.number)
            if check.valid and (check.birth_date or check.gender):
                birth = check.birth_date.isoformat() if check.birth_date else None
                return replace(
                    record,
                    birth_date=record.birth_date or birth,
                    gender=record.gender or check.gender,
                )
    return record
