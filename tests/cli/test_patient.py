"""``ehcmpi patient find|search|cancel|restore|history`` and ``ehcmpi audit``."""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import pytest

from ehcmpi.core.model import (
    Actor,
    Demographics,
    DocumentInput,
    PatientStatus,
    RegistrationRequest,
    SourceIdentifier,
)
from tests.cli.support import (
    HIS_SYSTEM,
    ID_CARD_SYSTEM,
    citizen_id,
    ehcmpi,
    one_error_line,
    services,
    write_config,
)

ZHANG_WEI = citizen_id(dt.date(1985, 3, 12), 13)
LI_NA = citizen_id(dt.date(1992, 2, 29), 24)
SEED = Actor("seed", frozenset({"admin"}), "test")


@pytest.fixture
def config(tmp_path: pathlib.Path, key_file: pathlib.Path) -> pathlib.Path:
    """A database holding 张伟 (with HIS id H1) and 李娜, registered through the services."""
    path = write_config(tmp_path, key_file)
    with services(path) as wired:
        for name, number, sources in (
            ("张伟", ZHANG_WEI, (SourceIdentifier(HIS_SYSTEM, "H1"),)),
            ("李娜", LI_NA, ()),
        ):
            request = RegistrationRequest(
                Demographics(name=name), (DocumentInput("01", number),), sources
            )
            wired.registration.register(request, SEED)
    return path


def _zhang_wei_id(config: pathlib.Path) -> str:
    with services(config) as wired:
        found = wired.query.find(HIS_SYSTEM, "H1", SEED)
    assert found is not None
    return found.mpi_id


def test_find_by_document_prints_the_patient(config: pathlib.Path) -> None:
    result = ehcmpi("patient", "find", f"{ID_CARD_SYSTEM}|{ZHANG_WEI}", "--config", config)

    assert result.returncode == 0, result.stderr
    zhang = json.loads(result.stdout)
    assert zhang["mpi_id"] == _zhang_wei_id(config)
    assert zhang["demographics"]["name"] == "张伟"
    assert zhang["demographics"]["birth_date"] == "1985-03-12"  # from the number
    assert len(zhang["ehc_id"]) == 64
    assert zhang["source_ids"] == [{"system": HIS_SYSTEM, "value": "H1"}]


def test_search_by_pinyin_prints_only_the_matching_patients(config: pathlib.Path) -> None:
    result = ehcmpi("patient", "search", "--name", "zhang", "--config", config)

    assert result.returncode == 0, result.stderr
    assert [p["mpi_id"] for p in json.loads(result.stdout)] == [_zhang_wei_id(config)]


def test_an_unknown_identifier_and_a_malformed_one_are_one_line(config: pathlib.Path) -> None:
    missing = ehcmpi("patient", "find", f"{HIS_SYSTEM}|NOBODY", "--config", config)
    no_bar = ehcmpi("patient", "find", ZHANG_WEI, "--config", config)

    assert "NOBODY" in one_error_line(missing)
    assert "system|value" in one_error_line(no_bar)


def test_cancel_restore_history_and_audit(config: pathlib.Path) -> None:
    mpi_id = _zhang_wei_id(config)

    cancelled = ehcmpi("patient", "cancel", mpi_id, "--reason", "重复建档", "--config", config)
    with services(config) as wired:
        after_cancel = wired.query.get(mpi_id, SEED)
    restored = ehcmpi("patient", "restore", mpi_id, "--config", config)
    history = ehcmpi("patient", "history", mpi_id, "--config", config)
    audit = ehcmpi("audit", "--action", "cancel", "--config", config)

    assert cancelled.returncode == 0, cancelled.stderr
    assert mpi_id in cancelled.stdout
    assert after_cancel.status is PatientStatus.CANCELLED
    assert restored.returncode == 0, restored.stderr
    with services(config) as wired:
        assert wired.query.get(mpi_id, SEED).status is PatientStatus.ACTIVE
    versions = [line.split() for line in history.stdout.splitlines()]
    assert [(v[0], v[2], v[-1]) for v in versions] == [
        ("v1", "create", "seed"), ("v2", "cancel", "cli"), ("v3", "restore", "cli"),
    ]  # fmt: skip
    (entry,) = audit.stdout.splitlines()
    assert " cli cli cancel success " in entry
    assert mpi_id in entry
    assert entry.endswith("重复建档")


def test_cancelling_an_unknown_patient_fails_and_names_it(config: pathlib.Path) -> None:
    unknown = "F" * 64

    result = ehcmpi("patient", "cancel", unknown, "--reason", "x", "--config", config)

    assert unknown in one_error_line(result)
