"""The identity-verifier port and its circuit breaker (guideline §5.1.3 step 3–4, §6.5).

§5.1.3: the master index sends a social-security card number or a medical-insurance
e-voucher QR text to the 社保/医保身份识别系统, which answers with the person (name, document)
and their insurance (参保信息).  That system is an *external interface*; §6.5 asks that its
failure must not take the index down: "在外部接口故障时，可通过停止或减少外部接口调用等方式避免
影响系统稳定运行".  So every call goes through a :class:`CircuitBreaker`:

- **closed** — calls pass; each one that fails (timeout, connection refused, 5xx, a garbled
  answer: the adapter raises :class:`VerifierUnavailable`) counts; a success resets the count.
- **open** — after ``failures`` consecutive failures no call is made at all for
  ``reset_seconds``: callers fail fast with :class:`CircuitOpenError` (no waiting on timeouts),
  and the reader answers from what the index already holds (``core.reader``).
- **half-open** — after the cool-down one caller probes; success closes the breaker, failure
  opens it for another ``reset_seconds``.  While the probe runs, others still fail fast.

A rejection (unknown card, expired QR) is an answer, not a failure: it never opens the breaker.
The breaker is per process on purpose: it protects this process's threads; it holds no data.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

#: What the external system verifies (the reader's medium kinds of the same name).
SOCIAL_SECURITY_CARD = "social-security-card"
INSURANCE_QR = "insurance-qr"
VERIFIABLE = (SOCIAL_SECURITY_CARD, INSURANCE_QR)


@dataclass(frozen=True, slots=True)
class InsuredPerson:
    """患者信息及参保信息 as the 社保/医保身份识别系统 returns them (§5.1.3 step 4).

    ``medium_id`` is the medium's stable identity: the card number of a social-security card,
    the e-voucher's own ID for a (changing) e-voucher QR code.  ``gender`` is GB/T 2261.1.
    """

    name: str
    doc_type: str
    doc_number: str
    medium_id: str
    insurance_status: str
    gender: str | None = None
    birth_date: dt.date | None = None
    insurance_type: str | None = None
    insurance_area: str | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    """The external system's answer: the person, or why it refused (unknown card, …)."""

    person: InsuredPerson | None
    reason: str | None = None

    @property
    def verified(self) -> bool:
        return self.person is not None


class VerifierUnavailable(Exception):
    """The external system did not answer usably: timeout, refused, 5xx, garbled.

    ``retry_after`` (seconds) is set when the breaker knows when it will try again.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class CircuitOpenError(VerifierUnavailable):
    """The breaker is open: no call was made."""


class IdentityVerifier(Protocol):
    """验卡/验码 at the 社保/医保身份识别系统 (§5.1.3 step 3)."""

    def verify(self, kind: str, value: str) -> Verification:
        """``kind`` is one of :data:`VERIFIABLE`; raises :class:`VerifierUnavailable`."""
        ...


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Closed → open after ``failures`` consecutive failures → half-open probe after
    ``reset_seconds`` → closed on success (module docstring).  Thread-safe."""

    def __init__(
        self,
        *,
        failures: int = 5,
        reset_seconds: float = 30.0,
        name: str = "external",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or reset_seconds <= 0:
            raise ValueError("failures must be ≥ 1 and reset_seconds > 0")
        self._threshold = failures
        self._reset = reset_seconds
        self._name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self._reset:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def _enter(self) -> None:
        """Let one call through, or fail fast."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return
            if state is BreakerState.HALF_OPEN and not self._probing:
                self._probing = True
                return
            assert self._opened_at is not None
            wait = max(0.0, self._reset - (self._clock() - self._opened_at))
        raise CircuitOpenError(
            f"外部接口熔断中，{wait:.0f} 秒后重试 (circuit open: external calls suspended, next "
            f"try in {wait:.0f}s)",
            retry_after=wait,
        )

    def _succeeded(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                log.warning("%s circuit closed: the external interface answers again", self._name)
            self._failures, self._opened_at, self._probing = 0, None, False

    def _failed(self) -> None:
        with self._lock:
            self._failures += 1
            probe_failed = self._probing
            self._probing = False
            if probe_failed or (self._opened_at is None and self._failures >= self._threshold):
                self._opened_at = self._clock()
                log.warning(
                    "%s circuit open for %.0fs after %d failure(s)",
                    self._name,
                    self._reset,
                    self._failures,
                )

    def _released(self) -> None:
        with self._lock:
            self._probing = False

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` unless open; a :class:`VerifierUnavailable` it raises counts as failure."""
        self._enter()
        try:
            result = fn()
        except VerifierUnavailable:
            self._failed()
            raise
        except BaseException:
            self._released()  # a bug is neither the interface failing nor answering
            raise
        self._succeeded()
        return result


class GuardedVerifier:
    """An :class:`IdentityVerifier` whose calls go through a :class:`CircuitBreaker`."""

    def __init__(self, inner: IdentityVerifier, breaker: CircuitBreaker) -> None:
        self._inner = inner
        self.breaker = breaker

    def verify(self, kind: str, value: str) -> Verification:
        return self.breaker.call(lambda: self._inner.verify(kind, value))
