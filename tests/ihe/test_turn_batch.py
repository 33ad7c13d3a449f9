"""Questions that arrive together are answered together (``ehcmpi/ihe/turn_batch.py``): on the
loop per turn, or on request threads in groups that grow while the threads are busy."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from ehcmpi.ihe import turn_batch
from ehcmpi.ihe.turn_batch import TurnBatch


class Recorder:
    """An ``answer_each`` that records its groups and holds each until released."""

    def __init__(self, hold: bool) -> None:
        self.groups: list[list[str]] = []
        self.hold = hold
        self.released = threading.Semaphore(0)

    def __call__(self, questions: list[str]) -> Sequence[str | Exception]:
        self.groups.append(list(questions))
        if self.hold:
            self.released.acquire(timeout=10)
        return [ValueError(q) if q.startswith("bad") else q.upper() for q in questions]


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0.01)


async def _three_answered_while_a_fourth_waits(
    batch: TurnBatch[str, str], recorder: Recorder
) -> asyncio.Future[str]:
    """One thread: a group of three works while a fourth request waits; the group is
    answered.  The fourth's answer to come."""
    first = [batch.ask(q) for q in ("a", "b", "c")]
    await _turns()
    left = batch.ask("d")  # waits for the group at work
    await _turns()
    recorder.released.release()
    assert await asyncio.gather(*first) == ["A", "B", "C"]
    return left


def test_on_the_loop_one_turns_questions_are_one_group() -> None:
    recorder = Recorder(hold=False)

    async def ask() -> list[object]:
        batch: TurnBatch[str, str] = TurnBatch(recorder)
        first = await asyncio.gather(batch.ask("a"), batch.ask("bad-b"), return_exceptions=True)
        second = await batch.ask("c")
        return [*first, second]

    answers = asyncio.run(ask())

    assert answers[0] == "A" and isinstance(answers[1], ValueError) and answers[2] == "C"
    assert recorder.groups == [["a", "bad-b"], ["c"]]


def test_on_threads_a_lone_question_waits_for_a_busy_group_and_groups_grow() -> None:
    """Two threads: the first question starts a group at once; while it works a lone
    question waits (it would be a group of one), a second one makes a group; with both
    threads busy every question waits for the next free thread, then all go together."""
    recorder = Recorder(hold=True)

    async def ask() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(recorder, threads=2)
        asked = [batch.ask("a")]
        await _turns()
        asked.append(batch.ask("b"))
        await _turns()
        assert recorder.groups == [["a"]]  # b waits: a lone question while a group works
        asked.append(batch.ask("c"))
        await _turns()
        assert recorder.groups == [["a"], ["b", "c"]]
        asked += [batch.ask(q) for q in ("d", "e", "f")]
        await _turns()
        assert len(recorder.groups) == 2  # both threads busy: d, e, f wait
        recorder.released.release()
        await _turns()
        assert recorder.groups[2:] == [["d", "e", "f"]]
        for _ in range(2):
            recorder.released.release()
        return list(await asyncio.gather(*asked))

    assert asyncio.run(ask()) == ["A", "B", "C", "D", "E", "F"]


def test_a_failure_of_the_whole_group_answers_each_question_with_it() -> None:
    def broken(questions: list[str]) -> Sequence[str]:
        raise RuntimeError("database down")

    async def ask() -> list[object]:
        batch: TurnBatch[str, str] = TurnBatch(broken, threads=1)
        return await asyncio.gather(batch.ask("a"), batch.ask("b"), return_exceptions=True)

    answers = asyncio.run(ask())

    assert [str(a) for a in answers] == ["database down", "database down"]
    assert all(isinstance(a, RuntimeError) for a in answers)


def test_a_lone_question_left_when_a_group_ends_waits_briefly_for_company() -> None:
    """The question that waited for a busy group does not go alone the moment that group
    ends: one that arrives within ``company`` goes with it; if none comes, it goes alone."""
    recorder = Recorder(hold=True)
    company = 0.5  # the server's is COMPANY (2 ms); long here so that a slow machine passes

    async def ask() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(recorder, threads=2, company=company)
        first = batch.ask("a")
        await _turns()
        second = batch.ask("b")  # lone: waits for a's group
        await _turns()
        recorder.released.release()
        assert await first == "A"
        await _turns()  # a's client is back a little later
        third = batch.ask("c")
        await _turns()
        assert recorder.groups == [["a"], ["b", "c"]]
        recorder.released.release()
        assert await asyncio.gather(second, third) == ["B", "C"]
        batch = TurnBatch(recorder, threads=2, company=company)  # an idle worker
        fourth = batch.ask("d")  # nothing works: goes at once
        await _turns()
        fifth = batch.ask("e")  # lone, waits for d's group
        await _turns()
        recorder.released.release()
        assert await fourth == "D"
        await asyncio.sleep(company * 1.5)  # nobody comes: e goes alone
        assert recorder.groups[2:] == [["d"], ["e"]]
        recorder.released.release()
        return [await fifth]

    assert asyncio.run(ask()) == ["E"]


def test_the_requests_left_when_a_group_ends_wait_for_the_clients_it_answered() -> None:
    """One thread (FHIR registrations): while a group of three works a fourth request
    waits; when the group ends, its three clients come back one by one and the next group
    starts once all four requests are there, not with the first to come back.  A client
    that does not come back is waited for no longer than ``company``."""
    recorder = Recorder(hold=True)
    company = 0.5  # the server's is COMPANY (2 ms); long here so that a slow machine passes

    async def ask() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(recorder, threads=1, company=company)
        left = await _three_answered_while_a_fourth_waits(batch, recorder)
        back = []
        for again in ("a2", "b2"):
            back.append(batch.ask(again))
            await _turns()
        assert recorder.groups == [["a", "b", "c"]]  # d, a2 and b2 wait for c's client
        back.append(batch.ask("c2"))
        await _turns()
        assert recorder.groups[1:] == [["d", "a2", "b2", "c2"]]
        recorder.released.release()
        answered = await asyncio.gather(left, *back)
        batch = TurnBatch(recorder, threads=1, company=company)  # an idle worker
        lone = batch.ask("e")  # nothing at work: goes at once
        await _turns()
        late = batch.ask("f")
        await _turns()
        recorder.released.release()
        assert await lone == "E"
        await _turns()
        assert recorder.groups[2:] == [["e"]]  # f waits for e's client ...
        await asyncio.sleep(company * 1.5)  # ... who does not come back: f goes alone
        assert recorder.groups[3:] == [["f"]]
        recorder.released.release()
        return [*answered, await late]

    assert asyncio.run(ask()) == ["D", "A2", "B2", "C2", "F"]


def test_requests_of_the_turn_the_wait_ends_in_go_with_its_group() -> None:
    """The clients a group answered are all back, and a further request arrives in the same
    turn of the loop: it joins the group about to start; no second, empty group starts."""
    recorder = Recorder(hold=True)

    async def ask() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(recorder, threads=1, company=0.5)
        first = [batch.ask(q) for q in ("a", "b")]
        await _turns()
        recorder.released.release()
        await asyncio.gather(*first)
        back = [batch.ask(q) for q in ("a2", "b2", "new")]  # one turn
        await _turns()
        assert recorder.groups[1:] == [["a2", "b2", "new"]]
        recorder.released.release()
        return list(await asyncio.gather(*back))

    assert asyncio.run(ask()) == ["A2", "B2", "NEW"]


def test_the_wait_goes_on_while_clients_keep_coming_back_up_to_a_limit() -> None:
    """The answered clients come back one by one as the loop renders their answers: each
    one back restarts the ``company`` wait for the next, so the group takes all that
    came back in time; but not for ever: the wait ends ``LONGEST`` times ``company``
    after it began, however many are still coming."""
    recorder = Recorder(hold=True)
    company = 0.5  # the server's is COMPANY (2 ms); long here so that a slow machine passes

    async def ask() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(recorder, threads=1, company=company)
        first = [batch.ask(q) for q in ("a", "b", "c")]
        await _turns()
        waiting = [batch.ask("d")]
        await _turns()
        recorder.released.release()
        await asyncio.gather(*first)
        for again in ("a2", "b2"):  # each back within ``company`` of the one before
            await asyncio.sleep(company * 0.6)
            waiting.append(batch.ask(again))
        await asyncio.sleep(company * 0.6)
        assert recorder.groups[1:] == []  # b2 came back in time: still waiting for c's
        await asyncio.sleep(company * 0.6)  # who does not come
        assert recorder.groups[1:] == [["d", "a2", "b2"]]
        recorder.released.release()
        await asyncio.gather(*waiting)

        batch = TurnBatch(recorder, threads=1, company=company)  # an idle worker
        many = [batch.ask(f"m{i}") for i in range(8)]
        await _turns()
        waiting = [batch.ask("n")]
        await _turns()
        recorder.released.release()
        await asyncio.gather(*many)
        for i in range(5):  # one every 0.7 company: past the limit (3 company) by the fifth
            await asyncio.sleep(company * 0.7)
            waiting.append(batch.ask(f"m{i}-2"))
        await _turns()
        assert recorder.groups[2] == [f"m{i}" for i in range(8)]
        assert recorder.groups[3][:4] == ["n", "m0-2", "m1-2", "m2-2"]
        assert "m4-2" not in recorder.groups[3]  # came after the limit
        recorder.released.release()
        recorder.released.release()
        return list(await asyncio.gather(*waiting))

    assert asyncio.run(ask()) == ["N", "M0-2", "M1-2", "M2-2", "M3-2", "M4-2"]


def test_when_no_request_waited_the_first_client_back_waits_for_the_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One thread: a group of two ends with no request waiting (both of the worker's
    clients were in it).  The first of them back does not start a group of one: it waits
    for the other, and the two go together.  One that comes back alone goes after
    ``company``; as the other did not come back, the next ``SKIP`` groups do not wait."""
    monkeypatch.setattr(turn_batch, "SKIP", 1)
    recorder = Recorder(hold=True)
    company = 0.5  # the server's is COMPANY (2 ms); long here so that a slow machine passes

    async def ask() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(recorder, threads=1, company=company)
        first = [batch.ask(q) for q in ("a", "b")]
        await _turns()
        recorder.released.release()
        assert await asyncio.gather(*first) == ["A", "B"]
        back = [batch.ask("a2")]
        await _turns()
        assert recorder.groups == [["a", "b"]]  # a2 waits for b's client
        back.append(batch.ask("b2"))
        await _turns()
        assert recorder.groups[1:] == [["a2", "b2"]]
        recorder.released.release()
        assert await asyncio.gather(*back) == ["A2", "B2"]
        alone = batch.ask("a3")
        await _turns()
        assert recorder.groups[2:] == []  # waits for b's client ...
        await asyncio.sleep(company * 1.5)  # ... who does not come back
        assert recorder.groups[2:] == [["a3"]]
        recorder.released.release()
        assert await alone == "A3"
        again = [batch.ask("a4")]
        await _turns()
        assert recorder.groups[3:] == [["a4"]]  # nothing works: at once
        again.append(batch.ask("a5"))
        recorder.released.release()
        await _turns()
        # a5 waited for a4's group only, not then for a4's client: b's had not come back
        assert recorder.groups[4:] == [["a5"]]
        recorder.released.release()
        return list(await asyncio.gather(*again))

    assert asyncio.run(ask()) == ["A4", "A5"]


def test_clients_that_do_not_come_back_at_once_are_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Requests that arrive on their own schedule (an open-loop load, a feed with think time):
    after a wait in which none of the three clients answered came back, the next ``SKIP``
    groups start the moment the one before ends; then the worker waits again."""
    monkeypatch.setattr(turn_batch, "SKIP", 1)
    recorder = Recorder(hold=True)
    company = 0.5  # long, so that a slow machine passes; the server's is 2 ms

    async def ask() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(recorder, threads=1, company=company)
        left = await _three_answered_while_a_fourth_waits(batch, recorder)
        await _turns()
        assert recorder.groups == [["a", "b", "c"]]  # d waits for a, b and c's clients
        await asyncio.sleep(company * 1.5)  # none of them comes back: d goes alone
        assert recorder.groups[1:] == [["d"]]
        later = batch.ask("e")
        await _turns()
        recorder.released.release()
        assert await left == "D"
        await _turns()
        assert recorder.groups[2:] == [["e"]]  # at once, not after ``company``
        last = batch.ask("f")
        await _turns()
        recorder.released.release()
        assert await later == "E"
        await _turns()
        assert recorder.groups[3:] == []  # SKIP groups are over: f waits for e's client
        await asyncio.sleep(company * 1.5)
        assert recorder.groups[3:] == [["f"]]
        recorder.released.release()
        return [await last]

    assert asyncio.run(ask()) == ["F"]
