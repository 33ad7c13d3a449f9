"""Registration is idempotent under concurrency (DESIGN.md: unique constraints and
insert-on-conflict, never check-then-insert): two servers registering the same patients at
the same moment create each patient once and hand out the same EHC ID — one request at a
time, and in groups answered together (``RegistrationService.register_each``, whose shared
transaction loses such a race as a whole and falls back to one at a time)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import pathlib
import threading
from collections import Counter
from multiprocessing.synchronize import Barrier
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import build
from ehcmpi.core.model import Actor, RegistrationResult, SourceIdentifier
from ehcmpi.settings import load_settings
from ehcmpi.storage.tables import patient_documents, patients, source_identifiers
from ehcmpi.terminology.pinyin import name_pinyin
from tests.core.support import HIS_SYSTEM, LIS_SYSTEM, citizen_id, request

DOCUMENTS = 150
GROUP = 5  # requests answered together, when together
# What each worker reports per ID number: mpi_id, EHC ID, whether this worker created it.
Outcome = dict[str, tuple[str, str | None, bool]]


def _numbers(count: int) -> list[str]:
    start = dt.date(1960, 1, 1)
    return [citizen_id("110105", start + dt.timedelta(days=i * 97), i % 1000) for i in range(count)]


def _config(path: pathlib.Path, database_url: str, key_file: pathlib.Path) -> str:
    path.write_text(
        f'[database]\nurl = "{database_url}"\n\n[node]\ncode = "RACE"\n\n'
        f'[keys]\nfile = "{key_file}"\n',
        encoding="utf-8",
    )
    return str(path)


def register_all(
    config_path: str, numbers: list[str], system: str, step: Any, together: bool = False
) -> Outcome:
    """One server: its own container; both workers register the same numbers in lockstep.

    Passing the barrier before every registration (or group of ``GROUP``, ``together``)
    makes both workers go for the same documents at the same moment, so every document is
    contended (a plain start signal lets one worker run ahead and the other only find
    finished records).  Each worker brings its own hospital system's patient ID, so the loser
    must attach it to the winner's record.
    """
    container = build(load_settings(config_path, environ={}))
    container.start()
    actor = Actor(f"worker-{system[-1]}")
    outcome: Outcome = {}
    try:
        name_pinyin("并发")  # warm up: the pinyin dictionary loads on first use
        container.query.find(system, "warm-up", actor)
        size = GROUP if together else 1
        for at in range(0, len(numbers), size):
            group = numbers[at : at + size]
            asked = [
                (
                    request("并发", ("01", n), sources=(SourceIdentifier(system, f"P{at + i}"),)),
                    actor,
                )
                for i, n in enumerate(group)
            ]
            step.wait()
            if together:
                answers = container.registration.register_each(asked)
            else:
                answers = [container.registration.register(*asked[0])]
            for number, result in zip(group, answers, strict=True):
                assert isinstance(result, RegistrationResult), result
                outcome[number] = (result.patient.mpi_id, result.patient.ehc_id, result.created)
    finally:
        container.close()
    return outcome


def _process_main(
    config_path: str, numbers: list[str], system: str, step: Barrier, queue: Any, together: bool
) -> None:
    try:
        queue.put(register_all(config_path, numbers, system, step, together))
    except BaseException as exc:
        queue.put(repr(exc))
        raise


def _check(engine: Engine, numbers: list[str], outcomes: list[Outcome]) -> None:
    first, second = outcomes
    assert set(first) == set(second) == set(numbers)
    for number in numbers:
        assert first[number][:2] == second[number][:2], number
        assert first[number][1] is not None
    created = Counter(o[number][2] for o in outcomes for number in numbers)
    assert created[True] == len(numbers)  # each patient was created by exactly one worker
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(patients)).scalar_one() == len(
            numbers
        )
        owners = conn.execute(
            sa.select(patient_documents.c.number_bidx, sa.func.count())
            .group_by(patient_documents.c.number_bidx)
            .having(sa.func.count() > 1)
        ).all()
        assert owners == []
        per_patient = Counter(
            mpi_id for (mpi_id,) in conn.execute(sa.select(source_identifiers.c.mpi_id))
        )
    # Both workers' hospital IDs ended up on the one record.
    assert set(per_patient.values()) == {2}
    assert set(per_patient) == {first[n][0] for n in numbers}


@pytest.mark.parametrize("together", [False, True], ids=["one-at-a-time", "together"])
def test_two_processes_register_the_same_patients_on_postgresql(
    pg_engine: Engine,
    pg_database_url: str,
    key_file: pathlib.Path,
    tmp_path: pathlib.Path,
    together: bool,
) -> None:
    config = _config(tmp_path / "race.toml", pg_database_url, key_file)
    numbers = _numbers(DOCUMENTS)
    ctx = multiprocessing.get_context("spawn")
    step = ctx.Barrier(2, timeout=60)
    queue = ctx.Queue()
    # Same order, in lockstep: every document is contended, not only those in the middle.
    workers = [
        ctx.Process(target=_process_main, args=(config, numbers, system, step, queue, together))
        for system in (HIS_SYSTEM, LIS_SYSTEM)
    ]
    for worker in workers:
        worker.start()
    try:
        results = [queue.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()

    assert [w.exitcode for w in workers] == [0, 0], results
    assert all(isinstance(r, dict) for r in results), results
    _check(pg_engine, numbers, results)


@pytest.mark.parametrize("together", [False, True], ids=["one-at-a-time", "together"])
def test_two_threads_register_the_same_patients_on_sqlite(
    key_file: pathlib.Path, tmp_path: pathlib.Path, together: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    config = _config(tmp_path / "race.toml", url, key_file)
    numbers = _numbers(40)
    step = threading.Barrier(2, timeout=30)
    results: dict[str, Outcome] = {}
    errors: list[BaseException] = []

    def run(system: str) -> None:
        try:
            results[system] = register_all(config, numbers, system, step, together)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in (HIS_SYSTEM, LIS_SYSTEM)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    container = build(load_settings(config, environ={}))
    try:
        _check(container.engine, numbers, [results[HIS_SYSTEM], results[LIS_SYSTEM]])
    finally:
        container.close()
