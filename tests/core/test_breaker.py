"""The circuit breaker in front of external interfaces (guideline §6.5 停止或减少外部接口调用)."""

from __future__ import annotations

import threading

import pytest

from ehcmpi.core.verifier import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    GuardedVerifier,
    InsuredPerson,
    Verification,
    VerifierUnavailable,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Interface:
    """An external interface that fails on demand and counts the calls that reach it."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False

    def __call__(self) -> str:
        self.calls += 1
        if self.failing:
            raise VerifierUnavailable("down")
        return "answer"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(failures=3, reset_seconds=30, clock=clock)


def fail(breaker: CircuitBreaker, interface: Interface, times: int) -> None:
    for _ in range(times):
        with pytest.raises(VerifierUnavailable):
            breaker.call(interface)


def test_calls_pass_while_closed_and_a_success_resets_the_failure_count(
    breaker: CircuitBreaker,
) -> None:
    interface = Interface()
    interface.failing = True
    fail(breaker, interface, 2)
    interface.failing = False
    assert breaker.call(interface) == "answer"
    interface.failing = True
    fail(breaker, interface, 2)  # two more: 2 + 2 failures, but not consecutive
    assert breaker.state is BreakerState.CLOSED
    assert interface.calls == 5


def test_opens_after_consecutive_failures_and_then_stops_calling(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    interface = Interface()
    interface.failing = True
    fail(breaker, interface, 3)
    assert breaker.state is BreakerState.OPEN

    clock.now += 10
    with pytest.raises(CircuitOpenError) as raised:
        breaker.call(interface)
    assert interface.calls == 3  # the interface was not called at all
    assert raised.value.retry_after == pytest.approx(20)
    assert "熔断" in raised.value.message


def test_after_the_cool_down_one_probe_closes_it_when_the_interface_is_back(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    interface = Interface()
    interface.failing = True
    fail(breaker, interface, 3)
    clock.now += 30
    assert breaker.state is BreakerState.HALF_OPEN

    interface.failing = False
    assert breaker.call(interface) == "answer"
    assert breaker.state is BreakerState.CLOSED
    assert breaker.call(interface) == "answer"
    assert interface.calls == 5


def test_a_failed_probe_opens_it_for_another_full_cool_down(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    interface = Interface()
    interface.failing = True
    fail(breaker, interface, 3)
    clock.now += 31
    fail(breaker, interface, 1)  # the probe
    assert interface.calls == 4
    assert breaker.state is BreakerState.OPEN

    clock.now += 29
    with pytest.raises(CircuitOpenError):
        breaker.call(interface)
    assert interface.calls == 4
    clock.now += 1
    assert breaker.state is BreakerState.HALF_OPEN


def test_while_the_probe_runs_other_callers_fail_fast(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    interface = Interface()
    interface.failing = True
    fail(breaker, interface, 3)
    clock.now += 30
    entered, release = threading.Event(), threading.Event()

    def slow_probe() -> str:
        entered.set()
        release.wait(5)
        return "answer"

    results: list[str] = []
    probe = threading.Thread(target=lambda: results.append(breaker.call(slow_probe)))
    probe.start()
    assert entered.wait(5)
    with pytest.raises(CircuitOpenError):
        breaker.call(interface)
    release.set()
    probe.join(5)
    assert results == ["answer"]
    assert breaker.state is BreakerState.CLOSED
    assert interface.calls == 3


def test_a_bug_in_the_call_neither_opens_nor_wedges_the_breaker(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    interface = Interface()
    interface.failing = True
    fail(breaker, interface, 3)
    clock.now += 30

    def broken() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        breaker.call(broken)  # the probe slot is given back
    interface.failing = False
    assert breaker.call(interface) == "answer"
    assert breaker.state is BreakerState.CLOSED


def test_a_rejection_is_an_answer_not_a_failure(clock: Clock) -> None:
    class Verifier:
        calls = 0

        def verify(self, kind: str, value: str) -> Verification:
            self.calls += 1
            if value == "K1":
                person = InsuredPerson("李娜", "01", "110108199007150021", "K1", "active")
                return Verification(person)
            return Verification(None, "未找到参保人")

    inner = Verifier()
    guarded = GuardedVerifier(inner, CircuitBreaker(failures=1, reset_seconds=5, clock=clock))
    for _ in range(3):
        assert not guarded.verify("social-security-card", "K9").verified
    answer = guarded.verify("social-security-card", "K1")
    assert answer.person is not None and answer.person.name == "李娜"
    assert guarded.breaker.state is BreakerState.CLOSED
    assert inner.calls == 4


def test_settings_that_make_no_sense_are_refused() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failures=0)
    with pytest.raises(ValueError):
        CircuitBreaker(reset_seconds=0)
