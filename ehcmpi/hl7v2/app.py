"""The HL7 v2 side of a server process: the message dispatcher and the ITI-10 sender.

One place lists the transactions the MLLP port answers (ITI-8, ITI-30, ITI-9, ITI-21) and
builds the ``ADT^A31`` PIX Update Notifications (ITI-10) from a patient's current
cross-references, restricted to each consumer's domains of interest (RULES.md 16).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import SYSTEM_ACTOR, OutboxItem, SourceIdentifier
from ehcmpi.hl7v2 import iti8, iti9, iti21, media_feed
from ehcmpi.hl7v2.ack import DEFAULT_HEADER
from ehcmpi.hl7v2.codec import Value, build
from ehcmpi.hl7v2.dispatch import Dispatcher, Handler
from ehcmpi.hl7v2.notify import NotificationSender
from ehcmpi.hl7v2.pid_out import format_identifier, pix_pid
from ehcmpi.ihe.results import PixError
from ehcmpi.settings import ConsumerSettings
from ehcmpi.terminology.systems import MPI_ID_SYSTEM


def dispatcher(container: Container) -> Dispatcher:
    """Feeds are answered in groups (``iti8.together``), except where a social-security card
    domain is configured: such a feed may first go to the insurer's identity service
    (``media_feed``), one message at a time."""
    handlers: dict[tuple[str, str], Handler] = {}
    handlers.update(iti8.handlers(container.pix, container.domains))
    cards = media_feed.handlers(container)  # PID-3 social-security cards
    handlers.update(cards)
    handlers.update(iti9.handlers(container.pix, container.domains))
    handlers.update(iti21.handlers(container.pdq, container.domains))
    together = {} if cards else iti8.together(container.pix, container.domains)
    threads = container.settings.server.request_threads
    return Dispatcher(container.audit, handlers, together=together, threads=threads)


def notification(
    container: Container, item: OutboxItem, consumer: ConsumerSettings
) -> bytes | None:
    """ITI-10 ``ADT^A31^ADT_A05`` for one patient and consumer (None: nothing to tell)."""
    try:
        refs = container.pix.cross_references(
            SourceIdentifier(MPI_ID_SYSTEM, item.mpi_id), consumer.domains or None,
            actor=SYSTEM_ACTOR,
        )  # fmt: skip
    except PixError:
        return None  # the record is gone (cancelled): nothing left to cross-reference
    identifiers = [(MPI_ID_SYSTEM, refs.patient.mpi_id), *refs.identifiers]
    wanted = set(consumer.domains)
    cxs = [
        format_identifier(system, value, container.domains)
        for system, value in identifiers
        if not wanted or system in wanted
    ]
    if not cxs:
        return None
    stamp = item.created_at.strftime("%Y%m%d%H%M%S")
    control_id = secrets.token_hex(8).upper()
    node = container.settings.node.code
    msh: list[Value] = ["MSH", "|", "^~\\&", "EHCMPI", node, consumer.name, "", stamp, "",
                        ["ADT", "A31", "ADT_A05"], control_id, "P", "2.5", "", "", "", "", "",
                        "UNICODE UTF-8"]  # fmt: skip
    segments: list[Sequence[Value]] = [
        msh,
        ["EVN", "A31", stamp],
        pix_pid(cxs, notification=True),
        ["PV1", None, "N"],
    ]
    return build(segments, DEFAULT_HEADER, charset="utf-8")


def notification_sender(container: Container) -> NotificationSender:
    return NotificationSender(
        container.uow,
        container.settings.pix_consumers,
        lambda item, consumer: notification(container, item, consumer),
    )
