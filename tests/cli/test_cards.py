"""``ehcmpi card | terminal | app | qr`` with the real console script (guideline §4.2).

Hospital IT registers the desk's scanner, makes a patient's code as a PNG, verifies it, the
card office suspends the card (the scan is refused with exit code 1), the records and the
per-outcome summary show both scans; mistakes are one line on stderr.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import pytest

from tests.cli.support import citizen_id, ehcmpi, one_error_line, write_config

ORG = "12100000400000000A"
DESK = ORG + "0301"
HEADER = "name,gender,birth_date,doc_type,doc_number"
BORN = dt.date(1985, 3, 12)


@pytest.fixture
def config(tmp_path: pathlib.Path, key_file: pathlib.Path) -> pathlib.Path:
    config = write_config(tmp_path, key_file)
    rows = tmp_path / "patients.csv"
    rows.write_text(f"{HEADER}\n张伟,1,{BORN},01,{citizen_id(BORN, 13)}\n", encoding="utf-8")
    assert ehcmpi("import", rows, "--config", config).returncode == 0
    return config


def _ok(*args: str | pathlib.Path) -> str:
    done = ehcmpi(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_desk_scans_a_code_and_the_office_suspends_the_card(
    config: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    found = json.loads(_ok("patient", "search", "--name", "张伟", "--config", config))
    mpi_id = found[0]["mpi_id"]
    added = _ok("terminal", "add", "--org", ORG, "--dept", "0301", "--name", "挂号窗口1",
                "--location", "门诊一楼", "--config", config)  # fmt: skip
    assert added.startswith(f"{DESK}: 已登记")

    image = tmp_path / "code.png"
    qr = _ok("qr", "generate", mpi_id, "--image", image, "--config", config).strip()
    assert image.read_bytes().startswith(b"\x89PNG")
    ehc_id = qr.split(":")[0]
    scan = ("qr", "verify", qr, "--terminal", DESK, "--care-step", "registration")
    verified = json.loads(_ok(*scan, "--config", config))
    assert (verified["ok"], verified["mpi_id"], verified["ehc_id"]) == (True, mpi_id, ehc_id)

    assert "suspended" in _ok("card", "suspend", ehc_id, "--reason", "手机遗失", "--config", config)
    refused = ehcmpi(*scan, "--config", config)
    assert refused.returncode == 1 and json.loads(refused.stdout)["reason"] == "suspended"

    [card] = json.loads(_ok("card", "show", mpi_id, "--config", config))
    assert card["status"] == "suspended"
    assert [e["action"] for e in card["history"]] == ["issue", "suspend"]
    records = _ok("qr", "records", "--event", "verify", "--config", config).splitlines()
    assert [line.split()[3] for line in records] == ["suspended", "ok"]
    stats = _ok("qr", "stats", "--by", "outcome", "--config", config).splitlines()
    assert [line.split() for line in stats[1:]] == [
        ["ok", "1", "1", "1", "0"],
        ["suspended", "0", "1", "0", "1"],
    ]


def test_operator_mistakes_are_one_line(config: pathlib.Path) -> None:
    line = one_error_line(ehcmpi("terminal", "add", "--org", "X1", "--dept", "0301", "--name",
                                 "n", "--config", config))  # fmt: skip
    assert "机构代码" in line
    line = one_error_line(ehcmpi("card", "resume", "AB" * 32, "--config", config))
    assert "未知的电子健康卡" in line
    secret = _ok("app", "add", "wx-mp", "--name", "微信小程序", "--config", config)
    assert "密钥仅显示一次" in secret
    assert "已登记" in one_error_line(ehcmpi("app", "add", "wx-mp", "--name", "again",
                                             "--config", config))  # fmt: skip
