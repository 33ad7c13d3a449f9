"""Reads that arrive together are answered together (FHIR R4 http ``read``; guideline §4.1.2
精准查询).

A worker answers reads on its event loop, one blocking round trip to the database each.  Under
load several reads arrive in the same turn of the loop; :class:`ReadBatch` holds them until
that turn's end and sends their statements in one round trip (``QueryService.get_each``),
each still its own primary-key read and its own audited call.  One read alone goes out at the
end of the turn it arrived in, as before; only the round trip is shared.
"""

from __future__ import annotations

import asyncio

from ehcmpi.core.model import Actor, PatientRecord
from ehcmpi.core.query import QueryService

Pending = tuple[str, Actor, "asyncio.Future[PatientRecord]"]


class ReadBatch:
    """The reads of one event loop's current turn."""

    def __init__(self, query: QueryService) -> None:
        self._query = query
        self._pending: list[Pending] = []

    def get(self, mpi_id: str, actor: Actor) -> asyncio.Future[PatientRecord]:
        """``QueryService.get``, answered at the end of this turn of the loop."""
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._answer)
        future: asyncio.Future[PatientRecord] = loop.create_future()
        self._pending.append((mpi_id, actor, future))
        return future

    def _answer(self) -> None:
        pending, self._pending = self._pending, []
        answers: list[PatientRecord | Exception]
        try:
            answers = [*self._query.get_each([(m, actor) for m, actor, _ in pending])]
        except Exception as exc:  # the database failed them all: each request answers 500
            answers = [exc] * len(pending)
        for (_, _, future), answer in zip(pending, answers, strict=True):
            if future.done():  # the client went away
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)
