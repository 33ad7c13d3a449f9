"""Requests that arrive together are answered together (FHIR R4 http ``read`` and
``create``; PDQm ITI-78 lookups by identifier; ITI-8 / ITI-30 feeds over MLLP; guideline
§4.1.2 精准查询, 索引注册).  Shared by the FHIR and HL7 v2 adapters.

A worker answers reads and exact lookups on its event loop, one blocking round trip to the
database each.  Under load several arrive in the same turn of the loop; a :class:`TurnBatch`
holds them until that turn's end and answers them with one call of its ``answer_each``
(``QueryService.get_each``, ``PdqSupplier.query_each``), whose statements share one round
trip, each still its own query and its own audited call.  One request alone goes out at the
end of the turn it arrived in, as before; only the round trip is shared.

Writes (``RegistrationService.register_each``: new records share one transaction; FHIR
``POST /Patient`` and HL7 patient identity feeds) are answered on the loop's request threads
instead (``threads``): at most that many groups at once, and what arrives while they all work
waits and goes together with the next group — the busier the worker, the more requests share
a transaction.

The clients a group has just answered may be about to ask again: a client that sends its
next request as soon as it has the answer (a closed loop: a HIS feeding one message at a
time, a load test) is back within a millisecond or two, and a group started the moment the
last one ended would leave it behind.  Without waiting for them a worker's clients split into
two cohorts that took turns, each group half the size (``POST /fhir/Patient``, 32
connections, 2 workers: groups of 5 and 11, or 7 and 9; with the wait 15–16), and every group
costs a fixed part of a registration's work; ``bench/README.md``.  So each request names its
``client`` (the connection's peer address), and a client whose last request came within
:data:`QUICK` of the answer before it is *awaited* once answered: the next group starts when
every awaited client is back — or, if some are not, once none has come for :data:`COMPANY`,
or :data:`LONGEST` times that after the wait began; those who come later go with the group
after.  When no request waited as a group ended, the first awaited client back waits likewise
for the others.  Clients that ask on their own schedule (open-loop load, a feed with think
time) are never awaited, so requests from them are not held: a group starts at once when none
works, and the moment the one before ends when one does.  Until 2026-11-28 the worker could
not tell the two kinds apart and guessed by a timer — after a wait in which fewer than half of
the answered clients came back, it waited for none during the next eight groups — and took a
closed loop slowed by a busy machine for an open one (``bench/README.md``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

Q = TypeVar("Q")
A = TypeVar("A")
#: how long the requests left when a group ends wait for the next of the clients it answered
#: (seconds): a group's 16 answers took the loop 2–5 ms to render, the clients coming back
#: meanwhile one by one
COMPANY = 0.002
#: a wait that clients keep coming back to ends at the latest this many ``COMPANY`` in
LONGEST = 3
#: a client whose last request came at most this long after the answer before it (seconds)
#: is expected back as fast: closed-loop clients at 32 connections (2 workers, a slow day) came
#: back within 3 ms of their answer nine times in ten; an open-loop client asks when its
#: schedule says, tens of ms later unless the server has fallen behind
QUICK = 0.004
#: clients remembered, at most (connections that closed are forgotten past it)
REMEMBERED = 4096
_Pending = list[tuple[Q, asyncio.Future[A], Hashable]]


class TurnBatch(Generic[Q, A]):
    """The questions of one event loop's current turn, answered by ``answer_each`` — one
    answer per question, in order, an exception in place of a refused one."""

    def __init__(
        self,
        answer_each: Callable[[list[Q]], Sequence[A | Exception]],
        *,
        threads: int = 0,
        company: float = COMPANY,
        quick: float = QUICK,
    ) -> None:
        """``threads``: 0 answers on the loop; more, on the loop's executor, at most that many
        groups at a time."""
        self._answer_each = answer_each
        self._threads = threads
        self._company = company
        self._quick_enough = quick
        self._busy = 0
        self._due = False
        self._pending: _Pending[Q, A] = []
        # Waiting for the quick clients the groups that ended answered: till none is
        # awaited, or the timer.
        self._waiting: asyncio.TimerHandle | None = None
        self._wait_ends = 0.0  # loop time at which the wait ends however many come back
        self._awaited: set[Hashable] = set()
        self._answered_at: dict[Hashable, float] = {}  # client: when its answer went out
        self._quick: set[Hashable] = set()  # clients whose last request came quickly

    def ask(self, question: Q, client: Hashable = None) -> asyncio.Future[A]:
        """The answer, at the end of this turn of the loop or once a thread is free (a
        refusal raises).  ``client``: the connection the question came on (a peer address),
        if known; it tells which clients come back at once."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[A] = loop.create_future()
        self._pending.append((question, future, client))
        if client is not None:
            self._back(client)
        if self._waiting is not None:
            self._waiting.cancel()
            if not self._awaited:  # all there: go now
                self._waiting = None
                loop.call_soon(self._start, loop)
            else:  # one more back: wait for the next as long again, up to the limit
                then = min(loop.time() + self._company, self._wait_ends)
                self._waiting = loop.call_at(then, self._start, loop)
        elif self._due:
            pass  # a group starts at the end of this turn: this question goes with it
        elif self._busy == 0 and self._awaited:  # the first back waits for the others
            self._due = True
            self._wait(loop)
        elif self._may_start():
            self._due = True
            loop.call_soon(self._start, loop)
        return future

    def _back(self, client: Hashable) -> None:
        """``client`` asks again: quick or not, by how long after its last answer."""
        self._awaited.discard(client)
        answered = self._answered_at.pop(client, None)
        if answered is not None and time.monotonic() - answered <= self._quick_enough:
            self._quick.add(client)
        else:
            self._quick.discard(client)

    def _may_start(self) -> bool:
        """A group may start: none is running, or a thread is free and more than one
        question waits (a lone one waits for the running group to end: groups stay larger)."""
        return self._busy == 0 or (self._busy < self._threads and len(self._pending) > 1)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = False
        self._waiting = None
        self._awaited.clear()  # who has not come back goes with the next group
        pending, self._pending = self._pending, []
        if not self._threads:
            self._settle(loop, pending, self._answers(pending))
            return
        self._busy += 1
        answered = loop.run_in_executor(None, self._answers, pending)
        answered.add_done_callback(lambda done: self._done(loop, pending, done.result()))

    def _done(
        self,
        loop: asyncio.AbstractEventLoop,
        pending: _Pending[Q, A],
        answers: Sequence[A | Exception],
    ) -> None:
        self._busy -= 1
        self._settle(loop, pending, answers)
        self._awaited.update(c for _, _, c in pending if c in self._quick)
        if self._pending and not self._due and self._may_start():  # arrived meanwhile
            self._due = True
            if self._awaited:  # and the quick clients just answered are about to come back
                self._wait(loop)
            else:
                loop.call_soon(self._start, loop)

    def _wait(self, loop: asyncio.AbstractEventLoop) -> None:
        self._wait_ends = loop.time() + LONGEST * self._company
        self._waiting = loop.call_later(self._company, self._start, loop)

    def _answers(self, pending: _Pending[Q, A]) -> Sequence[A | Exception]:
        try:
            return self._answer_each([question for question, _, _ in pending])
        except Exception as exc:  # the database failed them all: each request answers 500
            return [exc] * len(pending)

    def _settle(
        self,
        loop: asyncio.AbstractEventLoop,
        pending: _Pending[Q, A],
        answers: Sequence[A | Exception],
    ) -> None:
        for (_, future, _), answer in zip(pending, answers, strict=True):
            if future.done():  # the client went away
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)
        clients = [client for _, _, client in pending if client is not None]
        if clients:  # after the requests' own callbacks: once their answers have gone out
            loop.call_soon(self._answered, clients)

    def _answered(self, clients: list[Hashable]) -> None:
        now = time.monotonic()
        at = self._answered_at
        for client in clients:
            at[client] = now
        if len(at) > REMEMBERED:  # forget the oldest half: closed connections among them
            for client in list(at)[: len(at) // 2]:
                del at[client]
            self._quick.intersection_update(at)
