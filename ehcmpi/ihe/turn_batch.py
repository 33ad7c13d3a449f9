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
a transaction.  The requests that waited for a group do not start the next one the moment
that group ends: the clients it has just answered are usually about to send their next
request, so the next group waits for as many requests as were waiting plus those answered,
and starts as soon as they are there — or with what has come once none has come for
:data:`COMPANY`, or :data:`LONGEST` times that after the wait began.  Without
the wait a worker's clients split into two cohorts that took turns, each group half the size
(``POST /fhir/Patient``, 32 connections, 2 workers: groups of 5 and 11, or 7 and 9; with it
15–16), and every group costs a fixed part of a registration's work; ``bench/README.md``.
When no request waited — all of a worker's clients were in the group — the first of them
back waits likewise for the others; without that it started a group of one on its own and
the others waited for it (a fifth of all groups were of one).  Clients that do not come back
at once — requests that arrive on their own schedule, not in answer to the last reply — make
that wait a loss: when it ends on the timer with fewer than half of the answered clients
back, the next :data:`SKIP` groups start as soon as the one before ends, and then the worker
looks again (registrations offered at 1,000/s, 2 workers: median latency 6.6, 10.1, 10.2 →
5.0, 8.2, 5.4 ms).  A request that arrives while no group works starts at once, as before,
unless it is the first back of such a group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Q = TypeVar("Q")
A = TypeVar("A")
#: how long the requests left when a group ends wait for the next of the clients it answered
#: (seconds): a group's 16 answers took the loop 2–5 ms to render, the clients coming back
#: meanwhile one by one
COMPANY = 0.002
#: a wait that clients keep coming back to ends at the latest this many ``COMPANY`` in
LONGEST = 3
#: groups that start without that wait after one in which most clients did not come back
SKIP = 8


class TurnBatch(Generic[Q, A]):
    """The questions of one event loop's current turn, answered by ``answer_each`` — one
    answer per question, in order, an exception in place of a refused one."""

    def __init__(
        self,
        answer_each: Callable[[list[Q]], Sequence[A | Exception]],
        *,
        threads: int = 0,
        company: float = COMPANY,
    ) -> None:
        """``threads``: 0 answers on the loop; more, on the loop's executor, at most that many
        groups at a time."""
        self._answer_each = answer_each
        self._threads = threads
        self._company = company
        self._busy = 0
        self._due = False
        self._pending: list[tuple[Q, asyncio.Future[A]]] = []
        # Waiting for the clients a group answered: till ``_expected`` wait, or the timer.
        self._waiting: asyncio.TimerHandle | None = None
        self._expected = 0
        self._wait_ends = 0.0  # loop time at which the wait ends however many come back
        self._answered = 0  # clients the group that ended answered
        self._skip = 0  # groups to start without waiting: the clients did not come back

    def ask(self, question: Q) -> asyncio.Future[A]:
        """The answer, at the end of this turn of the loop or once a thread is free (a
        refusal raises)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[A] = loop.create_future()
        self._pending.append((question, future))
        if self._waiting is not None:
            self._waiting.cancel()
            if len(self._pending) >= self._expected:  # all there: go now
                self._waiting = None
                self._due = True
                loop.call_soon(self._start, loop)
            else:  # one more back: wait for the next as long again, up to the limit
                then = min(loop.time() + self._company, self._wait_ends)
                self._waiting = loop.call_at(then, self._start, loop)
        elif self._due:
            pass  # a group starts at the end of this turn: this question goes with it
        elif self._first_back():  # wait for the others the last group answered
            self._answered -= 1  # as if this one had waited: who comes back are the others
            self._wait(loop)
        elif self._may_start():
            self._due = True
            loop.call_soon(self._start, loop)
        return future

    def _first_back(self) -> bool:
        """No group works, the last one ended with no request waiting, and more of its
        clients than are here yet may be coming back."""
        return self._busy == 0 and len(self._pending) < self._expected

    def _may_start(self) -> bool:
        """A group may start: none is running, or a thread is free and more than one
        question waits (a lone one waits for the running group to end: groups stay larger)."""
        return self._busy == 0 or (self._busy < self._threads and len(self._pending) > 1)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._waiting is not None:  # timed out: how many of the answered came back?
            back = len(self._pending) - (self._expected - self._answered)
            if back * 2 < self._answered:
                self._skip = SKIP
        self._due = False
        self._waiting = None
        self._expected = 0
        pending, self._pending = self._pending, []
        if not self._threads:
            self._settle(pending, self._answers(pending))
            return
        self._busy += 1
        answered = loop.run_in_executor(None, self._answers, pending)
        answered.add_done_callback(lambda done: self._done(loop, pending, done.result()))

    def _done(
        self,
        loop: asyncio.AbstractEventLoop,
        pending: list[tuple[Q, asyncio.Future[A]]],
        answers: Sequence[A | Exception],
    ) -> None:
        self._busy -= 1
        self._settle(pending, answers)
        if not self._pending and self._busy == 0 and not self._skip:
            # none waits: the first of its clients back waits for the others (``ask``)
            self._expected = self._answered = len(pending)
        elif self._pending and not self._due and self._may_start():  # arrived meanwhile
            self._due = True
            if self._skip:  # clients that do not come back at once: no use waiting
                self._skip -= 1
                loop.call_soon(self._start, loop)
                return
            self._expected = len(self._pending) + len(pending)  # and those just answered
            self._answered = len(pending)
            self._wait(loop)

    def _wait(self, loop: asyncio.AbstractEventLoop) -> None:
        self._wait_ends = loop.time() + LONGEST * self._company
        self._waiting = loop.call_later(self._company, self._start, loop)

    def _answers(self, pending: list[tuple[Q, asyncio.Future[A]]]) -> Sequence[A | Exception]:
        try:
            return self._answer_each([question for question, _ in pending])
        except Exception as exc:  # the database failed them all: each request answers 500
            return [exc] * len(pending)

    @staticmethod
    def _settle(
        pending: list[tuple[Q, asyncio.Future[A]]], answers: Sequence[A | Exception]
    ) -> None:
        for (_, future), answer in zip(pending, answers, strict=True):
            if future.done():  # the client went away
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)
