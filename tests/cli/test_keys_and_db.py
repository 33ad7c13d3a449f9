"""``ehcmpi keys init|show`` and ``ehcmpi db upgrade|current``."""

from __future__ import annotations

import json
import pathlib
import stat

import sqlalchemy as sa

from ehcmpi.crypto.keys import init_keyfile
from ehcmpi.storage import migrate
from tests.cli.support import ehcmpi, one_error_line, write_config


def test_keys_init_creates_a_private_file_that_show_describes_without_keys(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "keys" / "ehcmpi.key"
    config = write_config(tmp_path, path)  # the path comes from [keys] file

    created = ehcmpi("keys", "init", "--config", config)
    content = path.read_bytes()
    again = ehcmpi("keys", "init", "--config", config)
    shown = ehcmpi("keys", "show", "--config", config)

    assert created.returncode == 0, created.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(content)
    assert f"key_id={document['key_id']}" in created.stdout
    assert str(path) in one_error_line(again)
    assert path.read_bytes() == content  # not overwritten
    assert shown.returncode == 0, shown.stderr
    assert document["key_id"] in shown.stdout
    output = (shown.stdout + shown.stderr).lower()
    for name in ("root_key", "data_key", "index_key"):
        assert document[name][:12].lower() not in output


def test_keys_init_if_missing_keeps_and_force_replaces(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "ehcmpi.key"
    original = init_keyfile(path)

    kept = ehcmpi("keys", "init", "--file", path, "--if-missing")
    after_if_missing = json.loads(path.read_bytes())
    forced = ehcmpi("keys", "init", "--file", path, "--force")
    after_force = json.loads(path.read_bytes())

    assert kept.returncode == 0, kept.stderr
    assert after_if_missing["key_id"] == original.key_id
    assert bytes.fromhex(after_if_missing["root_key"]) == original.root_key
    assert forced.returncode == 0, forced.stderr
    assert after_force["key_id"] != original.key_id
    assert bytes.fromhex(after_force["root_key"]) != original.root_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_db_upgrade_then_current_on_a_fresh_sqlite_file(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    config = write_config(tmp_path, key_file)
    head = migrate.head_revision()

    upgraded = ehcmpi("db", "upgrade", "--config", config)
    current = ehcmpi("db", "current", "--config", config)

    assert upgraded.returncode == 0, upgraded.stderr
    assert str(head) in upgraded.stdout
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ehcmpi.db'}")
    try:
        assert migrate.current_revision(engine) == head
        assert "patients" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert current.stdout.strip() == f"current={head} head={head}"


def test_keys_show_on_a_missing_file_is_one_line(tmp_path: pathlib.Path) -> None:
    line = one_error_line(ehcmpi("keys", "show", "--file", tmp_path / "none.key"))

    assert "none.key" in line
