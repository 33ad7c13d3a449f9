"""What ITI-9 (``RSP^K23``) and ITI-21 (``RSP^K22``) answers share (RULES.md 4, 17, 19, 20):
MSH, MSA, ERR per error, QAK with the query tag, the QPD echoed unchanged, the body, and the
"what domains returned" field (QPD-4 for ITI-9, QPD-8 for ITI-21) read into systems."""

from __future__ import annotations

from collections.abc import Sequence

from ehcmpi.core.domains import DomainRegistry
from ehcmpi.hl7v2.codec import HL7Error, Message, Raw, Value, build, err_segment, reply_msh
from ehcmpi.hl7v2.pid import domain_system, parse_cx


def query_response(
    message: Message,
    message_type: str,
    code: str,
    status: str,
    body: Sequence[Sequence[Value]] = (),
    errors: Sequence[HL7Error] = (),
    *,
    qak_extra: Sequence[Value] = (),
    trailer: Sequence[Sequence[Value]] = (),
) -> bytes:
    """The response to a query ``message``: ``message_type`` like ``RSP^K23^RSP_K23``."""
    qpd = message.segment("QPD")
    tag = qpd.field(2) if qpd is not None else ""
    segments: list[Sequence[Value] | Raw] = [
        reply_msh(message.header, message_type),
        ["MSA", code, message.control_id],
        *(err_segment(e) for e in errors),
        ["QAK", tag, status, *qak_extra],
    ]
    if qpd is not None:
        segments.append(Raw(qpd.raw))
    segments.extend(body)
    segments.extend(trailer)
    return build(segments, message.header, charset=message.charset)


def wanted_domains(
    message: Message, field: int, domains: DomainRegistry
) -> tuple[list[str] | None, list[HL7Error]]:
    """The systems QPD-``field`` names (None: all), and a 204 per unknown one at its ordinal."""
    qpd = message.segment("QPD")
    assert qpd is not None
    wanted, errors = [], []
    for n, rep in enumerate(qpd.repetitions(field), start=1):
        cx = parse_cx(rep)
        if cx.namespace or cx.oid:
            try:
                wanted.append(domain_system(cx, domains, location=f"QPD^1^{field}^{n}"))
            except HL7Error as exc:
                errors.append(exc)
    return (wanted or None), errors
