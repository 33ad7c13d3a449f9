"""ITI-8 Patient Identity Feed and ITI-30 Patient Identity Management (IHE ITI TF-2 3.8,
3.30; RULES.md 11–15, 22), answered with an original-mode ACK.

A01/A04/A05/A08 (ITI-8) and A28/A31 (ITI-30) create or update the sending system's source
record: PID-3 repetitions become hospital ids (configured domains; a missing CX.4 is filled
from the domain whose source is MSH-3) and Appendix A documents (身份证: CX.4 universal id
2.16.156.10011.1.3 or CX.5 ``01``), and the patient is registered exactly as the FHIR path
registers it (same EHC ID), then linked by the matcher.  A40 merges MRG-1 into PID-3 (same
assigning authority); the subsumed id is never returned again.

Feeds that reach a worker together are answered together (:func:`feed_each_handler`): each
message parsed and acknowledged as :func:`feed_handler` would, their new patients created in
one transaction (``PixManager.feed_each``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.model import Actor, RegistrationRequest, SourceIdentifier
from ehcmpi.core.together import each_prepared
from ehcmpi.hl7v2.codec import HL7Error, Message
from ehcmpi.hl7v2.dispatch import EachHandler, Handler, acknowledge
from ehcmpi.hl7v2.pid import (
    identifiers_from_pid,
    parse_cx,
    registration_from_pid,
    resolve_identifier,
    source_domain,
)
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


#: Segments of the ADT_A01 / ADT_A05 / ADT_A39 / ADT_A30 structures (HL7 v2.5 ch. 3); Z
#: segments are local and always allowed.  Anything else is refused, not silently dropped.
ADT_SEGMENTS = frozenset(
    ("MSH", "SFT", "EVN", "PID", "PD1", "ROL", "NK1", "PV1", "PV2", "DB1", "OBX", "AL1", "DG1",
     "DRG", "PR1", "GT1", "IN1", "IN2", "IN3", "ACC", "UB1", "UB2", "PDA", "MRG")
)  # fmt: skip


def _check_segments(message: Message) -> None:
    for segment in message.segments():
        if segment.name not in ADT_SEGMENTS and not segment.name.startswith("Z"):
            raise HL7Error("100", f"segment {segment.name} is not part of an ADT message",
                           segment.name)  # fmt: skip


check_segments = _check_segments  # for handlers that wrap the feed (media_feed)


def fed(pix: PixManager, message: Message, request: RegistrationRequest, actor: Actor) -> bytes:
    """Feed one parsed PID (RULES 13–14): ``AA``, or ``AE`` with the PIX error's ERR."""
    try:
        pix.feed(request, actor)
    except PixError as exc:
        return _acknowledged(message, exc)
    return _acknowledged(message)


def _acknowledged(message: Message, refused: PixError | None = None) -> bytes:
    """The ``ACK`` of a feed, merge or link: ``AA``, or ``AE`` with the PIX error's ERR."""
    if refused is not None:
        return acknowledge(message, "AE", [_rejected(refused)])
    return acknowledge(message, "AA")


def feed_handler(pix: PixManager, domains: DomainRegistry) -> Handler:
    def handle(message: Message, actor: Actor) -> bytes:
        return fed(pix, message, _feed_request(message, domains), actor)

    return handle


def _feed_request(message: Message, domains: DomainRegistry) -> RegistrationRequest:
    _check_segments(message)
    return registration_from_pid(message, domains)


def feed_each_handler(pix: PixManager, domains: DomainRegistry) -> EachHandler:
    """``feed_handler`` for several messages at once; a message that cannot be parsed, or
    whose feed is refused, gets what refused it (the dispatcher's AE) or its PIX error."""

    def handle(asked: Sequence[tuple[Message, Actor]]) -> list[bytes | Exception]:
        # a message that cannot be parsed is answered AE by the dispatcher, as alone
        answers = each_prepared(
            asked, lambda pair: (_feed_request(pair[0], domains), pair[1]), pix.feed_each
        )
        return [_outcome(m, a) for (m, _), a in zip(asked, answers, strict=True)]

    return handle


def _outcome(message: Message, answer: object) -> bytes | Exception:
    """A grouped feed's reply: its ``ACK``, or what failed it for the dispatcher to answer."""
    if isinstance(answer, PixError):
        return _acknowledged(message, answer)
    return answer if isinstance(answer, Exception) else _acknowledged(message)


def merge_handler(pix: PixManager, domains: DomainRegistry) -> Handler:
    """A40 / A47: each MRG-1 id is merged into the PID-3 id of the same domain (RULES 15).

    MRG-1 may repeat; a repetition whose domain cannot be told (no CX.4, MSH-3 no configured
    source) is passed over when another one can be.  A subsumed id this manager never saw
    has nothing to merge: the PID is fed instead, so the surviving id is known afterwards.
    """

    def handle(message: Message, actor: Actor) -> bytes:
        _check_segments(message)
        surviving = [x for x in identifiers_from_pid(message, domains)
                     if isinstance(x, SourceIdentifier)]  # fmt: skip
        if not surviving:
            raise HL7Error("101", "PID-3 carries no hospital id to merge into", "PID^1^3")
        pairs = _merge_pairs(message, domains, surviving)
        try:
            for kept, old in pairs:
                try:
                    pix.merge(kept, old, actor)
                except PixError as exc:
                    if exc.kind != "unknown_id":
                        raise
                    pix.feed(registration_from_pid(message, domains), actor)
        except PixError as exc:
            return _acknowledged(message, exc)
        return _acknowledged(message)

    return handle


def _merge_pairs(
    message: Message, domains: DomainRegistry, surviving: list[SourceIdentifier]
) -> list[tuple[SourceIdentifier, SourceIdentifier]]:
    mrg = message.segment("MRG")
    if mrg is None:
        raise HL7Error("100", "MRG segment is missing", "MRG")
    default, pairs, errors = source_domain(message, domains), [], []
    for n, field in enumerate(mrg.repetitions(1), start=1):
        location = f"MRG^1^1^{n}"
        try:
            old = resolve_identifier(parse_cx(field), domains, default_domain=default,
                                     location=location)  # fmt: skip
        except HL7Error as exc:
            errors.append(exc)
            continue
        if not isinstance(old, SourceIdentifier):
            continue
        kept = next((x for x in surviving if x.system == old.system), None)
        if kept is None:
            text = "MRG-1 与 PID-3 的标识域不同 (MRG-1.4 must be the authority of a PID-3 id)"
            errors.append(HL7Error("204", text, location + "^4"))
            continue
        pairs.append((kept, old))
    if not pairs:
        raise errors[0] if errors else HL7Error("101", "MRG-1 is empty", "MRG^1^1")
    return pairs


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
            return _acknowledged(message, exc)
        return _acknowledged(message)

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


def together(pix: PixManager, domains: DomainRegistry) -> dict[tuple[str, str], EachHandler]:
    """The feed events, answered in groups (``Dispatcher(together=...)``)."""
    each = feed_each_handler(pix, domains)
    return {("ADT", event): each for event in FEED_EVENTS}


def handlers(pix: PixManager, domains: DomainRegistry) -> dict[tuple[str, str], Handler]:
    feed: Callable[[Message, Actor], bytes] = feed_handler(pix, domains)
    found = {("ADT", event): feed for event in FEED_EVENTS}
    # A40 merges MRG-1 into PID-3; A47 changes MRG-1 into PID-3 (a rename when PID-3 is new)
    found[("ADT", "A40")] = found[("ADT", "A47")] = merge_handler(pix, domains)
    found[("ADT", "A24")] = link_handler(pix, domains, link=True)
    found[("ADT", "A37")] = link_handler(pix, domains, link=False)
    return found
