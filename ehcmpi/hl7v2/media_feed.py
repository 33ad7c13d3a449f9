"""A social-security card in an ITI-8 / ITI-30 feed goes through the reader entry (guideline
§4.4 统一识读入口, §5.1.3 over HL7 v2; IHE ITI TF-2 3.8).

A HIS that reads a 社保卡 at registration sends the card number in PID-3 with the assigning
authority configured as ``[insurance] card_domain`` (a ``[[identifier_domains]]`` namespace),
next to its own patient id::

    PID|||K10000001^^^SSC&1.2.156.112604.9.1&ISO~H-1001^^^HIS&1.2.156.112604.1.2.1&ISO||…

Each card repetition is resolved by :meth:`ehcmpi.core.reader.ReaderService.read` exactly as
``$read-medium`` resolves it: verified with the insurance identity system, the holder found by
their document or registered, the card bound; the other PID-3 ids are attached to that patient
and the feed then runs as usual (:func:`ehcmpi.hl7v2.iti8.feed_handler`), so the card number is
never stored as a hospital id.  The EHC ID is then in every PIX answer (ITI-9) for the HIS id.
A feed without a card repetition is the plain ITI-8 feed.

Errors (AE with ERR, nothing written): a card the insurance system does not know 204 at the
card's repetition; the system down and the card not bound yet 207 "retry later" (§6.5).
While it is down a card bound earlier still resolves (unverified).
"""

from __future__ import annotations

from dataclasses import replace

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import DomainError, NotFoundError
from ehcmpi.core.model import Actor, SourceIdentifier
from ehcmpi.core.reader import ReaderService
from ehcmpi.core.reading import Medium, MediumKind, ReadRequest
from ehcmpi.hl7v2 import iti8
from ehcmpi.hl7v2.codec import HL7Error, Message
from ehcmpi.hl7v2.dispatch import Handler, acknowledge
from ehcmpi.hl7v2.pid import parse_cx, registration_from_pid


def _location(message: Message, card: SourceIdentifier) -> str:
    pid = message.segment("PID")
    reps = pid.repetitions(3) if pid is not None else []
    n = next((i for i, f in enumerate(reps, 1) if parse_cx(f).value == card.value), 1)
    return f"PID^1^3^{n}"


def _rejected(message: Message, code: str, text: str, location: str) -> bytes:
    return acknowledge(message, "AE", [HL7Error(code, text, location)])


def card_feed_handler(reader: ReaderService, card_system: str, container: Container) -> Handler:
    def handle(message: Message, actor: Actor) -> bytes:
        iti8.check_segments(message)
        request = registration_from_pid(message, container.domains)  # parsed once
        cards = [s for s in request.source_ids if s.system == card_system]
        if not cards:
            return iti8.fed(container.pix, message, request, actor)
        others = tuple(s for s in request.source_ids if s.system != card_system)
        for card in cards:
            medium = Medium(MediumKind.SOCIAL_SECURITY_CARD, card.value)
            read = ReadRequest(medium, request.demographics, others, channel="hl7")
            try:
                reader.read(read, actor)
            except NotFoundError as exc:
                return _rejected(message, "204", exc.message, _location(message, card))
            except DomainError as exc:
                return _rejected(message, "207", exc.message, _location(message, card))
        if others:
            return iti8.fed(container.pix, message, replace(request, source_ids=others), actor)
        return acknowledge(message, "AA")

    return handle


def handlers(container: Container) -> dict[tuple[str, str], Handler]:
    """The feed events, when a card domain is configured (else nothing: plain ITI-8)."""
    namespace = container.settings.insurance.card_domain
    domain = container.domains.by_namespace(namespace) if namespace else None
    if domain is None:
        return {}
    handle = card_feed_handler(container.reader, domain.system, container)
    return {("ADT", event): handle for event in iti8.FEED_EVENTS}
