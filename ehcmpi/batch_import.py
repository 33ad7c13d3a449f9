"""Batch registration from a file (guideline §4.1.2 批量索引注册, §5.2.1 历史数据处理 方式一).

CSV (with a header row) or JSON Lines, one patient per row, columns:

    name, gender (GB/T 2261.1 code), birth_date (YYYY-MM-DD), ethnicity (GB/T 3304 code),
    phone, doc_type (Appendix A code), doc_number, source_system, source_value

Rows are registered in FEED mode: a number failing its check keeps the patient as a record
without an EHC ID, flagged for data quality (§5.2.1: 不满足电子健康卡生成规则的数据，保持现状).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import pathlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ehcmpi.core.errors import InvalidInputError
from ehcmpi.core.model import (
    Demographics,
    DocumentInput,
    RegistrationMode,
    RegistrationRequest,
    SourceIdentifier,
)

COLUMNS = (
    "name", "gender", "birth_date", "ethnicity", "phone", "doc_type", "doc_number",
    "source_system", "source_value",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    request: RegistrationRequest | None
    error: str | None = None


def _value(row: dict[str, str], key: str) -> str | None:
    value = (row.get(key) or "").strip()
    return value or None


def _request(row: dict[str, str], mode: RegistrationMode) -> RegistrationRequest:
    _known_columns(row)
    birth = _value(row, "birth_date")
    try:
        birth_date = dt.date.fromisoformat(birth) if birth else None
    except ValueError:
        raise InvalidInputError(f"出生日期无效 (invalid birth_date): {birth}") from None
    phone = _value(row, "phone")
    doc_type, doc_number = _value(row, "doc_type"), _value(row, "doc_number")
    documents = (DocumentInput(doc_type, doc_number),) if doc_type and doc_number else ()
    system, value = _value(row, "source_system"), _value(row, "source_value")
    sources = (SourceIdentifier(system, value),) if system and value else ()
    demographics = Demographics(
        name=_value(row, "name"),
        gender=_value(row, "gender"),
        birth_date=birth_date,
        ethnicity=_value(row, "ethnicity"),
        phones=(phone,) if phone else (),
    )
    return RegistrationRequest(demographics, documents, sources, mode)


def _json_row(line: str) -> dict[str, str] | str:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"JSON 格式错误 (malformed JSON): {exc}"
    if not isinstance(data, dict):
        return "每行须为 JSON 对象 (each line must be a JSON object)"
    return {k: str(v) for k, v in data.items() if v is not None}


def _known_columns(names: Iterable[str]) -> None:
    """Refuse a column this importer does not know: a JSON Lines row, or a CSV header — the
    whole file then, not each row: nothing is registered from an export whose columns are
    named otherwise (姓名, 性别…)."""
    unknown = sorted(set(names) - set(COLUMNS))
    if unknown:
        raise InvalidInputError(
            f"未知列 (unknown columns): {', '.join(unknown)}; "
            f"可用的列 (columns): {', '.join(COLUMNS)}"
        )


def _rows(path: pathlib.Path, encoding: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    with path.open(encoding=encoding, newline="") as handle:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, _json_row(line)
        else:
            # ``line_num`` counts physical lines, so a report points at the right line even
            # after the empty lines that DictReader skips.
            # A column without a name (a trailing comma after the header) carries nothing.
            reader = csv.DictReader(handle)
            _known_columns(name for name in reader.fieldnames or () if name)
            for row in reader:
                yield reader.line_num, {k: v for k, v in row.items() if k}


def read_import(
    path: pathlib.Path,
    *,
    encoding: str = "utf-8-sig",
    mode: RegistrationMode = RegistrationMode.FEED,
) -> Iterator[ImportRow]:
    """Each row as a registration request, or the reason it cannot be one."""
    for line, row in _rows(path, encoding):
        if isinstance(row, str):
            yield ImportRow(line, None, row)
            continue
        try:
            yield ImportRow(line, _request(row, mode))
        except InvalidInputError as exc:
            yield ImportRow(line, None, exc.message)
