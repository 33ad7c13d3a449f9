"""``ehcmpi import``: batch registration from CSV (§4.1.2 批量索引注册, §5.2.1)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import pytest

from ehcmpi.core.model import SYSTEM_ACTOR, FuzzyQuery
from tests.cli.support import (
    HIS_SYSTEM,
    ID_CARD_SYSTEM,
    citizen_id,
    ehcmpi,
    one_error_line,
    services,
    with_bad_check_digit,
    write_config,
)

ZHANG_WEI = citizen_id(dt.date(1985, 3, 12), 13)
LI_NA = citizen_id(dt.date(1992, 2, 29), 24)
WANG_FANG_BAD = with_bad_check_digit(citizen_id(dt.date(1970, 1, 1), 22))
ZHAO_QIANG = citizen_id(dt.date(1990, 2, 28), 11)

HEADER = "name,gender,birth_date,ethnicity,phone,doc_type,doc_number,source_system,source_value"
#: Physical lines: header 1, rows 2-4, an empty line 5 (HIS exports have them), bad date 6.
ROWS = [
    HEADER,
    f"张伟,1,1985-03-12,01,13800138000,01,{ZHANG_WEI},{HIS_SYSTEM},H1",
    f"李娜,2,1992-02-29,01,,01,{LI_NA},,",
    f"王芳,2,1970-01-01,01,,01,{WANG_FANG_BAD},{HIS_SYSTEM},H3",
    "",
    f"赵强,1,1990-02-30,01,,01,{ZHAO_QIANG},,",
]
BAD_DATE_LINE = 6


@pytest.fixture
def config(tmp_path: pathlib.Path, key_file: pathlib.Path) -> pathlib.Path:
    return write_config(tmp_path, key_file)


def _csv(path: pathlib.Path, encoding: str) -> pathlib.Path:
    path.write_text("\r\n".join(ROWS) + "\r\n", encoding=encoding)
    return path


def _counts(stdout: str) -> dict[str, int]:
    return {k: int(v) for k, v in json.loads(stdout).items()}


def _names(config: pathlib.Path, name: str) -> list[str | None]:
    with services(config) as wired:
        found = wired.query.search(FuzzyQuery(name=name), SYSTEM_ACTOR)
    return [p.demographics.name for p in found]


def test_import_registers_rows_reports_bad_ones_and_reimport_finds_them(
    config: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    source = _csv(tmp_path / "patients.csv", "utf-8")

    first = ehcmpi("import", source, "--config", config)
    again = ehcmpi("import", source, "--config", config)

    assert _counts(first.stdout) == {
        "created": 3, "existing": 0, "failed": 1, "without_ehc_id": 1,
    }  # fmt: skip
    assert _counts(again.stdout) == {
        "created": 0, "existing": 3, "failed": 1, "without_ehc_id": 1,
    }  # fmt: skip
    # The bad date is reported with the line an operator finds it on in the file.
    (line,) = first.stderr.strip().splitlines()
    assert f"line {BAD_DATE_LINE} failed" in line
    assert "1990-02-30" in line
    assert ROWS[BAD_DATE_LINE - 1].startswith("赵强")
    with services(config) as wired:
        zhang = wired.query.find(ID_CARD_SYSTEM, ZHANG_WEI, SYSTEM_ACTOR)
        wang = wired.query.find(HIS_SYSTEM, "H3", SYSTEM_ACTOR)
    assert zhang is not None and zhang.ehc_id is not None
    assert zhang.demographics.phones == ("13800138000",)
    # Feed mode keeps the bad check digit on a record without EHC ID (§5.2.1 保持现状).
    assert wang is not None and wang.ehc_id is None
    assert wang.demographics.name == "王芳"
    assert [d.valid for d in wang.documents] == [False]
    assert "invalid-document" in wang.data_quality


def test_a_gb18030_export_imports_with_its_encoding(
    config: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    source = _csv(tmp_path / "his-export.csv", "gb18030")

    result = ehcmpi("import", source, "--encoding", "gb18030", "--config", config)

    assert _counts(result.stdout)["created"] == 3
    assert _names(config, "张") == ["张伟"]


def test_a_gb18030_export_read_as_utf8_is_refused_whole(
    config: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    source = _csv(tmp_path / "his-export.csv", "gb18030")

    line = one_error_line(ehcmpi("import", source, "--config", config))

    assert "--encoding" in line
    assert _names(config, "zhang") == []


def test_an_export_with_columns_named_otherwise_is_refused_whole(
    config: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """A HIS export with its own headers: one line naming them and the columns to use, not
    one failure per row, and nothing registered."""
    source = tmp_path / "his-export.csv"
    source.write_text(
        "\r\n".join(["姓名,性别,身份证号", f"张伟,1,{ZHANG_WEI}", f"李娜,2,{LI_NA}"]),
        encoding="utf-8",
    )

    result = ehcmpi("import", source, "--config", config)
    line = one_error_line(result)

    assert "姓名" in line and "身份证号" in line and HEADER.replace(",", ", ") in line
    assert result.stdout == ""
    assert _names(config, "zhang") == [] and _names(config, "li") == []


def test_a_trailing_comma_after_the_header_is_no_column(
    config: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    source = tmp_path / "his-export.csv"
    source.write_text(f"{HEADER},\r\n张伟,1,1985-03-12,01,,01,{ZHANG_WEI},,,\r\n", encoding="utf-8")

    imported = ehcmpi("import", source, "--config", config)

    assert imported.returncode == 0, imported.stderr
    assert _counts(imported.stdout)["created"] == 1
    assert _names(config, "张") == ["张伟"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("missing.csv",), "missing.csv"),
        (("patients.csv", "--encoding", "klingon"), "klingon"),
    ],
)
def test_an_unreadable_import_is_one_line(
    config: pathlib.Path, tmp_path: pathlib.Path, args: tuple[str, ...], named: str
) -> None:
    _csv(tmp_path / "patients.csv", "utf-8")
    paths = [str(tmp_path / a) if a.endswith(".csv") else a for a in args]

    line = one_error_line(ehcmpi("import", *paths, "--config", config))

    assert named in line
