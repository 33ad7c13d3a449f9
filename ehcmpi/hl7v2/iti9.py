"""ITI-9 PIX Query: ``QBP^Q23`` → ``RSP^K23`` (IHE ITI TF-2 3.9; RULES.md 1–10).

QPD-3 names the patient (CX.1 and CX.4 as namespace, universal id, or both); QPD-4 repeats
the domains wanted (only CX.4), empty meaning all.  The answer echoes QPD, says QAK-2 OK with
one PID (PID-3: the patient's ids in the other domains, fully qualified; PID-5 ``~^^^^^^S``)
or NF with none; errors are AE/AE with ERR-3 204 at ``QPD^1^3^1^4`` (unknown domain),
``QPD^1^3^1^1`` (unknown id) or ``QPD^1^4^<n>`` per unknown wanted domain.  The same
``PixManager.cross_references`` answers FHIR ``$ihe-pix`` (ITI-83).
"""

from __future__ import annotations

from collections.abc import Sequence

from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.model import Actor, DocumentInput, SourceIdentifier
from ehcmpi.hl7v2.codec import HL7Error, Message, Value
from ehcmpi.hl7v2.dispatch import Handler
from ehcmpi.hl7v2.pid import parse_cx, resolve_identifier
from ehcmpi.hl7v2.pid_out import format_identifier, pix_pid
from ehcmpi.hl7v2.query import query_response, wanted_domains
from ehcmpi.ihe.pix import PixManager
from ehcmpi.ihe.results import PixError
from ehcmpi.terminology.systems import document_system

QUERY_LOCATION = "QPD^1^3^1"


def _response(
    message: Message, code: str, status: str, body: Sequence[Sequence[Value]] = (),
    errors: Sequence[HL7Error] = (),
) -> bytes:  # fmt: skip
    return query_response(message, "RSP^K23^RSP_K23", code, status, body, errors)


def query_handler(pix: PixManager, domains: DomainRegistry) -> Handler:
    def handle(message: Message, actor: Actor) -> bytes:
        if not message.version.startswith("2.5"):
            version = HL7Error("203", f"ITI-9 is HL7 v2.5, not {message.version}", "MSH^1^12")
            return _response(message, "AR", "AR", errors=[version])
        if message.structure not in ("", "QBP_Q21"):
            structure = HL7Error("200", f"structure {message.structure}: expected QBP_Q21",
                                 "MSH^1^9^1^3")  # fmt: skip
            return _response(message, "AR", "AR", errors=[structure])
        qpd = message.segment("QPD")
        if qpd is None or not qpd.first(3).component(1):
            missing = HL7Error("101", "QPD-3 patient identifier is missing", QUERY_LOCATION)
            return _response(message, "AE", "AE", errors=[missing])
        try:
            found = resolve_identifier(parse_cx(qpd.first(3)), domains, location=QUERY_LOCATION)
        except HL7Error as exc:
            unknown = HL7Error("204", exc.message, QUERY_LOCATION + "^4")
            return _response(message, "AE", "AE", errors=[unknown])
        if found is None:
            missing = HL7Error("101", "QPD-3 patient identifier is missing", QUERY_LOCATION)
            return _response(message, "AE", "AE", errors=[missing])
        if isinstance(found, DocumentInput):
            queried = SourceIdentifier(document_system(found.doc_type), found.number)
        else:
            queried = SourceIdentifier(found.system, found.value)
        targets, errors = wanted_domains(message, 4, domains)
        if errors:
            return _response(message, "AE", "AE", errors=errors)
        try:
            result = pix.cross_references(queried, targets, actor=actor)
        except PixError as exc:
            location = QUERY_LOCATION + ("^4" if exc.kind == "unknown_source_domain" else "^1")
            return _response(message, "AE", "AE", errors=[HL7Error("204", exc.message, location)])
        if not result.found or not result.identifiers:
            return _response(message, "AA", "NF")
        cxs = [format_identifier(system, value, domains) for system, value in result.identifiers]
        return _response(message, "AA", "OK", [pix_pid(cxs)])

    return handle


def handlers(pix: PixManager, domains: DomainRegistry) -> dict[tuple[str, str], Handler]:
    return {("QBP", "Q23"): query_handler(pix, domains)}
