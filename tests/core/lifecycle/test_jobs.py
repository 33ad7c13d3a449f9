"""§4.1.1 索引定时任务: the batch auto-merge job, its schedule, its runs and its lock."""

from __future__ import annotations

import datetime as dt
import pathlib
import subprocess
import sys

import pytest

from ehcmpi.bootstrap import Container, build
from ehcmpi.core.errors import InvalidInputError, NotFoundError
from ehcmpi.core.links import LinkOrigin, LinkState
from ehcmpi.core.model import PatientStatus, RegistrationMode
from ehcmpi.settings import MatchingSettings, Settings
from tests.core.support import ADMIN, CLERK, ZHANG_WEI_BIRTH, ZHANG_WEI_ID, his, lis, request

FEED = RegistrationMode.FEED
PHONE = ("13800138000",)


def _duplicates_registered_without_matching(settings: Settings, linked: Container) -> list[str]:
    """Two records of one person, registered while matching was switched off."""
    plain = build(
        settings.model_copy(update={"matching": MatchingSettings(enabled=False)}),
        engine=linked.engine,
    )
    ids = [
        plain.registration.register(
            request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), phones=PHONE, mode=FEED),
            CLERK,
        ).patient.mpi_id,
        plain.registration.register(
            request("张伟", sources=(lis("L-1"),), birth_date=ZHANG_WEI_BIRTH, phones=PHONE,
                    mode=FEED),
            CLERK,
        ).patient.mpi_id,
    ]  # fmt: skip
    plain.audit.flush()
    return ids


def test_a_run_merges_duplicates_and_is_recorded(settings: Settings, linked: Container) -> None:
    older, newer = _duplicates_registered_without_matching(settings, linked)
    run = linked.jobs.run("auto-merge", ADMIN)
    assert run is not None
    assert (run.status, run.examined, run.merged, run.queued) == ("done", 2, 1, 0)
    with linked.uow() as uow:
        merged = uow.patients.get(newer)
        assert merged is not None and merged.status is PatientStatus.MERGED
        assert merged.parent_id == older
        source = uow.links.get_source(lis("L-1"))
        assert source is not None and source.origin is LinkOrigin.AUTO
    assert [r.id for r in linked.jobs.runs("auto-merge")] == [run.id]
    again = linked.jobs.run("auto-merge", ADMIN)
    assert again is not None and (again.examined, again.merged) == (1, 0)


def test_a_manual_merge_survives_a_rerun_with_reevaluation(linked: Container) -> None:
    a = linked.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), mode=FEED), CLERK
    ).patient
    b = linked.registration.register(
        request("李娜", sources=(lis("L-5"),), phones=PHONE, mode=FEED), CLERK
    ).patient
    linked.merges.merge(a.mpi_id, b.mpi_id, ADMIN, reason="known to the ward")
    run = linked.jobs.run("auto-merge", ADMIN)
    assert run is not None and (run.merged, run.queued) == (0, 0)
    with linked.uow() as uow:
        source = uow.links.get_source(lis("L-5"))
        assert source is not None and source.mpi_id == a.mpi_id
        assert source.origin is LinkOrigin.MANUAL


def test_the_schedule_is_stored_and_validated(linked: Container) -> None:
    assert not linked.jobs.schedule("auto-merge").enabled
    saved = linked.jobs.set_schedule("auto-merge", 3600, True, ADMIN)
    assert linked.jobs.schedule("auto-merge") == saved
    assert saved.next_run_at is not None
    with pytest.raises(InvalidInputError):
        linked.jobs.set_schedule("auto-merge", 5, True, ADMIN)
    with pytest.raises(NotFoundError):
        linked.jobs.schedule("no-such-job")


def test_a_due_schedule_runs_once_and_moves_on(linked: Container) -> None:
    linked.jobs.set_schedule("auto-merge", 3600, True, ADMIN)
    with linked.uow(write=True) as uow:
        schedule = uow.jobs.get_schedule("auto-merge")
        assert schedule is not None
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        uow.jobs.save_schedule(schedule.__class__(schedule.name, 3600, True, past, "test"))
        uow.commit()
    assert len(linked.jobs.run_due(ADMIN)) == 1
    assert linked.jobs.run_due(ADMIN) == []
    nxt = linked.jobs.schedule("auto-merge").next_run_at
    assert nxt is not None and nxt > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=59)


def test_another_process_holding_the_lease_keeps_a_run_out(
    linked: Container, settings: Settings, tmp_path: pathlib.Path
) -> None:
    """The job lock across two real processes: the CLI finds the lease taken and says so."""
    now = dt.datetime.now(dt.UTC)
    with linked.uow(write=True) as uow:
        assert uow.jobs.acquire_lease("auto-merge", "other-replica", now, 600)
        uow.commit()
    config = tmp_path / "ehcmpi.toml"
    assert config.exists()
    cmd = [sys.executable, "-m", "ehcmpi.cli", "match", "run", "--config", str(config)]
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert "another process" in refused.stderr
    with linked.uow(write=True) as uow:
        uow.jobs.release_lease("auto-merge", "other-replica")
        uow.commit()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("done: examined 0")


def test_a_rule_change_re_evaluates_automatic_links_only(
    settings: Settings, linked: Container, tmp_path: pathlib.Path
) -> None:
    """Stricter rules: the link the matcher made is queued for review, the MANUAL one kept."""
    golden = linked.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), phones=PHONE, mode=FEED),
        CLERK,
    ).patient.mpi_id
    auto = linked.registration.register(
        request("张伟", sources=(lis("L-1"),), birth_date=ZHANG_WEI_BIRTH, phones=PHONE,
                mode=FEED),
        CLERK,
    ).patient  # fmt: skip
    assert auto.mpi_id == golden
    manual = linked.registration.register(
        request("李娜", sources=(lis("L-2"),), mode=FEED), CLERK
    ).patient.mpi_id
    linked.merges.merge(golden, manual, ADMIN, reason="known to the ward")
    rules_file = pathlib.Path(linked.settings.matching.rules or "")
    stricter = tmp_path / "stricter.toml"
    stricter.write_text(
        rules_file.read_text(encoding="utf-8").replace("match = 15.0", "match = 40.0"),
        encoding="utf-8",
    )
    strict = build(
        settings.model_copy(update={"matching": MatchingSettings(rules=str(stricter))}),
        engine=linked.engine,
    )
    run = strict.jobs.run("auto-merge", ADMIN)
    strict.audit.flush()
    assert run is not None and (run.merged, run.queued) == (0, 1)
    with strict.uow() as uow:
        flagged = uow.links.get_source(lis("L-1"))
        kept = uow.links.get_source(lis("L-2"))
        first = uow.links.get_source(his("H-1"))
    assert flagged is not None and flagged.state is LinkState.POSSIBLE_MATCH
    assert kept is not None and (kept.state, kept.origin) == (LinkState.MATCH, LinkOrigin.MANUAL)
    assert first is not None and first.state is LinkState.MATCH
    total, items = strict.review.queue(ADMIN)
    assert total == 1 and items[0].task.source == lis("L-1")
    decided = strict.review.decide(items[0].task.id, LinkState.NO_MATCH, ADMIN)
    assert decided.mpi_id != golden and lis("L-1") in decided.source_ids
