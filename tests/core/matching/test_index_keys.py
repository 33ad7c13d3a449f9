"""A new golden record is indexed under its own blocking keys (guideline §4.1.1 自动合并).

``Matcher.index`` may take the keys of the search its registration made a moment before,
but only when the record reads exactly as the data searched; otherwise (survivorship or
anything else changed it) the record's own keys are stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from ehcmpi.core.matching.convert import golden_match_record, match_record
from ehcmpi.core.matching.online import Matcher
from ehcmpi.core.matching.rules import load_rules
from ehcmpi.core.model import Demographics, IdentityDocument, PatientRecord, PatientStatus
from tests.core.support import citizen_id

NUMBER = citizen_id("110101", dt.date(1990, 3, 7), 123)
DEMOGRAPHICS = Demographics(
    name="张伟", gender="1", birth_date=dt.date(1990, 3, 7), phones=("13800138000",)
)
DOCUMENTS = (IdentityDocument("01", NUMBER, True),)


class _Links:
    def __init__(self) -> None:
        self.stored: dict[str, list[str]] = {}

    def replace_keys(self, mpi_id: str, keys: Sequence[str], *, fresh: bool = False) -> None:
        self.stored[mpi_id] = list(keys)


class _Uow:
    def __init__(self) -> None:
        self.links = _Links()


def _indexed(patient: PatientRecord, searched: Demographics) -> tuple[list[str], list[str]]:
    """What ``index`` stores for ``patient`` given a search of ``searched``, and the
    patient's own keys."""
    matcher = Matcher(load_rules())
    search = matcher.search(match_record("incoming", searched, DOCUMENTS))
    uow = _Uow()
    matcher.index(uow, patient, fresh=True, search=search)  # type: ignore[arg-type]
    return uow.links.stored[patient.mpi_id], matcher.keys(golden_match_record(patient))


def test_a_record_as_searched_is_indexed_under_the_search_keys() -> None:
    patient = PatientRecord("A" * 64, DEMOGRAPHICS, documents=DOCUMENTS)
    stored, own = _indexed(patient, DEMOGRAPHICS)
    assert stored == own
    assert "phone=13800138000" in stored and f"document=01:{NUMBER}" in stored


def test_a_record_that_differs_from_the_search_is_indexed_under_its_own_keys() -> None:
    # survivorship gave the golden record another phone than the registration searched with
    patient = PatientRecord(
        "B" * 64, replace(DEMOGRAPHICS, phones=("13900139000",)), documents=DOCUMENTS
    )
    stored, own = _indexed(patient, DEMOGRAPHICS)
    assert stored == own
    assert "phone=13900139000" in stored and "phone=13800138000" not in stored


def test_an_inactive_record_is_indexed_under_no_key() -> None:
    patient = PatientRecord(
        "C" * 64, DEMOGRAPHICS, documents=DOCUMENTS, status=PatientStatus.MERGED
    )
    stored, _ = _indexed(patient, DEMOGRAPHICS)
    assert stored == []
