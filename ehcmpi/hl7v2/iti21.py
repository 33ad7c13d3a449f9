"""ITI-21 Patient Demographics Query: ``QBP^Q22`` → ``RSP^K22``, continuation and ``QCN^J01``
(IHE ITI TF-2 3.21; RULES.md 17–21).

QPD-3 repeats ``@PID.<field>[.<comp>[.<sub>]]^value``: PID.3 (id, with PID.3.4 its domain —
PID.3.1 alone is refused), PID.5 (family/given/full name, Chinese characters or pinyin), PID.6
(mother's maiden name 母亲姓名, by prefix, characters or pinyin), PID.7 (birth date), PID.8
(sex), PID.11 (address: city, district, postal code, text), PID.13 (phone), PID.18 / PID.18.1
(patient account number, exact; with PID.18.4 its authority, else in any).  The answer's PID-18
is the record's account number the query named, else its first.  QPD-8 restricts the domains
in PID-3 (unknown ones: AE, ERR ``QPD^1^8^<n>`` 204).  RCP-2 ``<n>^RD`` pages the answer: DSC
carries a continuation pointer, the next increment repeats the query with DSC-1 = pointer.
The same ``PdqSupplier`` answers FHIR PDQm (ITI-78).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.model import Actor, DocumentInput, SourceIdentifier
from ehcmpi.hl7v2.codec import HL7Error, Message, Value
from ehcmpi.hl7v2.dispatch import Handler, acknowledge
from ehcmpi.hl7v2.pid import SEX_TO_GB, Cx, account_system, resolve_identifier
from ehcmpi.hl7v2.pid_out import pdq_pid
from ehcmpi.hl7v2.query import query_response, wanted_domains
from ehcmpi.ihe.pdq import PdqSupplier
from ehcmpi.ihe.results import PdqCriteria, PixError
from ehcmpi.terminology.systems import document_system

#: QPD-3 field path → PdqCriteria field
_FIELDS = {
    "PID.5": "name", "PID.5.1": "family", "PID.5.1.1": "family", "PID.5.2": "given",
    "PID.7": "birth_date", "PID.7.1": "birth_date", "PID.8": "gender",
    "PID.11": "address", "PID.11.1": "address", "PID.11.1.1": "address", "PID.11.3": "city",
    "PID.11.4": "city", "PID.11.5": "postal_code", "PID.11.9": "district", "PID.13": "phone",
    "PID.13.1": "phone", "PID.13.12": "phone", "PID.6": "mothers_maiden_name",
    "PID.6.1": "mothers_maiden_name", "PID.6.1.1": "mothers_maiden_name",
    "PID.18": "account", "PID.18.1": "account",
}  # fmt: skip
_HD_PART = {"": 1, ".1": 1, ".2": 2, ".3": 3}
DEFAULT_PAGE = 100


def _criteria(message: Message, domains: DomainRegistry) -> PdqCriteria:
    qpd = message.segment("QPD")
    assert qpd is not None
    values: dict[str, Any] = {}
    id_value, id_domain, account_domain = "", Cx(""), Cx("")
    for n, rep in enumerate(qpd.repetitions(3), start=1):
        path, value = rep.component(1).lstrip("@"), rep.component(2)
        where = f"QPD^1^3^{n}"
        if not value:
            continue
        if path in ("PID.3", "PID.3.1"):
            id_value = value
        elif path.startswith("PID.3.4"):
            id_domain = _hd(id_domain, path.removeprefix("PID.3.4"), value)
        elif path.startswith("PID.18.4"):
            account_domain = _hd(account_domain, path.removeprefix("PID.18.4"), value)
        elif path in _FIELDS:
            values[_FIELDS[path]] = _value(_FIELDS[path], value, where)
        elif path.startswith(("PID.3.", "PID.18.")):
            continue  # check digit, type code …: the id and its domain decide
        else:
            raise HL7Error("102", f"unsupported QPD-3 field {path}", where)
    if id_value:
        if not (id_domain.namespace or id_domain.oid):
            raise HL7Error("101", "@PID.3.1 needs @PID.3.4 (RULES 18)", "QPD^1^3")
        cx = Cx(id_value, id_domain.namespace, id_domain.oid, id_domain.oid_type)
        found = resolve_identifier(cx, domains, location="QPD^1^3^1")
        if isinstance(found, DocumentInput):
            values["identifier"] = SourceIdentifier(document_system(found.doc_type), found.number)
        elif found is not None:
            values["identifier"] = SourceIdentifier(found.system, found.value)
    if values.get("account"):
        values["account_system"] = account_system(account_domain, domains, "QPD^1^3")
    return PdqCriteria(**values)


def _hd(domain: Cx, rest: str, value: str) -> Cx:
    """CX.4 (HD) with the namespace (``""``, ``.1``), universal id (``.2``) or type (``.3``)."""
    if (part := _HD_PART.get(rest)) is None:
        return domain  # CX.4 components beyond the HD: nothing to restrict by
    fields = [domain.namespace, domain.oid, domain.oid_type]
    fields[part - 1] = value
    return Cx("", *fields)


def _shown(accounts: Sequence[SourceIdentifier], criteria: PdqCriteria) -> list[SourceIdentifier]:
    """The account numbers for PID-18, the one the query named first."""
    value = (criteria.account or "").strip()
    asked = [a for a in accounts if a.value == value
             and criteria.account_system in (None, a.system)]  # fmt: skip
    return asked + [a for a in accounts if a not in asked]


def _value(name: str, value: str, where: str) -> Any:
    if name == "birth_date":
        try:
            return dt.datetime.strptime(value[:8], "%Y%m%d").date()
        except ValueError:
            raise HL7Error("102", f"bad date {value!r}", where) from None
    if name == "gender":
        gender = SEX_TO_GB.get(value.upper(), value)
        return gender if gender in ("1", "2") else None
    return value


def _page_size(message: Message) -> int:
    rcp = message.segment("RCP")
    quantity = rcp.first(2).component(1) if rcp is not None else ""
    return int(quantity) if quantity.isdigit() and int(quantity) > 0 else DEFAULT_PAGE


def _response(
    message: Message, code: str, status: str, body: Sequence[Sequence[Value]] = (),
    errors: Sequence[HL7Error] = (), counts: tuple[int, int, int] | None = None,
    pointer: str | None = None,
) -> bytes:  # fmt: skip
    qpd = message.segment("QPD")
    extra: list[Value] = []
    if counts is not None:  # QAK-3 query name, QAK-4/5/6 hits total, this payload, remaining
        extra = [[qpd.first(1).component(1)] if qpd else None, *map(str, counts)]
    trailer = [["DSC", pointer, "I"]] if pointer else []
    return query_response(message, "RSP^K22^RSP_K21", code, status, body, errors,
                          qak_extra=extra, trailer=trailer)  # fmt: skip


def query_handler(pdq: PdqSupplier, domains: DomainRegistry) -> Handler:
    def handle(message: Message, actor: Actor) -> bytes:
        if message.segment("QPD") is None:
            return _response(message, "AE", "AE", errors=[HL7Error("100", "QPD is missing", "QPD")])
        targets, errors = wanted_domains(message, 8, domains)
        if errors:
            return _response(message, "AE", "AE", errors=errors)
        dsc = message.segment("DSC")
        cursor = dsc.field(1) if dsc is not None and dsc.field(1) else None
        try:
            criteria = _criteria(message, domains)
            page = pdq.search(criteria, targets, _page_size(message), cursor, actor=actor)
        except HL7Error as exc:
            return _response(message, "AE", "AE", errors=[exc])
        except PixError as exc:
            return _response(message, "AE", "AE", errors=[HL7Error("207", exc.message, "QPD^1^3")])
        if not page.patients:
            return _response(message, "AA", "NF", counts=(page.total, 0, 0))
        pids = [pdq_pid(refs.patient, domains, targets, set_id=i,
                        accounts=_shown(refs.accounts, criteria))
                for i, refs in enumerate(page.patients, start=1)]  # fmt: skip
        counts = (page.total, len(pids), page.remaining)
        return _response(message, "AA", "OK", pids, counts=counts,
                         pointer=page.next_cursor)  # fmt: skip

    return handle


def cancel_handler(pdq: PdqSupplier) -> Handler:
    def handle(message: Message, actor: Actor) -> bytes:
        pdq.cancel(None)  # stateless continuation: nothing to release
        return acknowledge(message, "AA")

    return handle


def handlers(pdq: PdqSupplier, domains: DomainRegistry) -> dict[tuple[str, str], Handler]:
    return {("QBP", "Q22"): query_handler(pdq, domains), ("QCN", "J01"): cancel_handler(pdq)}
