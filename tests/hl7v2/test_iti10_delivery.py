"""ITI-10 PIX Update Notifications survive a consumer that goes away and a server restart.

Real processes and sockets only: ``ehcmpi serve`` runs as a subprocess on a fresh PostgreSQL
database with one ``[[pix_consumers]]``; the consumer is a real MLLP listener in this process
on a fixed port, stopped and started again on the same port.  Every patient is fed once
(ITI-8 ``ADT^A04``), so every patient changes once, and its ``ADT^A31`` must reach the
consumer exactly once: none missing after the restarts, none sent twice (RULES.md 16;
DESIGN.md "Nothing is lost").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ehcmpi.bootstrap import build
from ehcmpi.hl7v2.ack import build_ack, read_header
from ehcmpi.hl7v2.mllp import MllpServer, send
from ehcmpi.settings import load_settings
from ehcmpi.storage.tables import outbox
from tests.cli.support import EHCMPI, citizen_id, environment
from tests.support import write_config

pytestmark = pytest.mark.postgres

HIS = "HIS&1.2.156.112604.1.2.1&ISO"
CONSUMER = "EMR"
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫"
GIVEN = "一二三四五六七八九十百千"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _until(what: str, condition: Callable[[], bool], timeout: float = 30.0) -> float:
    """Poll ``condition`` until it holds; the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - started


class Consumer:
    """A PIX Consumer: records every message it gets and answers ACK AA; stop and start it
    again on the same port at will."""

    def __init__(self, port: int, ack_delay: float = 0.0) -> None:
        self.port = port
        self.ack_delay = ack_delay
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: MllpServer | None = None

    async def _handle(self, message: bytes) -> bytes:
        with self._lock:
            self.received.append(message)
        await asyncio.sleep(self.ack_delay)
        return build_ack(read_header(message), "AA")

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def start(self) -> None:
        assert self._server is None
        self._server = MllpServer(self._handle, host="127.0.0.1", port=self.port)
        self._run(self._server.start())

    def stop(self) -> None:
        assert self._server is not None
        self._run(self._server.stop(grace=5))
        self._server = None

    def close(self) -> None:
        if self._server is not None:
            self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def messages(self) -> list[bytes]:
        with self._lock:
            return list(self.received)


def _segment(message: bytes, name: str) -> list[str]:
    found = [s.split("|") for s in message.decode("utf-8").split("\r") if s.startswith(name + "|")]
    assert len(found) == 1, (name, message)
    return found[0]


def his_id(message: bytes) -> str:
    """The HIS id among PID-3's repetitions: which patient a notification is about."""
    ids = [cx.split("^") for cx in _segment(message, "PID")[3].split("~")]
    his = [cx[0] for cx in ids if len(cx) > 3 and cx[3] == HIS]
    assert len(his) == 1, message
    return his[0]


def counts(consumer: Consumer) -> Counter[str]:
    return Counter(his_id(m) for m in consumer.messages())


def a04(n: int) -> bytes:
    """A new patient from the HIS: its own HIS id, ID card number, name and birth date."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=977 * n)
    number = citizen_id(born, 100 + n)
    name = f"{SURNAMES[n % 12]}^{GIVEN[n // 12]}{GIVEN[n % 12]}"
    return (
        f"MSH|^~\\&|HIS|某医院|EHCMPI|某医院|20261126100000||ADT^A04^ADT_A01|F{n:04d}|P|2.5"
        "||||||UNICODE UTF-8\r"
        f"EVN|A04|20261126100000\r"
        f"PID|||P{n:04d}^^^{HIS}^PI~{number}^^^&2.16.156.10011.1.3&ISO^01||{name}||"
        f"{born:%Y%m%d}|{'MF'[n % 2]}\r"
        "PV1||O\r"
    ).encode()


class Server:
    """``ehcmpi serve`` as a subprocess; ``feed`` sends ITI-8 over its MLLP port."""

    def __init__(self, config: pathlib.Path, log: pathlib.Path) -> None:
        self.http_port, self.mllp_port = _free_port(), _free_port()
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [str(EHCMPI), "serve", "--config", str(config),
                 "--http-port", str(self.http_port), "--mllp-port", str(self.mllp_port)],
                stdout=sink, stderr=subprocess.STDOUT, env=environment(),
            )  # fmt: skip
        _until("the server answers", self._up)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def _up(self) -> bool:
        assert self.process.poll() is None, self.output()
        try:
            url = f"http://127.0.0.1:{self.http_port}/fhir/metadata"
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def feed(self, numbers: range) -> None:
        for n in numbers:
            reply = asyncio.run(send("127.0.0.1", self.mllp_port, a04(n), timeout=10))
            assert f"\rMSA|AA|F{n:04d}".encode() in reply, reply

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=15)
        assert code == 0, self.output()
        assert "Traceback" not in self.output(), self.output()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Setup:
    """The consumer (down), the configuration on a migrated database of this test's own, the
    database opened in-process to look at the outbox, and the server processes started."""

    def __init__(self, tmp_path: pathlib.Path, consumer: Consumer, config: pathlib.Path) -> None:
        self.tmp_path, self.consumer, self.config = tmp_path, consumer, config
        self.container = build(load_settings(str(config), environ={}))
        self.servers: list[Server] = []

    def serve(self) -> Server:
        log = self.tmp_path / f"serve-{len(self.servers) + 1}.log"
        self.servers.append(Server(self.config, log))
        return self.servers[-1]

    def rows(self) -> list[sa.Row[tuple[int, str, int, dt.datetime | None, str | None]]]:
        query = sa.select(
            outbox.c.id, outbox.c.consumer, outbox.c.attempts, outbox.c.delivered_at,
            outbox.c.last_error,
        ).order_by(outbox.c.id)  # fmt: skip
        with self.container.engine.connect() as conn:
            return list(conn.execute(query))

    def refused(self, expected_rows: int) -> bool:
        """Every change has its row, and every undelivered one was tried and refused."""
        found = self.rows()
        waiting = [r for r in found if r.delivered_at is None]
        return len(found) == expected_rows and all(r.attempts >= 1 for r in waiting)

    def pending(self) -> int:
        with self.container.uow() as uow:
            return uow.outbox.pending()

    def close(self) -> None:
        for server in self.servers:
            server.kill()
        self.consumer.close()
        self.container.close()


@pytest.fixture
def setup(
    request: pytest.FixtureRequest,
    tmp_path: pathlib.Path,
    key_file: pathlib.Path,
    own_pg_database_url: str,
) -> Iterator[Setup]:
    consumer = Consumer(_free_port(), ack_delay=getattr(request, "param", 0.0))
    config = write_config(
        tmp_path / "ehcmpi.toml", own_pg_database_url, key_file,
        extra=f'[[pix_consumers]]\nname = "{CONSUMER}"\nhost = "127.0.0.1"\n'
              f"port = {consumer.port}\ndomains = []\n",
    )  # fmt: skip
    upgrade = subprocess.run(
        [str(EHCMPI), "db", "upgrade", "--config", str(config)],
        capture_output=True, text=True, env=environment(), timeout=60, check=False,
    )  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stderr
    wired = Setup(tmp_path, consumer, config)
    try:
        yield wired
    finally:
        wired.close()


def test_every_change_is_notified_exactly_once_across_consumer_and_server_restarts(
    setup: Setup,
) -> None:
    consumer = setup.consumer
    # 1. The consumer is down: six new patients are registered all the same (AA), and their
    #    notifications wait; once the consumer is up they all arrive, one per patient.
    first = setup.serve()
    first.feed(range(1, 7))
    _until("six refused deliveries", lambda: setup.refused(6))
    assert {r.consumer for r in setup.rows()} == {CONSUMER}
    assert all("Connection" in (r.last_error or "") for r in setup.rows()), setup.rows()
    consumer.start()
    _until("six notifications", lambda: len(consumer.messages()) >= 6)
    assert counts(consumer) == Counter(f"P{n:04d}" for n in range(1, 7))
    for message in consumer.messages():
        msh, pid, pv1 = (_segment(message, s) for s in ("MSH", "PID", "PV1"))
        _segment(message, "EVN")
        assert msh[8] == "ADT^A31^ADT_A05" and msh[11] == "2.5"  # MSH-9, MSH-12
        assert msh[4] == CONSUMER  # MSH-5
        assert pid[5] == " "  # PID-5 a single space (RULES.md 16)
        assert pv1[2] == "N" and all(f == "" for f in pv1[3:])
        assert any("^^^EHCMPI&" in cx for cx in pid[3].split("~"))  # all domains: the MPI id

    # 2. Three more patients while the consumer is up, and the server is stopped at once:
    #    their notifications are still waiting in the outbox (or already sent).
    first.feed(range(7, 10))
    first.terminate()
    # 3. With the server down, the consumer goes down too; a new server process takes three
    #    more patients whose notifications are refused, and is stopped in turn.
    consumer.stop()
    second = setup.serve()
    second.feed(range(10, 13))
    _until("the new deliveries refused", lambda: setup.refused(12))
    assert setup.pending() >= 3
    second.terminate()
    # 4. The consumer comes back, then a third server process: everything arrives, once.
    consumer.start()
    setup.serve()
    _until("nothing pending", lambda: setup.pending() == 0)

    assert counts(consumer) == Counter(f"P{n:04d}" for n in range(1, 13))  # none lost, none twice
    assert len(setup.rows()) == 12  # one change per patient, one row each
    assert all(r.delivered_at is not None for r in setup.rows())


@pytest.mark.parametrize("setup", [0.5], indirect=True, ids=["slow-ack"])
def test_a_graceful_stop_during_a_delivery_neither_repeats_nor_holds_notifications(
    setup: Setup,
) -> None:
    """SIGTERM while the consumer is still answering (its ACK takes 0.5 s): the delivery in
    flight should finish (the server drains MLLP the same way) and the rest of the batch be
    sent by the next process at once."""
    setup.consumer.start()
    first = setup.serve()
    first.feed(range(1, 4))
    _until("a delivery in flight", lambda: len(setup.consumer.messages()) >= 1)
    first.terminate()
    setup.serve()
    _until("nothing pending", lambda: setup.pending() == 0, timeout=10)
    assert counts(setup.consumer) == Counter(f"P{n:04d}" for n in range(1, 4))
