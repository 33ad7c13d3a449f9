"""Operator mistakes in configuration end with one line on stderr, never a traceback."""

from __future__ import annotations

import json
import pathlib
import socket

import pytest

from tests import support
from tests.cli.support import ehcmpi, one_error_line, write_config


def test_an_unknown_key_is_named(tmp_path: pathlib.Path, key_file: pathlib.Path) -> None:
    config = write_config(tmp_path, key_file, extra="[server]\nhttp_prot = 8080\n")

    line = one_error_line(ehcmpi("db", "current", "--config", config))

    assert "server.http_prot" in line


def test_a_value_of_the_wrong_type_is_named(tmp_path: pathlib.Path, key_file: pathlib.Path) -> None:
    config = write_config(tmp_path, key_file, extra='[server]\nhttp_port = "x"\n')

    line = one_error_line(ehcmpi("serve", "--config", config))

    assert "server.http_port" in line


@pytest.mark.parametrize("workers", ['"two"', "0", "65", "2.5"])
def test_a_wrong_number_of_workers_is_named(
    tmp_path: pathlib.Path, key_file: pathlib.Path, workers: str
) -> None:
    config = write_config(tmp_path, key_file, extra=f"[server]\nhttp_workers = {workers}\n")

    line = one_error_line(ehcmpi("serve", "--config", config))

    assert "server.http_workers" in line and '"auto"' in line


def test_a_missing_config_file_is_named(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nowhere.toml"

    line = one_error_line(ehcmpi("patient", "search", "--name", "x", "--config", missing))

    assert str(missing) in line


def test_an_unreachable_database_is_one_line(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    config = write_config(tmp_path, key_file)
    url = "postgresql://postgres@127.0.0.1:1/x"

    line = one_error_line(
        ehcmpi("patient", "search", "--name", "x", "--config", config, "--database-url", url)
    )

    assert "127.0.0.1:1" in line


def test_a_missing_key_file_is_one_line(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "no.key"
    config = write_config(tmp_path, missing)

    line = one_error_line(ehcmpi("patient", "search", "--name", "x", "--config", config))

    assert str(missing) in line
    assert "keys init" in line


@pytest.mark.parametrize("workers", [1, 2])
def test_a_port_in_use_is_one_line(
    tmp_path: pathlib.Path, key_file: pathlib.Path, workers: int
) -> None:
    config = write_config(tmp_path, key_file, extra=f"[server]\nhttp_workers = {workers}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])

        line = one_error_line(ehcmpi("serve", "--config", config, "--http-port", port))

    assert "端口无法监听" in line and port in line


@pytest.mark.parametrize("workers", [1, 2])
def test_a_database_set_up_with_other_keys_is_refused(
    tmp_path: pathlib.Path, key_file: pathlib.Path, workers: int
) -> None:
    """Another key file (``keys init`` run again, a restore without the old key file) would
    find no returning patient: the server does not start on it (§4.6 密钥管理)."""
    server = f"[server]\nhttp_port = 0\nmllp_port = 0\nhttp_workers = {workers}\n"
    config = write_config(tmp_path, key_file, extra=server)
    assert ehcmpi("patient", "search", "--name", "x", "--config", config).returncode == 0
    other_key = tmp_path / "other.key"
    assert ehcmpi("keys", "init", "--file", other_key).returncode == 0
    database = f"sqlite:///{tmp_path / 'ehcmpi.db'}"
    other = support.write_config(tmp_path / "other.toml", database, other_key, server)

    served = ehcmpi("serve", "--config", other, timeout=30)
    searched = one_error_line(ehcmpi("patient", "search", "--name", "x", "--config", other))

    assert served.returncode != 0
    assert "Traceback" not in served.stderr
    assert "密钥与数据库不匹配" in served.stderr.strip().splitlines()[-1]
    assert "密钥与数据库不匹配" in searched
    assert ehcmpi("patient", "search", "--name", "x", "--config", config).returncode == 0


def test_a_config_saved_as_gbk_is_one_line_asking_for_utf8(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    config = write_config(tmp_path, key_file, extra="# 北京协和医院 患者主索引\n")
    config.write_bytes(config.read_text(encoding="utf-8").encode("gb18030"))

    line = one_error_line(ehcmpi("patient", "search", "--name", "x", "--config", config))

    assert "UTF-8" in line and str(config) in line


def test_a_config_saved_with_a_byte_order_mark_is_read(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    """As Windows Notepad saves "UTF-8": the mark is not part of the TOML."""
    config = write_config(tmp_path, key_file, extra="# 北京协和医院 患者主索引\n")
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())

    searched = ehcmpi("patient", "search", "--name", "x", "--config", config)

    assert searched.returncode == 0, searched.stderr
    assert json.loads(searched.stdout) == []


def test_a_config_path_that_is_a_directory_is_one_line(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "ehcmpi.toml"
    folder.mkdir()

    line = one_error_line(ehcmpi("patient", "search", "--name", "x", "--config", folder))

    assert "无法读取配置文件" in line and str(folder) in line
