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


def link_handler(pix: PixManager, domains: DomainRegistry, *, link: bool) -> Handler:
    """ITI-30 Link/Unlink option: A24 links the two PID segments' patients (one person),
    A37 unlinks the second one's record from the first's."""

    def handle(message: Message, actor: Actor) -> bytes:
        pids = message.segments("PID")
        if len(pids) != 2:
            raise HL7Error("100", "A24/A37 need two PID segments", "PID")
        first, second = (_hospital_id(message, domains, n) for n in (1, 2))
        try:
            if link:
                pix.link(first, second, actor)
            else:
                pix.unlink(first, second, actor)
        except PixError as exc:
            return acknowledge(message, "AE", [_rejected(exc)])
        return acknowledge(message, "AA")

    return handle


def _hospital_id(message: Message, domains: DomainRegistry, which: int) -> SourceIdentifier:
    """The first hospital id in PID-3 of the ``which``-th PID segment."""
    only = Message(message.header, message.encoding,
                   tuple(s for i, s in enumerate(message.segments()) if s.name != "PID"
                         or message.segments("PID").index(s) == which - 1))  # fmt: skip
    found = next(
        (x for x in identifiers_from_pid(only, domains) if isinstance(x, SourceIdentifier)), None
    )
    if found is None:
        raise HL7Error("101", "PID-3 carries no hospital id", f"PID^{which}^3")
    return found


def handlers(pix: PixManager, domains: DomainRegistry) -> dict[tuple[str, str], Handler]:
    feed: Callable[[Message, Actor], bytes] = feed_handler(pix, domains)
    found = {("ADT", event): feed for event in FEED_EVENTS}
    # A40 merges MRG-1 into PID-3; A47 changes MRG-1 into PID-3 (a rename when PID-3 is new)
    found[("ADT", "A40")] = found[("ADT", "A47")] = merge_handler(pix, domains)
    found[("ADT", "A24")] = link_handler(pix, domains, link=True)
    found[("ADT", "A37")] = link_handler(pix, domains, link=False)
    return found
