"""Running the real ``ehcmpi`` console script, as an operator does, against a test config."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

from ehcmpi.bootstrap import Container, build
from ehcmpi.settings import load_settings
from ehcmpi.terminology.validators import mod11_2_check_char
from tests import support

#: The console script installed next to this interpreter (``.venv/bin/ehcmpi``).
EHCMPI = pathlib.Path(sys.executable).with_name("ehcmpi")
ID_CARD_SYSTEM = "urn:oid:2.16.156.10011.1.3"
HIS_SYSTEM = "urn:oid:1.2.156.112604.1.2.1"


def environment() -> dict[str, str]:
    """The caller's environment without ehcmpi settings, so only ``--config`` counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EHCMPI_")}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def ehcmpi(*args: str | pathlib.Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EHCMPI), *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=environment(),
        check=False,
    )


def write_config(directory: pathlib.Path, key_file: pathlib.Path, extra: str = "") -> pathlib.Path:
    """A config on a fresh SQLite file in ``directory``, the test key file and two domains."""
    database = f"sqlite:///{directory / 'ehcmpi.db'}"
    return support.write_config(directory / "ehcmpi.toml", database, key_file, extra)


def citizen_id(born: dt.date, sequence: int, area: str = "110105") -> str:
    first17 = f"{area}{born:%Y%m%d}{sequence:03d}"
    return first17 + mod11_2_check_char(first17)


def with_bad_check_digit(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """Assert an operator error: non-zero exit, exactly one line on stderr, no traceback."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@contextlib.contextmanager
def services(config: pathlib.Path) -> Iterator[Container]:
    """The same database, opened in-process to set up or check what a command did."""
    container = build(load_settings(str(config), environ={}))
    try:
        yield container
    finally:
        container.close()
