"""Domain records → ``MatchRecord``: what a golden or source record offers the matcher."""

from __future__ import annotations

from collections.abc import Sequence

from ehcmpi.core.matching.record import MatchDocument, MatchRecord
from ehcmpi.core.model import Demographics, IdentityDocument, PatientRecord


def match_record(
    key: str, demographics: Demographics, documents: Sequence[IdentityDocument]
) -> MatchRecord:
    address = next((a for a in demographics.addresses if a.text or a.line), None)
    area = next((a.area_code for a in demographics.addresses if a.area_code), None)
    return MatchRecord(
        key=key,
        name=demographics.name or demographics.name_pinyin,
        birth_date=demographics.birth_date.isoformat() if demographics.birth_date else None,
        gender=demographics.gender,
        documents=tuple(MatchDocument(d.doc_type, d.number, d.valid) for d in documents),
        phones=demographics.phones,
        address=(address.text or address.line) if address else None,
        area_code=area,
        postcode=address.postal_code if address else None,
    )


def golden_match_record(patient: PatientRecord) -> MatchRecord:
    return match_record(patient.mpi_id, patient.demographics, patient.documents)
