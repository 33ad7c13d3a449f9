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


#: long, so that a slow machine passes; the server's are COMPANY (2 ms) and QUICK (4 ms)
COMPANY = 0.5
ALWAYS_QUICK = 60.0  # every client that asks again is quick
NEVER_QUICK = 0.0


def ask(batch: TurnBatch[str, str], question: str) -> asyncio.Future[str]:
    """A question from the client named by its first letter ("a2" is a's second)."""
    return batch.ask(question, question[0])


async def _three_answered_while_a_fourth_waits(
    batch: TurnBatch[str, str], recorder: Recorder
) -> asyncio.Future[str]:
    """One thread: a group of three (clients a, b and c, who have asked once before and
    come back) works while a fourth request (d) waits; the group is answered.  The fourth's
    answer to come; ``recorder.groups`` holds the groups from the three's second on."""
    before = [ask(batch, q) for q in ("a0", "b0", "c0")]
    await _turns()
    recorder.released.release()
    await asyncio.gather(*before)
    recorder.groups.clear()
    first = [ask(batch, q) for q in ("a", "b", "c")]
    await _turns()
    left = ask(batch, "d")  # waits for the group at work
    await _turns()
    recorder.released.release()
    assert await asyncio.gather(*first) == ["A", "B", "C"]
    return left


async def _a_and_b_twice(batch: TurnBatch[str, str], recorder: Recorder) -> None:
    """Clients a and b ask together and are answered, twice (the second time they have come
    back at once: quick); ``recorder.groups`` is then ``[["a", "b"], ["a2", "b2"]]``."""
    for round_ in ("", "2"):
        asked = [ask(batch, q + round_) for q in ("a", "b")]
        await _turns()
        recorder.released.release()
        assert await asyncio.gather(*asked) == ["A" + round_, "B" + round_]


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


def test_requests_left_when_a_group_ends_wait_for_the_quick_clients_it_answered() -> None:
    """One thread (FHIR registrations): clients a, b and c have come back at once before
    (quick).  While their group works a fourth request waits; when the group ends, the
    three come back one by one and the next group starts once all four requests are there,
    not with the first to come back.  A quick client that does not come back is waited for
    no longer than ``company``."""
    recorder = Recorder(hold=True)

    async def run() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(
            recorder, threads=1, company=COMPANY, quick=ALWAYS_QUICK
        )
        first = await _three_answered_while_a_fourth_waits(batch, recorder)
        back = []
        for again in ("a2", "b2"):
            back.append(ask(batch, again))
            await _turns()
        assert recorder.groups == [["a", "b", "c"]]  # d, a2 and b2 wait for c
        back.append(ask(batch, "c2"))
        await _turns()
        assert recorder.groups[1:] == [["d", "a2", "b2", "c2"]]
        recorder.released.release()
        answered = await asyncio.gather(first, *back)
        late = ask(batch, "e")  # a new client, while a2, b2, c2 and d are awaited
        await _turns()
        assert recorder.groups[2:] == []
        await asyncio.sleep(COMPANY * 1.5)  # none of them comes back: e goes alone
        assert recorder.groups[2:] == [["e"]]
        recorder.released.release()
        return [*answered, await late]

    assert asyncio.run(run()) == ["D", "A2", "B2", "C2", "E"]


def test_requests_of_clients_not_quick_are_never_held() -> None:
    """Clients that did not come back at once last time (an open-loop load, a feed with
    think time) are not waited for: a request left when a group ends starts the next group
    at once, and one that arrives at an idle worker goes at once."""
    recorder = Recorder(hold=True)

    async def run() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(
            recorder, threads=1, company=COMPANY, quick=NEVER_QUICK
        )
        left = await _three_answered_while_a_fourth_waits(batch, recorder)
        await _turns()
        assert recorder.groups == [["a", "b", "c"], ["d"]]  # at once, not after ``company``
        recorder.released.release()
        assert await left == "D"
        again = ask(batch, "a2")
        await _turns()
        assert recorder.groups[2:] == [["a2"]]
        recorder.released.release()
        return [await again]

    assert asyncio.run(run()) == ["A2"]


def test_a_client_is_awaited_only_if_it_came_back_quickly_last_time() -> None:
    """Quickness is learnt per client from how long its last request came after the answer
    before it (``quick`` here a third of ``company``): a asks again at once, b after a
    while.  The request left when a group ends waits for a; once a is back the next group
    goes without waiting for b."""
    recorder = Recorder(hold=True)
    quick = COMPANY / 3

    async def run() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(recorder, threads=1, company=COMPANY, quick=quick)
        first = [ask(batch, q) for q in ("a", "b")]
        await _turns()
        recorder.released.release()
        await asyncio.gather(*first)
        second = [ask(batch, "a2")]  # at once: a is quick; nobody awaited yet, goes at once
        await asyncio.sleep(quick * 1.5)
        second.append(ask(batch, "b2"))  # b is not quick; waits for a2's group
        recorder.released.release()
        await second[0]
        await _turns()
        assert recorder.groups == [["a", "b"], ["a2"]]  # b2 waits for a, who is quick
        third = [ask(batch, "a3")]
        await _turns()
        assert recorder.groups[2:] == [["b2", "a3"]]
        third.append(ask(batch, "c"))  # a new client, while [b2, a3] works
        recorder.released.release()
        await asyncio.gather(second[1], third[0])
        third.append(ask(batch, "a4"))  # c waited for a only: now it goes
        await _turns()
        assert recorder.groups[3:] == [["c", "a4"]]
        recorder.released.release()
        return list(await asyncio.gather(*second, *third))

    assert asyncio.run(run()) == ["A2", "B2", "A3", "C", "A4"]


def test_requests_of_the_turn_the_wait_ends_in_go_with_its_group() -> None:
    """The clients a group answered are all back, and a further request arrives in the same
    turn of the loop: it joins the group about to start; no second, empty group starts."""
    recorder = Recorder(hold=True)

    async def run() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(
            recorder, threads=1, company=COMPANY, quick=ALWAYS_QUICK
        )
        await _a_and_b_twice(batch, recorder)
        back = [ask(batch, q) for q in ("a3", "b3", "new")]  # one turn
        await _turns()
        assert recorder.groups[2:] == [["a3", "b3", "new"]]
        recorder.released.release()
        return list(await asyncio.gather(*back))

    assert asyncio.run(run()) == ["A3", "B3", "NEW"]


def test_the_wait_goes_on_while_clients_keep_coming_back_up_to_a_limit() -> None:
    """The answered clients come back one by one as the loop renders their answers: each
    one back restarts the ``company`` wait for the next, so the group takes all that
    came back in time; but not for ever: the wait ends ``LONGEST`` times ``company``
    after it began, however many are still coming."""
    recorder = Recorder(hold=True)

    async def run() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(
            recorder, threads=1, company=COMPANY, quick=ALWAYS_QUICK
        )
        left = await _three_answered_while_a_fourth_waits(batch, recorder)
        waiting = [left]
        for again in ("a2", "b2"):  # each back within ``company`` of the one before
            await asyncio.sleep(COMPANY * 0.6)
            waiting.append(ask(batch, again))
        await asyncio.sleep(COMPANY * 0.6)
        assert recorder.groups[1:] == []  # b2 came back in time: still waiting for c
        await asyncio.sleep(COMPANY * 0.6)  # who does not come
        assert recorder.groups[1:] == [["d", "a2", "b2"]]
        recorder.released.release()
        await asyncio.gather(*waiting)

        many = [ask(batch, f"{c}3") for c in "efghijkl"]  # eight new clients
        await _turns()
        recorder.released.release()
        await asyncio.gather(*many)
        fourth = [ask(batch, f"{c}4") for c in "efghijkl"]  # all back at once: quick now
        await _turns()
        waiting = [ask(batch, "n")]
        await _turns()
        recorder.released.release()
        await asyncio.gather(*fourth)
        for c in "efghi":  # one every 0.7 company: past the limit (3 company) by the fifth
            await asyncio.sleep(COMPANY * 0.7)
            waiting.append(ask(batch, f"{c}5"))
        await _turns()
        assert recorder.groups[4][:4] == ["n", "e5", "f5", "g5"]
        assert "i5" not in recorder.groups[4]  # came after the limit
        recorder.released.release()
        recorder.released.release()
        return list(await asyncio.gather(*waiting))

    assert asyncio.run(run()) == ["N", "E5", "F5", "G5", "H5", "I5"]


def test_when_no_request_waited_the_first_client_back_waits_for_the_other() -> None:
    """One thread: a group of two quick clients ends with no request waiting (both of the
    worker's clients were in it).  The first of them back does not start a group of one: it
    waits for the other, and the two go together.  One that comes back alone goes after
    ``company``; the next time it is not held (the other is no longer awaited)."""
    recorder = Recorder(hold=True)

    async def run() -> list[str]:
        batch: TurnBatch[str, str] = TurnBatch(
            recorder, threads=1, company=COMPANY, quick=ALWAYS_QUICK
        )
        await _a_and_b_twice(batch, recorder)
        back = [ask(batch, "a3")]
        await _turns()
        assert recorder.groups == [["a", "b"], ["a2", "b2"]]  # a3 waits for b
        back.append(ask(batch, "b3"))
        await _turns()
        assert recorder.groups[2:] == [["a3", "b3"]]
        recorder.released.release()
        assert await asyncio.gather(*back) == ["A3", "B3"]
        alone = ask(batch, "a4")
        await _turns()
        assert recorder.groups[3:] == []  # waits for b ...
        await asyncio.sleep(COMPANY * 1.5)  # ... who does not come back
        assert recorder.groups[3:] == [["a4"]]
        recorder.released.release()
        assert await alone == "A4"
        again = ask(batch, "a5")
        await _turns()
        assert recorder.groups[4:] == [["a5"]]  # only a was in the last group: at once
        recorder.released.release()
        return [await again]

    assert asyncio.run(run()) == ["A5"]


def test_remembered_clients_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server meets many connections that never come back; what it remembers of them
    stays bounded (the oldest are forgotten)."""
    monkeypatch.setattr(turn_batch, "REMEMBERED", 8)
    recorder = Recorder(hold=False)

    async def run() -> int:
        batch: TurnBatch[str, str] = TurnBatch(recorder, threads=1, quick=ALWAYS_QUICK)
        for i in range(100):
            await batch.ask(f"q{i}", ("10.0.0.1", 40000 + i))
            await _turns(1)
        return len(batch._answered_at)

    assert asyncio.run(run()) <= 8
