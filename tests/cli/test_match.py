"""``ehcmpi match | review`` and ``ehcmpi patient merge | split | links`` (guideline §4.1.1).

The data-quality officer's round trip with the real console script and the shipped rules: a
lab feed's record typed in pinyin links to the HIS patient by itself; a homophone with only
a birth date waits in the review queue with its explanation; the operator merges it, then
splits it again; the auto-merge job runs and is scheduled; training refuses too few records.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import pytest

from tests.cli.support import HIS_SYSTEM, citizen_id, ehcmpi, one_error_line, write_config

LIS_SYSTEM = "urn:oid:1.2.156.112604.1.2.2"
BORN = dt.date(1949, 12, 31)
ZHANG_WEI = citizen_id(BORN, 2)
HEADER = "name,gender,birth_date,ethnicity,phone,doc_type,doc_number,source_system,source_value"


@pytest.fixture
def config(tmp_path: pathlib.Path, key_file: pathlib.Path) -> pathlib.Path:
    config = write_config(tmp_path, key_file)
    his = tmp_path / "his.csv"
    his.write_text(
        f"{HEADER}\n张伟,2,{BORN},01,13800138000,01,{ZHANG_WEI},{HIS_SYSTEM},H-001\n",
        encoding="utf-8",
    )
    lis = tmp_path / "lis.csv"
    lis.write_text(
        f"{HEADER}\nZhang Wei,2,{BORN},,13800138000,,,{LIS_SYSTEM},L-778\n"
        f"章伟,2,{BORN},,,,,{LIS_SYSTEM},L-779\n",
        encoding="utf-8",
    )
    for path in (his, lis):
        assert ehcmpi("import", path, "--config", config).returncode == 0
    return config


def _mpi_id(config: pathlib.Path, identifier: str) -> str:
    found = ehcmpi("patient", "find", identifier, "--config", config)
    assert found.returncode == 0, found.stderr
    return str(json.loads(found.stdout)["mpi_id"])


def _ok(*args: str | pathlib.Path) -> str:
    done = ehcmpi(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_pinyin_record_links_and_a_homophone_waits_for_review(config: pathlib.Path) -> None:
    his = _mpi_id(config, f"{HIS_SYSTEM}|H-001")
    assert _mpi_id(config, f"{LIS_SYSTEM}|L-778") == his
    links = _ok("patient", "links", his, "--config", config)
    why = links.splitlines()[
        links.splitlines().index(f"{LIS_SYSTEM}|L-778 MATCH AUTO Zhang Wei") + 1
    ]
    assert why.startswith("    why: MATCH weight ")
    assert "household=phone" in why and "name=pinyin" in why and "zh-synthetic" in why
    other = _mpi_id(config, f"{LIS_SYSTEM}|L-779")
    assert other != his
    queue = _ok("review", "list", "--config", config).splitlines()
    assert queue[0] == "待审核 (open tasks): 1"
    task = queue[1].split()[0]
    shown = _ok("review", "show", task, "--config", config)
    assert f"record    {other} 章伟" in shown and f"candidate {his} 张伟" in shown
    assert "name         pinyin" in shown and "birth_date   exact" in shown
    explained = _ok("match", "explain", other, his, "--config", config)
    assert "AUTO POSSIBLE_MATCH" in explained
    assert "当前规则下 (under the current rules): POSSIBLE_MATCH" in explained


def test_decide_merges_and_split_restores(config: pathlib.Path) -> None:
    his, other = _mpi_id(config, f"{HIS_SYSTEM}|H-001"), _mpi_id(config, f"{LIS_SYSTEM}|L-779")
    task = _ok("review", "list", "--config", config).splitlines()[1].split()[0]
    decided = _ok("review", "decide", task, "match", "--reason", "电话核实", "--config", config)
    assert decided.strip().endswith(f"MATCH → {his}")
    assert _mpi_id(config, f"{LIS_SYSTEM}|L-779") == his
    links = _ok("patient", "links", his, "--config", config)
    assert f"{LIS_SYSTEM}|L-779 MATCH MANUAL 章伟" in links
    assert "MERGE" in links and "电话核实" in links
    again = one_error_line(ehcmpi("review", "decide", task, "no-match", "--config", config))
    assert "already decided" in again
    split = _ok("patient", "split", his, f"{LIS_SYSTEM}|L-779", "--reason", "不同人",
                "--config", config)  # fmt: skip
    assert split.strip().endswith(other)
    assert _mpi_id(config, f"{LIS_SYSTEM}|L-779") == other
    assert "SPLIT" in _ok("patient", "links", his, "--config", config)


def test_the_job_runs_and_is_scheduled(config: pathlib.Path) -> None:
    run = _ok("match", "run", "--config", config)
    assert run.strip() == "done: examined 2, merged 0, queued 0"
    schedule = _ok("match", "schedule", "--every", "3600", "--enable", "--config", config)
    assert schedule.startswith("auto-merge: every 3600s, enabled, next ")
    assert "done examined 2 merged 0 queued 0" in schedule
    bad = one_error_line(ehcmpi("match", "schedule", "--every", "5", "--config", config))
    assert "60" in bad


def test_training_refuses_too_few_records(config: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "site-rules.toml"
    line = one_error_line(ehcmpi("match", "train", "--output", out, "--config", config))
    assert "at least 1000 patients" in line
    assert not out.exists()


def test_merging_an_unknown_record_is_one_line(config: pathlib.Path) -> None:
    his = _mpi_id(config, f"{HIS_SYSTEM}|H-001")
    line = one_error_line(ehcmpi("patient", "merge", his, "NO-SUCH-ID", "--config", config))
    assert "NO-SUCH-ID" in line


def test_a_broken_site_rule_file_stops_the_command_with_one_line(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    rules = tmp_path / "site-rules.toml"
    rules.write_text('version = "x"\nprior = 2\n', encoding="utf-8")
    config = write_config(tmp_path, key_file, f'[matching]\nrules = "{rules}"\n')
    line = one_error_line(ehcmpi("match", "run", "--config", config))
    assert line.startswith("ehcmpi: 匹配规则无效 (invalid match rules)")
    assert "rules.prior" in line
