"""Requests that arrive together are answered together (FHIR R4 http ``read``; PDQm ITI-78
lookups by identifier; guideline §4.1.2 精准查询).

A worker answers reads and exact lookups on its event loop, one blocking round trip to the
database each.  Under load several arrive in the same turn of the loop; a :class:`TurnBatch`
holds them until that turn's end and answers them with one call of its ``answer_each``
(``QueryService.get_each``, ``PdqSupplier.query_each``), whose statements share one round
trip, each still its own query and its own audited call.  One request alone goes out at the
end of the turn it arrived in, as before; only the round trip is shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Q = TypeVar("Q")
A = TypeVar("A")


class TurnBatch(Generic[Q, A]):
    """The questions of one event loop's current turn, answered by ``answer_each`` — one
    answer per question, in order, an exception in place of a refused one."""

    def __init__(self, answer_each: Callable[[list[Q]], Sequence[A | Exception]]) -> None:
        self._answer_each = answer_each
        self._pending: list[tuple[Q, asyncio.Future[A]]] = []

    def ask(self, question: Q) -> asyncio.Future[A]:
        """The answer, at the end of this turn of the loop (a refusal raises)."""
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._answer)
        future: asyncio.Future[A] = loop.create_future()
        self._pending.append((question, future))
        return future

    def _answer(self) -> None:
        pending, self._pending = self._pending, []
        answers: Sequence[A | Exception]
        try:
            answers = self._answer_each([question for question, _ in pending])
        except Exception as exc:  # the database failed them all: each request answers 500
            answers = [exc] * len(pending)
        for (_, future), answer in zip(pending, answers, strict=True):
            if future.done():  # the client went away
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)
