"""JSON form of domain records: version snapshots, address columns, source records, merges."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson

from ehcmpi.core.model import (
    Address,
    Demographics,
    IdentityDocument,
    PatientRecord,
    PatientStatus,
    SourceIdentifier,
)


def _address_dict(address: Address) -> dict[str, str]:
    return {k: v for k in Address.__slots__ if (v := getattr(address, k)) is not None}


def addresses_to_json(addresses: tuple[Address, ...]) -> str | None:
    if not addresses:
        return None
    return orjson.dumps([_address_dict(a) for a in addresses]).decode()


def addresses_from_json(text: str | None) -> tuple[Address, ...]:
    if not text:
        return ()
    return tuple(Address(**item) for item in orjson.loads(text))


def flags_to_json(flags: tuple[str, ...]) -> str | None:
    return orjson.dumps(list(flags)).decode() if flags else None


def flags_from_json(text: str | None) -> tuple[str, ...]:
    return tuple(orjson.loads(text)) if text else ()


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _datetime(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _demographics_dict(d: Demographics) -> dict[str, Any]:
    return {
        "name": d.name,
        "name_pinyin": d.name_pinyin,
        "gender": d.gender,
        "birth_date": d.birth_date.isoformat() if d.birth_date else None,
        "ethnicity": d.ethnicity,
        "phones": list(d.phones),
        "addresses": [_address_dict(a) for a in d.addresses],
        "mothers_maiden_name": d.mothers_maiden_name,
    }


def _demographics_from(d: dict[str, Any]) -> Demographics:
    return Demographics(
        name=d["name"],
        name_pinyin=d["name_pinyin"],
        gender=d["gender"],
        birth_date=_date(d["birth_date"]),
        ethnicity=d["ethnicity"],
        phones=tuple(d["phones"]),
        addresses=tuple(Address(**a) for a in d["addresses"]),
        # absent from snapshots and source records written before migration 0008
        mothers_maiden_name=d.get("mothers_maiden_name"),
    )


def _documents_list(documents: tuple[IdentityDocument, ...]) -> list[list[Any]]:
    return [[x.doc_type, x.number, x.valid, x.reason, x.primary] for x in documents]


def _documents_from(items: list[list[Any]]) -> tuple[IdentityDocument, ...]:
    return tuple(IdentityDocument(*x) for x in items)


def record_to_json(record: PatientRecord) -> bytes:
    return orjson.dumps(
        {
            "mpi_id": record.mpi_id,
            "ehc_id": record.ehc_id,
            "archive_no": record.archive_no,
            "status": record.status.value,
            "parent_id": record.parent_id,
            "version": record.version,
            "data_quality": list(record.data_quality),
            "created_at": record.created_at.isoformat() if record.created_at else None,
            "updated_at": record.updated_at.isoformat() if record.updated_at else None,
            "demographics": _demographics_dict(record.demographics),
            "documents": _documents_list(record.documents),
            "source_ids": [[s.system, s.value] for s in record.source_ids],
        }
    )


def record_from_json(data: bytes) -> PatientRecord:
    raw: dict[str, Any] = orjson.loads(data)
    return PatientRecord(
        mpi_id=raw["mpi_id"],
        ehc_id=raw["ehc_id"],
        archive_no=raw["archive_no"],
        status=PatientStatus(raw["status"]),
        parent_id=raw["parent_id"],
        version=raw["version"],
        data_quality=tuple(raw["data_quality"]),
        created_at=_datetime(raw["created_at"]),
        updated_at=_datetime(raw["updated_at"]),
        demographics=_demographics_from(raw["demographics"]),
        documents=_documents_from(raw["documents"]),
        source_ids=tuple(SourceIdentifier(*s) for s in raw["source_ids"]),
    )


def source_to_json(demographics: Demographics, documents: tuple[IdentityDocument, ...]) -> bytes:
    """A source record's demographics and documents as its system sent them (§4.1.1)."""
    return orjson.dumps(
        {"demographics": _demographics_dict(demographics), "documents": _documents_list(documents)}
    )


def source_from_json(data: bytes) -> tuple[Demographics, tuple[IdentityDocument, ...]]:
    raw: dict[str, Any] = orjson.loads(data)
    return _demographics_from(raw["demographics"]), _documents_from(raw["documents"])


def pairs_to_json(pairs: Sequence[Sequence[str]]) -> str:
    """String pairs such as (system, value) or (doc_type, number), as a JSON list of lists."""
    return orjson.dumps([list(p) for p in pairs]).decode()


def pairs_from_json(text: str | bytes | None) -> tuple[tuple[str, str], ...]:
    return tuple((a, b) for a, b in orjson.loads(text)) if text else ()


def strings_to_json(values: Sequence[str]) -> str:
    return orjson.dumps(list(values)).decode()


def strings_from_json(text: str | None) -> tuple[str, ...]:
    return tuple(orjson.loads(text)) if text else ()
