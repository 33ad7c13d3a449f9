"""ITI-8 feeds that reach the server together are answered together (``Dispatcher(together=)``,
``iti8.feed_each_handler``, ``core/registration_turn.py``): over real MLLP connections each
message still gets its own acknowledgement, audit entry and effect."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from hl7.client import MLLPClient

from ehcmpi.core.model import SYSTEM_ACTOR
from ehcmpi.ihe.pix import PixManager
from tests.core.support import citizen_id
from tests.hl7v2.conftest import RunningServer, fields

SURNAMES = "王李刘陈杨赵黄周"
ID_CARD = "&2.16.156.10011.1.3&ISO"


def _feed(control_id: str, pid3: str, name: str, born: dt.date) -> str:
    return (
        f"MSH|^~\\&|HIS|某医院|EHCMPI|某医院|20261127100000||ADT^A04^ADT_A01|{control_id}|P|2.5\r"
        "EVN|A04|20261127100000\r"
        f"PID|||{pid3}||{name[0]}^{name[1:]}||{born:%Y%m%d}|M\r"
        "PV1||O\r"
    )


def _send_together(port: int, messages: list[str]) -> list[str]:
    """Each message on its own connection, all released at the same moment."""
    replies: list[str] = [""] * len(messages)
    start = threading.Barrier(len(messages), timeout=30)

    def send(index: int) -> None:
        with MLLPClient("127.0.0.1", port, encoding="utf-8") as client:
            start.wait()
            reply = client.send_message(messages[index])
        replies[index] = reply.decode() if isinstance(reply, bytes) else str(reply)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(messages))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return replies


def test_feeds_sent_together_are_each_acknowledged_and_registered(
    mllp: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups: list[int] = []
    feed_each = PixManager.feed_each

    def counted(pix: PixManager, asked: Any) -> Any:
        groups.append(len(asked))
        return feed_each(pix, asked)

    monkeypatch.setattr(PixManager, "feed_each", counted)
    births = [dt.date(1950, 1, 1) + dt.timedelta(days=500 * i) for i in range(8)]
    numbers = [citizen_id("110105", born, 11) for born in births]
    new = [
        _feed(f"N{i}", f"H-{i}~{n}^^^{ID_CARD}^01", f"{SURNAMES[i]}明", born)
        for i, (n, born) in enumerate(zip(numbers, births, strict=True))
    ]
    again = [_feed(f"R{i}", f"H-{i}", f"{SURNAMES[i]}明", births[i]) for i in range(2)]
    bad_date = _feed("B1", "H-90", "孙亮", births[0]).replace(f"{births[0]:%Y%m%d}", "19851345")
    unknown = _feed("B2", "X-1^^^UNK&9.9.9&ISO", "胡亮", births[0])

    replies = _send_together(mllp.port, [*new, *again, bad_date, unknown])

    acks = [fields(r, "MSA")[0][1:3] for r in replies]
    assert acks[:10] == [["AA", f"N{i}"] for i in range(8)] + [["AA", "R0"], ["AA", "R1"]]
    assert acks[10] == ["AE", "B1"] and fields(replies[10], "ERR")[0][2] == "PID^1^7"
    assert acks[11] == ["AE", "B2"]
    assert fields(replies[11], "ERR")[0][3].split("^")[0] == "204"
    for i, number in enumerate(numbers):
        found = mllp.container.query.find("urn:oid:2.16.156.10011.1.3", number, SYSTEM_ACTOR)
        assert found is not None and found.ehc_id is not None
        assert [s.value for s in found.source_ids] == [f"H-{i}"]
    with mllp.container.uow() as uow:
        assert uow.patients.count() == 8
    mllp.container.audit.flush()
    with mllp.container.uow() as uow:
        entries = [e for e in uow.audit.recent(100) if e.action == "hl7 ADT^A04"]
    assert sorted((e.target, e.detail) for e in entries) == sorted(
        [(f"N{i}", "AA") for i in range(8)] + [("R0", "AA"), ("R1", "AA")]
        + [("B1", "AE 102"), ("B2", "AE 204")]
    )  # fmt: skip
    assert sum(groups) == 10  # every message that parses (not B1 nor B2: refused at parsing)
    assert max(groups) > 1, groups
