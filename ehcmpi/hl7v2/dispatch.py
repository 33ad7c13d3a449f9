"""Inbound HL7 v2 messages → transaction handlers → original-mode acknowledgements.

Every message gets an answer (IHE ITI TF-2 Appendix C.2.3; HL7 v2.5 §2.9.2 original mode):
a handler's reply, AE/AR with ERR for malformed input or a rejected transaction, AR with
ERR-3 200 for a message type nobody handles (ITI-22 and the rest: never silence).  Nothing a
message contains can crash the connection or the server: an unexpected failure is logged
and answered AE 207.  Every message in and out is in the call audit (§4.1.1 调用审计): the
sending application, the type, MSH-10 and the acknowledgement code.

PIX queries (``QBP^Q23``, ITI-9) and query cancellations (``QCN^J01``) are answered on the
event loop: a few indexed reads cost less than the hand-off to a worker thread and back
(ITI-9 with 8 connections: 3.1 → 1.6 ms of server CPU per query, ``bench/mllp_bench.py``).
Everything else keeps a worker thread: feeds write, may wait on a row lock, and a
social-security card in PID-3 may wait on the insurer's identity service (``media_feed``);
a PDQ query (``QBP^Q22``, ITI-21) by demographics may take hundreds of ms at a million
patients — the loop goes on serving the other connections meanwhile.

Patient identity feeds (ITI-8 A01/A04/A05/A08, ITI-30 A28/A31) that reach a worker together
are answered together (``together``: an :data:`EachHandler`, ``ihe.turn_batch``): their new
patients share one transaction (``RegistrationService.register_each``), each message still
its own acknowledgement and its own audit entries.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack

from ehcmpi.core.audit import AuditCall, AuditLog
from ehcmpi.core.errors import DomainError
from ehcmpi.core.model import Actor
from ehcmpi.hl7v2 import mllp
from ehcmpi.hl7v2.ack import build_ack, read_header, reply_codes
from ehcmpi.hl7v2.codec import HL7Error, Message, Value, build, decode, err_segment, reply_msh
from ehcmpi.ihe.turn_batch import TurnBatch

log = logging.getLogger(__name__)
#: a transaction: the decoded message and who sent it → the reply's bytes
Handler = Callable[[Message, Actor], bytes]
#: several messages of one transaction → each one's reply, or what refused or failed it
EachHandler = Callable[[Sequence[tuple[Message, Actor]]], Sequence[bytes | Exception]]
#: messages (MSH-9.1, MSH-9.2) handled on the event loop: short read-only queries
ON_LOOP = frozenset({("QBP", "Q23"), ("QCN", "J01")})


def acknowledge(message: Message, code: str, errors: Sequence[HL7Error] = ()) -> bytes:
    """``ACK^<trigger>^ACK``: MSA-1 = ``code``, one ERR per error, in the sender's charset."""
    segments: list[Sequence[Value]] = [
        reply_msh(message.header, f"ACK^{message.trigger}^ACK"),
        ["MSA", code, message.control_id],
        *(err_segment(e) for e in errors),
    ]
    return build(segments, message.header, charset=message.charset)


def sender(message: Message) -> Actor:
    """The sending system as the audited actor: ``hl7:<MSH-3>@<MSH-4>``."""
    facility = f"@{message.sending_facility}" if message.sending_facility else ""
    return Actor(f"hl7:{message.sending_application or '?'}{facility}", channel="mllp")


def _noted(call: AuditCall, message: Message, reply: bytes) -> None:
    """The message audit's target (MSH-10) and detail (the acknowledgement code and errors)."""
    code, errors = reply_codes(reply)
    call.target = message.control_id
    call.detail = " ".join([code, *errors])


class Dispatcher:
    def __init__(
        self,
        audit: AuditLog,
        handlers: Mapping[tuple[str, str], Handler],
        *,
        together: Mapping[tuple[str, str], EachHandler] | None = None,
        threads: int = 1,
    ) -> None:
        """``together``: messages answered in groups by one call, at most ``threads`` groups
        at a time (the loop's request threads); they take precedence over ``handlers``."""
        self._audit = audit
        self._handlers = dict(handlers)
        groups: dict[EachHandler, TurnBatch[Message, bytes]] = {}
        self._groups = {
            kind: groups.setdefault(
                each, TurnBatch(functools.partial(self.answer_each, each), threads=threads)
            )
            for kind, each in (together or {}).items()
        }

    async def __call__(self, raw: bytes) -> bytes:
        """Decode on the loop (0.1 ms), then answer there or on a request thread."""
        try:
            message = decode(raw)
        except HL7Error as exc:
            header = read_header(raw)
            error = (exc.code, exc.condition)
            return build_ack(header, "AR", error=error, text=exc.message, location=exc.location)
        kind = (message.type, message.trigger)
        if kind in ON_LOOP:
            return self.answer(message)
        group = self._groups.get(kind)
        if group is not None:
            return await group.ask(message, mllp.peer.get())
        return await asyncio.to_thread(self.answer, message)

    def answer(self, message: Message) -> bytes:
        """The reply to a decoded message, recorded in the call audit."""
        actor = sender(message)
        kind = f"{message.type}^{message.trigger}"
        with self._audit.call(actor, f"hl7 {kind}") as call:
            reply = self._reply(message, actor)
            _noted(call, message, reply)
            return reply

    def answer_each(self, each: EachHandler, messages: Sequence[Message]) -> list[bytes]:
        """``answer`` for messages answered together by ``each``: one reply and one audit
        entry per message, whatever refused or broke one of them."""
        actors = [sender(m) for m in messages]
        with ExitStack() as stack:
            calls = [
                stack.enter_context(self._audit.call(a, f"hl7 {m.type}^{m.trigger}"))
                for m, a in zip(messages, actors, strict=True)
            ]
            try:
                outcomes = each(list(zip(messages, actors, strict=True)))
            except Exception as exc:  # not one message's fault: each is answered AE 207
                outcomes = [exc] * len(messages)
            replies = [
                o if isinstance(o, bytes) else self._refusal(m, o)
                for m, o in zip(messages, outcomes, strict=True)
            ]
            for message, call, reply in zip(messages, calls, replies, strict=True):
                _noted(call, message, reply)
            return replies

    def _reply(self, message: Message, actor: Actor) -> bytes:
        handler = self._handlers.get((message.type, message.trigger))
        if handler is None:
            unsupported = HL7Error(
                "200",
                f"不支持的消息类型 {message.type}^{message.trigger} (unsupported message type)",
            )
            return acknowledge(message, "AR", [unsupported])
        try:
            return handler(message, actor)
        except Exception as exc:
            return self._refusal(message, exc)

    @staticmethod
    def _refusal(message: Message, exc: Exception) -> bytes:
        """``AE`` with ERR for what a handler raised: the HL7 error, a refused transaction
        (207 with its message), else an internal error (207, logged; never a stack trace)."""
        if isinstance(exc, HL7Error):
            return acknowledge(message, "AE", [exc])
        if isinstance(exc, DomainError):
            return acknowledge(message, "AE", [HL7Error("207", exc.message)])
        log.error("HL7 handler failed for %s %s", message.type, message.control_id, exc_info=exc)
        return acknowledge(
            message, "AE", [HL7Error("207", "服务器内部错误 (application internal error)")]
        )
