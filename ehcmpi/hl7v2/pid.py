"""PID, MRG and QPD fields ↔ the domain model (HL7 v2.5 §3.4.2 PID, §3.4.9 MRG; ITI TF-2).

CX (§2.A.14): id in CX.1, assigning authority in CX.4 (namespace, universal id + type, or all
three; ITI-8 rule 13), type in CX.5.  CX.4 denotes (DESIGN.md "Identifier systems"):
``&2.16.156.10011.1.3&ISO``/``DOC01`` 居民身份证; ``DOCxx`` or ``<doc-xx system>`` of type URI
another Appendix A document; ``EHC&2.16.156.10011.1.19&ISO`` the EHC ID and
``EHCMPI&http://ehcmpi.org/fhir/sid/mpi-id&URI`` the MPI ID (no registered OID: table 0301
type URI), both server-assigned (``AssignedId``, never registered from a feed); else a
configured domain by OID or namespace (both given must not name different domains).  CX.5 =
an Appendix A code (01–10, 99) marks a document when CX.4 is absent or unknown; otherwise a
missing CX.4 is the domain whose ``source`` is MSH-3 (ITI-8 rule 13).  Outgoing ids are fully
qualified (ITI-9 rule 4, ITI-10 rule 16).  PID-5: name in characters (XPN.8 ``I``, table
4000), then its pinyin (XPN.8 ``P``).  PID-6: the mother's maiden name (母亲姓名), a repetition
in characters preferred; written back with name type ``M`` (table 0200, maiden name).
PID-18: patient account numbers (CX; repetitions read, the first written): CX.4 resolved as
for PID-3, else kept as given (``urn:oid:<oid>``, a URI, or the namespace); no CX.4: the
MSH-3 domain, else MSH-3's namespace.  Written with CX.5 ``AN`` (table 0203 account number).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass

from ehcmpi.core.domains import DomainRegistry, IdentifierDomain
from ehcmpi.core.model import (
    Address,
    Demographics,
    DocumentInput,
    RegistrationMode,
    RegistrationRequest,
    SourceIdentifier,
)
from ehcmpi.hl7v2.codec import Field, HL7Error, Message, Segment, Value
from ehcmpi.terminology import systems as sid
from ehcmpi.terminology.document_types import DOCUMENT_TYPES
from ehcmpi.terminology.ethnicity import ETHNICITIES
from ehcmpi.terminology.gender import GENDERS
from ehcmpi.terminology.pinyin import has_cjk

#: (namespace, universal id, universal id type, CX.5) of the identifiers this server assigns.
MPI_AUTHORITY = ("EHCMPI", sid.MPI_ID_SYSTEM, "URI", "PI")
EHC_AUTHORITY = ("EHC", sid.EHC_ID_OID, "ISO", "HC")
ARCHIVE_AUTHORITY = ("EHCARCHIVE", sid.ARCHIVE_NUMBER_SYSTEM, "URI", "PI")
_ASSIGNED = {sid.MPI_ID_SYSTEM: MPI_AUTHORITY, sid.EHC_ID_SYSTEM: EHC_AUTHORITY}
_ASSIGNED[sid.ARCHIVE_NUMBER_SYSTEM] = ARCHIVE_AUTHORITY
#: every identifier system with a fixed authority: the above, 居民身份证, 健康档案编号
KNOWN_AUTHORITIES = _ASSIGNED | {sid.ID_CARD_SYSTEM: ("DOC01", sid.ID_CARD_OID, "ISO", "01")}
KNOWN_AUTHORITIES[sid.HEALTH_RECORD_SYSTEM] = ("JKDA", sid.HEALTH_RECORD_SYSTEM[8:], "ISO", "PI")
_BY_NAMESPACE = {auth[0]: system for system, auth in KNOWN_AUTHORITIES.items()}
_BY_UID = {auth[1]: system for system, auth in KNOWN_AUTHORITIES.items()}

#: HL7 table 0001 administrative sex → GB/T 2261.1-2003 (A ambiguous, N not applicable → 9).
SEX_TO_GB = {"M": "1", "F": "2", "U": "0", "O": "9", "A": "9", "N": "9"}
GB_TO_SEX = {"1": "M", "2": "F", "0": "U", "9": "U", "5": "M", "6": "F"}

_LATIN = re.compile(r"[A-Za-z][A-Za-z .'\-]*")
_TS = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2}(\d{2}(\d{2}(\.\d{1,4})?)?)?)?([+-]\d{4})?")
MOBILE = re.compile(r"(\+?86)?1[3-9]\d{9}")


@dataclass(frozen=True, slots=True)
class Cx:
    """An extended composite id (CX): value, CX.4.1 namespace, .2 universal id, .3 type, CX.5."""

    value: str
    namespace: str = ""
    oid: str = ""
    oid_type: str = ""
    id_type: str = ""

    @property
    def authority(self) -> str:
        return "&".join((self.namespace, self.oid, self.oid_type)).rstrip("&")

    def components(self) -> list[Value]:
        return [self.value, None, None, [self.namespace, self.oid, self.oid_type], self.id_type]


@dataclass(frozen=True, slots=True)
class AssignedId:
    """An identifier this server assigns (EHC ID, MPI ID, archive number): never fed."""

    system: str
    value: str


Resolved = DocumentInput | SourceIdentifier | AssignedId


def parse_cx(field: Field) -> Cx:
    """CX.1, CX.4.1-3 and CX.5 of one repetition."""
    value, id_type = field.component(1), field.component(5)
    return Cx(value, field.sub(4, 1), field.sub(4, 2), field.sub(4, 3), id_type)


def source_domain(message: Message, domains: DomainRegistry) -> IdentifierDomain | None:
    """The domain whose Patient Identity Source is MSH-3 (ITI-8 rule 14)."""
    msh3 = message.msh.first(3).component(1)
    return domains.by_source(message.sending_application) or domains.by_source(msh3)


def domain_system(cx: Cx, domains: DomainRegistry, *, location: str) -> str:
    """The system CX.4 denotes, for QPD-4 / QPD-8 (ITI-9 rule 9, ITI-21 rule 19); 204 if none."""
    if (system := _authority_system(cx, domains, location)) is None:
        raise HL7Error("204", f"unknown assigning authority {cx.authority!r}", location)
    return system


def _authority_system(cx: Cx, domains: DomainRegistry, location: str) -> str | None:
    uri = cx.oid_type.upper() == "URI"
    if cx.oid:
        if cx.oid in _BY_UID or (uri and sid.document_type_for_system(cx.oid)):
            return _BY_UID.get(cx.oid, cx.oid)
        by_oid = domains.by_system(cx.oid) if uri else domains.by_oid(cx.oid)
        by_ns = domains.by_namespace(cx.namespace) if cx.namespace else None
        if by_oid and by_ns and by_oid != by_ns:
            raise HL7Error("204", f"{cx.authority!r}: namespace and OID disagree", location)
        return by_oid.system if by_oid else None
    if not cx.namespace:
        return None
    if domain := domains.by_namespace(cx.namespace):
        return domain.system
    if (m := re.fullmatch(r"DOC(\d\d)", cx.namespace)) and m.group(1) in DOCUMENT_TYPES:
        return sid.document_system(m.group(1))
    return _BY_NAMESPACE.get(cx.namespace)


def resolve_identifier(
    cx: Cx,
    domains: DomainRegistry,
    *,
    default_domain: IdentifierDomain | None = None,
    location: str = "PID^1^3^1",
) -> Resolved | None:
    """What a PID-3 / QPD-3 / MRG-1 CX identifies (None: empty or ``""``); errors name CX.4
    of ``location`` (``PID^1^3^2^4``): 101 missing with no MSH-3 domain, 204 unknown."""
    if not cx.value or cx.value == '""':
        return None
    given = bool(cx.namespace or cx.oid)
    if given and (system := _authority_system(cx, domains, location + "^4")):
        return _classify(system, cx.value)
    if cx.id_type in DOCUMENT_TYPES:
        return DocumentInput(cx.id_type, cx.value)
    if given:
        raise HL7Error("204", f"unknown assigning authority {cx.authority!r}", location + "^4")
    if default_domain is None:
        raise HL7Error("101", "no CX.4 and MSH-3 is no configured source", location + "^4")
    return _classify(default_domain.system, cx.value)


def _classify(system: str, value: str) -> Resolved:
    if code := sid.document_type_for_system(system):
        return DocumentInput(code, value)
    if system in _ASSIGNED:
        return AssignedId(system, value)
    return SourceIdentifier(system, value)


def _required(message: Message, name: str) -> Segment:
    if (segment := message.segment(name)) is None:
        raise HL7Error("100", f"{name} segment is missing", name)
    return segment


def identifiers_from_pid(message: Message, domains: DomainRegistry) -> list[Resolved]:
    """PID-3: documents, hospital ids and server-assigned ids (ITI-8 rule 13)."""
    pid, default = _required(message, "PID"), source_domain(message, domains)
    reps = pid.repetitions(3)
    if not any(r.component(1) for r in reps):
        raise HL7Error("101", "PID-3 patient identifier list is empty", "PID^1^3")
    found = [
        resolve_identifier(parse_cx(f), domains, default_domain=default, location=f"PID^1^3^{n}")
        for n, f in enumerate(reps, start=1)
    ]
    return [x for x in found if x is not None]


def registration_from_pid(message: Message, domains: DomainRegistry) -> RegistrationRequest:
    """The registration a feed asks for (ITI-8 A01/A04/A05/A08, ITI-30 A28/A31), mode FEED."""
    found = identifiers_from_pid(message, domains)
    documents = tuple(x for x in found if isinstance(x, DocumentInput))
    sources = tuple(x for x in found if isinstance(x, SourceIdentifier))
    demographics = demographics_from_pid(_required(message, "PID"))
    accounts = accounts_from_pid(message, domains)
    return RegistrationRequest(demographics, documents, sources, RegistrationMode.FEED, accounts)


def account_system(cx: Cx, domains: DomainRegistry, location: str) -> str | None:
    """The system of an account number's CX.4 (None: no CX.4): a known domain's, else as given."""
    if not (cx.namespace or cx.oid):
        return None
    if system := _authority_system(cx, domains, location):
        return system
    if cx.oid:
        return cx.oid if cx.oid_type.upper() == "URI" else f"urn:oid:{cx.oid}"
    return cx.namespace


def accounts_from_pid(message: Message, domains: DomainRegistry) -> tuple[SourceIdentifier, ...]:
    """PID-18 patient account numbers (every repetition); ``""`` or empty is none."""
    default, found = source_domain(message, domains), []
    sender = message.msh.first(3).component(1)
    for n, f in enumerate(_required(message, "PID").repetitions(18), start=1):
        cx = parse_cx(f)
        if not cx.value.strip() or cx.value == '""':
            continue
        system = account_system(cx, domains, f"PID^1^18^{n}^4")
        system = system or (default.system if default else sender)
        if not system:
            raise HL7Error("101", "PID-18 account number without an authority", f"PID^1^18^{n}")
        found.append(SourceIdentifier(system, cx.value.strip()))
    return tuple(dict.fromkeys(found))


def demographics_from_pid(pid: Segment) -> Demographics:
    """PID-5, 6, 7, 8, 11, 13, 14 and 22; data errors raise ``HL7Error`` with their location."""
    name, pinyin = _names(pid)
    phones = [_phone(f) for n in (13, 14) for f in pid.repetitions(n)]
    addresses = [_address(f) for f in pid.repetitions(11) if not f.is_null]
    gender, birth_date = _gender(pid.first(8).component(1)), _birth_date(pid.first(7).component(1))
    return Demographics(
        name, pinyin, gender, birth_date, _ethnicity(pid.first(22)),
        tuple(dict.fromkeys(p for p in phones if p)), tuple(a for a in addresses if a != Address()),
        _mothers_maiden_name(pid),
    )  # fmt: skip


def _xpn_text(f: Field) -> str:
    family, given, middle = f.sub(1, 1), f.component(2), f.component(3)
    if has_cjk(family + given + middle):
        return (family + given + middle).replace(" ", "")
    return " ".join(p.strip() for p in (family, given, middle) if p.strip())


def _names(pid: Segment) -> tuple[str | None, str | None]:
    reps = [(_xpn_text(f), f.component(8)) for f in pid.repetitions(5) if not f.is_null]
    reps = [(text, rep) for text, rep in reps if text]
    if not reps:
        return None, None
    name = next((text for text, _ in reps if has_cjk(text)), reps[0][0])
    if not has_cjk(name):
        return name, None
    pinyin = (t for t, c in reps if t != name and (c in ("P", "A") or _LATIN.fullmatch(t)))
    return name, next(pinyin, None)


def _mothers_maiden_name(pid: Segment) -> str | None:
    """PID-6 (XPN): the first repetition in characters, else the first one; ``""`` is none."""
    names = [n for n in (_xpn_text(f) for f in pid.repetitions(6) if not f.is_null) if n]
    return next((n for n in names if has_cjk(n)), names[0] if names else None)


def _birth_date(ts: str) -> dt.date | None:
    """PID-7 TS (HL7 v2.5 §2.A.77): a date needs day precision; YYYY or YYYYMM gives None."""
    m = _TS.fullmatch(ts)
    if not ts or ts == '""' or (m and m[3] is None):
        return None
    with contextlib.suppress(ValueError):
        if m:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
    raise HL7Error("102", f"PID-7 is not a valid date: {ts!r}", "PID^1^7")


def _gender(code: str) -> str | None:
    """PID-8: HL7 table 0001 → GB/T 2261.1; a GB/T 2261.1 code is accepted as is."""
    if not code or code == '""':
        return None
    if (gb := SEX_TO_GB.get(code.upper(), code)) in GENDERS:
        return gb
    raise HL7Error("103", f"PID-8 administrative sex {code!r} is not in table 0001", "PID^1^8")


def _ethnicity(ce: Field) -> str | None:
    """PID-22 (CE): a GB/T 3304 code in CE.1, or its name in CE.2; anything else is ignored."""
    code, text = ce.component(1), ce.component(2)
    if code.isdigit() and code.zfill(2) in ETHNICITIES:
        return code.zfill(2)
    return next((c for c, name in ETHNICITIES.items() if text and name == text), None)


def _phone(xtn: Field) -> str:
    """PID-13/14 (XTN): XTN.1, else XTN.12 unformatted, else XTN.6 + XTN.7; e-mail skipped."""
    if xtn.component(2) == "NET" or xtn.component(3) in ("Internet", "X.400") or xtn.is_null:
        return ""
    number = xtn.component(1) or xtn.component(12) or xtn.component(6) + xtn.component(7)
    return number.strip()


def _address(xad: Field) -> Address:
    """PID-11 (XAD): street, city, state, zip, country; XAD.8/9 district, 6-digit area code."""
    line = " ".join(p for p in (xad.sub(1, 1), xad.component(2)) if p)
    county = xad.component(9)
    area = county if re.fullmatch(r"\d{6}", county) else None
    district = xad.component(8) or (None if area else county) or None
    city, state = xad.component(3) or None, xad.component(4) or None
    parts = [p for p in (state, city, district) if p and p not in line]
    text = "".join([*parts, line]) if has_cjk(line + "".join(parts)) else None
    postal_code, country = xad.component(5) or None, xad.component(6) or None
    return Address(text, line or None, city, district, state, postal_code, country, area)


def merge_ids_from_mrg(
    message: Message, domains: DomainRegistry, default_domain: IdentifierDomain | None = None
) -> SourceIdentifier:
    """MRG-1 (first repetition), the id subsumed by the PID-3 id in A40 (ITI-8 rule 15).

    Without CX.4 the ``default_domain``, else MSH-3's domain, applies (ITI-8 rule 13)."""
    default = default_domain or source_domain(message, domains)
    cx = parse_cx(_required(message, "MRG").first(1))
    found = resolve_identifier(cx, domains, default_domain=default, location="MRG^1^1^1")
    if found is None:
        raise HL7Error("101", "MRG-1 prior patient identifier is missing", "MRG^1^1")
    if not isinstance(found, SourceIdentifier):
        raise HL7Error("102", "MRG-1 must be an id of a hospital domain", "MRG^1^1^1^4")
    return found
