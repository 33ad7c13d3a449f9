"""ITI-8 Patient Identity Feed and ITI-30 Patient Identity Management (IHE ITI TF-2 3.8,
3.30; RULES.md 11–15, 22), answered with an original-mode ACK.

A01/A04/A05/A08 (ITI-8) and A28/A31 (ITI-30) create or update the sending system's source
record: PID-3 repetitions become hospital ids (configured domains; a missing CX.4 is filled
from the domain whose source is MSH-3) and Appendix A documents (身份证: CX.4 universal id
2.16.156.10011.1.3 or CX.5 ``01``), and the patient is registered exactly as the FHIR path
registers it (same EHC ID), then linked by the matcher.  A40 merges MRG-1 into PID-3 (same
assigning authority); the subsumed id is never returned again.
"""

from __future__ import annotations

from collections.abc import Callable

from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.model import Actor, SourceIdentifier
from ehcmpi.hl7v2.codec import HL7Error, Message
from ehcmpi.hl7v2.dispatch import Handler, acknowledge
from ehcmpi.hl7v2.pid import identifiers_from_pid, merge_ids_from_mrg, registration_from_pid
from ehcmpi.ihe.pix import PixManager
from ehcmpi.ihe.results import PixError

FEED_EVENTS = ("A01", "A04", "A05", "A08", "A28", "A31")
#: PixError kinds → (HL7 table 0357 code, ERR-2 location)
_PIX_ERRORS = {
    "unknown_domain": ("204", "PID^1^3"),
    "missing_id": ("101", "PID^1^3"),
    "unknown_id": ("204", "MRG^1^1"),
    "domain_mismatch": ("204", "MRG^1^1^1^4"),
    "same_id": ("205", "MRG^1^1"),
}


def _rejected(exc: PixError) -> HL7Error:
    code, location = _PIX_ERRORS.get(exc.kind, ("207", ""))
    return HL7Error(code, exc.message, location)


def feed_handler(pix: PixManager, domains: DomainRegistry) -> Handler:
    def handle(message: Message, actor: Actor) -> bytes:
        request = registration_from_pid(message, domains)
        try:
            pix.feed(request, actor)
        except PixError as exc:
            return acknowledge(message, "AE", [_rejected(exc)])
        return acknowledge(message, "AA")

    return handle


def merge_handler(pix: PixManager, domains: DomainRegistry) -> Handler:
    def handle(message: Message, actor: Actor) -> bytes:
        surviving = next(
            (x for x in identifiers_from_pid(message, domains) if isinstance(x, SourceIdentifier)),
            None,
        )
        if surviving is None:
            raise HL7Error("101", "PID-3 carries no hospital id to merge into", "PID^1^3")
        subsumed = merge_ids_from_mrg(message, domains)
        try:
            pix.merge(surviving, subsumed, actor)
        except PixError as exc:
            return acknowledge(message, "AE", [_rejected(exc)])
        return acknowledge(message, "AA")

    return handle


def handlers(pix: PixManager, domains: DomainRegistry) -> dict[tuple[str, str], Handler]:
    feed: Callable[[Message, Actor], bytes] = feed_handler(pix, domains)
    found = {("ADT", event): feed for event in FEED_EVENTS}
    found[("ADT", "A40")] = merge_handler(pix, domains)
    return found
