"""HTTP client of the 社保/医保身份识别系统 (guideline §5.1.3 step 3–4; §6.5 外部接口).

Implements :class:`ehcmpi.core.verifier.IdentityVerifier` over a small JSON interface (the
one ``ehcmpi simulate insurance`` serves; a site adapts its real interface to it or writes
another adapter of the same port):

``POST {url}/verify`` with ``{"kind": "social-security-card" | "insurance-qr", "value": …}``

- 200 ``{"name", "docType", "docNumber", "gender", "birthDate", "mediumId",
  "insuranceStatus", "insuranceType", "insuranceArea"}`` — the insured person;
- 404 / 400 / 422 ``{"error": …}`` — not recognised: an answer, never retried;
- anything else (timeout, refused connection, 5xx, 429, a body that is not the above) — the
  interface failed: retried ``retries`` times with exponential backoff
  (``backoff_seconds`` × 1, 2, 4 …), then :class:`VerifierUnavailable`, which the circuit
  breaker (``core.verifier``) counts.  Worst case per call: (retries + 1) × timeout + backoff.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import httpx

from ehcmpi.core.verifier import InsuredPerson, Verification, VerifierUnavailable

REJECTED = (400, 404, 422)


def _person(body: Any) -> InsuredPerson:
    """The insured person of a 200 answer; ``VerifierUnavailable`` when it is not one."""
    try:
        birth = body.get("birthDate")
        return InsuredPerson(
            name=_text(body, "name"),
            doc_type=_text(body, "docType"),
            doc_number=_text(body, "docNumber"),
            medium_id=_text(body, "mediumId"),
            insurance_status=_text(body, "insuranceStatus"),
            gender=body.get("gender") or None,
            birth_date=dt.date.fromisoformat(birth) if birth else None,
            insurance_type=body.get("insuranceType") or None,
            insurance_area=body.get("insuranceArea") or None,
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise VerifierUnavailable(
            f"社保/医保身份识别系统应答格式错误 (garbled answer from the insurance system): {exc}"
        ) from None


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"missing {key}")
    return value.strip()


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    return str(error) if error else f"HTTP {response.status_code}"


class HttpIdentityVerifier:
    """``IdentityVerifier`` over HTTP with timeouts and bounded retries (module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 2.0,
        retries: int = 1,
        backoff_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout_seconds)
        self._timeout = timeout_seconds
        self._retries = retries
        self._backoff = backoff_seconds
        self._sleep = sleep

    def close(self) -> None:
        self._client.close()

    def verify(self, kind: str, value: str) -> Verification:
        problem = ""
        for attempt in range(self._retries + 1):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = self._client.post("/verify", json={"kind": kind, "value": value})
            except httpx.TimeoutException:
                problem = f"no answer within {self._timeout:g}s"
                continue
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in REJECTED:
                return Verification(None, _reason(response))
            if response.status_code == 200:
                try:
                    return Verification(_person(response.json()))
                except ValueError:
                    problem = "answer is not JSON"
                    continue
            problem = f"HTTP {response.status_code}"
        raise VerifierUnavailable(
            f"社保/医保身份识别系统调用失败 (insurance identity system failed after "
            f"{self._retries + 1} attempt(s)): {problem}"
        )
