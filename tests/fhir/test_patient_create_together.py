"""``POST /fhir/Patient`` under concurrency: registrations that reach a worker together are
answered together (``ihe/turn_batch.py``, ``core/registration_turn.py``; §4.1.2 索引注册),
each with its own status, patient and EHC ID, over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest

from ehcmpi.bootstrap import Container
from ehcmpi.core import registration
from tests.fhir.support import (
    FHIR_JSON,
    chinese_patient,
    citizen_id,
    diagnostics,
    ehc_id,
    his_id,
    id_card,
    with_bad_check_digit,
)

SURNAMES = "王李刘陈杨赵黄周吴徐孙胡"


def _count(container: Container) -> int:
    with container.uow() as uow:
        return uow.patients.count()


def test_registrations_sent_together_each_get_their_own_answer(
    fhir_base: str, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve new patients, four of them sent twice at once, and three bad check digits:
    each document is one patient — created once (201), the same patient and EHC ID for the
    repeat (200) — and each bad number is refused with 400, in the same groups."""
    groups: list[int] = []
    together = registration.register_together

    def counted(*args: Any) -> Any:
        groups.append(len(args[1]))
        return together(*args)

    monkeypatch.setattr(registration, "register_together", counted)
    births = [dt.date(1960, 1, 1) + dt.timedelta(days=300 * i) for i in range(12)]
    numbers = [citizen_id(born, 11) for born in births]
    bodies = [
        chinese_patient(
            id_card(n), his_id(f"T-{i}"), name=f"{SURNAMES[i]}文", birth_date=b, phone=None
        )
        for i, (n, b) in enumerate(zip(numbers, births, strict=True))
    ]
    bad = [
        chinese_patient(id_card(with_bad_check_digit(n)), name="错号", birth_date=None)
        for n in numbers[:3]
    ]
    sent = bodies + bodies[:4] + bad
    before = _count(container)

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=fhir_base, timeout=30) as client:
            headers = {"Content-Type": FHIR_JSON}
            return await asyncio.gather(
                *(client.post("/Patient", json=b, headers=headers) for b in sent)
            )

    answers = asyncio.run(post_all())

    for refused in answers[16:]:
        assert refused.status_code == 400, refused.text
        assert "校验位" in diagnostics(refused.json())
    by_number: dict[str, list[httpx.Response]] = {}
    for number, response in zip(numbers + numbers[:4], answers[:16], strict=True):
        by_number.setdefault(number, []).append(response)
    for number, responses in by_number.items():
        statuses = [r.status_code for r in responses]
        assert sorted(statuses) == [200] * (len(responses) - 1) + [201], (number, statuses)
        patients = [r.json() for r in responses]
        assert len({p["id"] for p in patients}) == 1, number
        assert len({ehc_id(p) for p in patients}) == 1, number
    assert _count(container) == before + 12
    assert sum(groups) == len(sent)
    assert max(groups) > 1, groups  # 19 requests at once, a few request threads
