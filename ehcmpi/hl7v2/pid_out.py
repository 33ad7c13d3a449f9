"""The PID segments this server writes (HL7 v2.5 §3.4.2; ITI TF-2 3.9, 3.10, 3.21).

Outgoing identifiers are fully qualified CX (ITI-9 rule 4, ITI-10 rule 16; the reverse of
``pid.resolve_identifier``); PID-5 the name in characters (XPN.8 ``I``) then its pinyin
(``P``); PID-6 the mother's maiden name (name type ``M``); PID-18 one account number with
CX.5 ``AN`` (table 0203).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.model import Address, PatientRecord, SourceIdentifier
from ehcmpi.hl7v2.codec import Rep, Value
from ehcmpi.hl7v2.pid import GB_TO_SEX, KNOWN_AUTHORITIES, MOBILE, Cx
from ehcmpi.terminology import systems as sid
from ehcmpi.terminology.ethnicity import ETHNICITIES
from ehcmpi.terminology.pinyin import has_cjk, split_chinese_name


def format_identifier(system: str, value: str, domains: DomainRegistry) -> Cx:
    """The CX for a system (reverse of ``resolve_identifier``): configured ``ns&oid&ISO``,
    ``DOC01&2.16.156.10011.1.3&ISO^01``, ``DOCxx&<system>&URI^xx``, ``EHC&…&ISO^HC``,
    ``EHCMPI&<MPI_ID_SYSTEM>&URI^PI``; other ``urn:oid:``/URI systems without namespace."""
    code = sid.document_type_for_system(system)
    if domain := domains.by_system(system):
        return Cx(value, domain.namespace, domain.oid, "ISO", code or "PI")
    if auth := KNOWN_AUTHORITIES.get(system):
        return Cx(value, *auth)
    if code:
        return Cx(value, f"DOC{code}", system, "URI", code)
    oid = system.removeprefix("urn:oid:")
    return Cx(value, "", oid, "URI" if oid == system else "ISO")


def patient_identifiers(patient: PatientRecord) -> list[tuple[str, str]]:
    """(system, value) of a record: MPI ID, EHC ID, archive number, valid documents, sources."""
    ids = [(sid.MPI_ID_SYSTEM, patient.mpi_id)]
    ids += [(sid.EHC_ID_SYSTEM, patient.ehc_id)] if patient.ehc_id else []
    ids += [(sid.ARCHIVE_NUMBER_SYSTEM, patient.archive_no)] if patient.archive_no else []
    ids += [(sid.document_system(d.doc_type), d.number) for d in patient.documents if d.valid]
    return ids + [(s.system, s.value) for s in patient.source_ids]


def pix_pid(identifiers: Sequence[Cx], *, notification: bool = False) -> list[Value]:
    """PID with only PID-3 and PID-5: ITI-9 ``~^^^^^^S`` (rule 4), ITI-10 a space (rule 16)."""
    name: Value = " " if notification else Rep(("", [None] * 6 + ["S"]))
    return ["PID", None, None, Rep(cx.components() for cx in identifiers), None, name]


def pdq_pid(
    patient: PatientRecord,
    domains: DomainRegistry,
    systems_to_show: Collection[str] | None = None,
    *,
    set_id: int = 1,
    accounts: Sequence[SourceIdentifier] = (),
) -> list[Value]:
    """ITI-21 response PID-1, 3, 5, 6, 7, 8, 11, 13, 18, 22 (rule 20); PID-3 in
    ``systems_to_show``; PID-18 (not repeating) the first of ``accounts``."""
    d = patient.demographics
    ids = [
        format_identifier(system, value, domains).components()
        for system, value in patient_identifiers(patient)
        if systems_to_show is None or system in systems_to_show
    ]
    fields: list[Value] = [None] * 23
    fields[0], fields[1], fields[3] = "PID", str(set_id), Rep(ids)
    fields[5] = _xpn_out(d.name, d.name_pinyin)
    fields[6] = _maiden_out(d.mothers_maiden_name)
    fields[7] = d.birth_date.strftime("%Y%m%d") if d.birth_date else None
    fields[8] = GB_TO_SEX.get(d.gender or "")
    fields[11] = Rep(_xad_out(a) for a in d.addresses)
    fields[13] = Rep([p, "PRN", "CP" if MOBILE.fullmatch(p) else "PH"] for p in d.phones)
    fields[18] = account_cx(accounts[0], domains).components() if accounts else None
    if d.ethnicity and d.ethnicity in ETHNICITIES:
        fields[22] = [d.ethnicity, ETHNICITIES[d.ethnicity], "GB3304"]
    return fields


def _xpn_out(name: str | None, pinyin: str | None) -> Value:
    if not name:
        return None
    if not has_cjk(name):
        family, _, given = name.partition(" ")
        return [family, given, None, None, None, None, "L"]
    family, given = split_chinese_name(name)
    first: Value = [family, given, None, None, None, None, "L", "I"]
    if not pinyin:
        return first
    py_family, _, py_given = pinyin.partition(" ")
    return Rep((first, [py_family, py_given, None, None, None, None, "L", "P"]))


def _maiden_out(name: str | None) -> Value:
    """PID-6: characters as family^given (复姓 kept together), a Latin name whole in XPN.1."""
    if not name:
        return None
    if not has_cjk(name):
        return [name, None, None, None, None, None, "M"]
    family, given = split_chinese_name(name)
    return [family, given or None, None, None, None, None, "M", "I"]


def _xad_out(a: Address) -> Value:
    if not (a.line or a.city or a.state or a.district):
        return a.text
    return [a.line, None, a.city, a.state, a.postal_code, a.country, None, a.district, a.area_code]


def account_cx(account: SourceIdentifier, domains: DomainRegistry) -> Cx:
    """The CX of an account number (reverse of ``account_system``), CX.5 ``AN``."""
    system, value = account.system, account.value
    given = domains.by_system(system) or system in KNOWN_AUTHORITIES or ":" in system
    return replace(format_identifier(system, value, domains) if given else Cx(value, system),
                   id_type="AN")  # fmt: skip
