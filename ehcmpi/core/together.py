"""Requests answered together, each refused on its own (guideline §4.1.2 索引注册: a batch of
registrations or feeds, one answer per request).

A group call (``RegistrationService.register_each``, ``PixManager.feed_each``) takes what each
request becomes once checked; a request its check refuses is answered with the refusal and not
passed on, and the others' answers come back in the order asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")


def each_prepared(
    asked: Sequence[T],
    prepare: Callable[[T], P],
    answer_each: Callable[[list[P]], Sequence[R | Exception]],
    refused: type[Exception] | tuple[type[Exception], ...] = Exception,
) -> list[R | Exception]:
    """``answer_each`` of what ``prepare`` makes of each item, one answer per item in order;
    an item whose ``prepare`` raises ``refused`` is answered with that exception."""
    answers: dict[int, R | Exception] = {}
    prepared: list[tuple[int, P]] = []
    for index, item in enumerate(asked):
        try:
            prepared.append((index, prepare(item)))
        except refused as exc:
            answers[index] = exc
    given = answer_each([p for _, p in prepared])
    for (index, _), answer in zip(prepared, given, strict=True):
        answers[index] = answer
    return [answers[index] for index in range(len(asked))]
