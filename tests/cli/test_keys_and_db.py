"""``ehcmpi keys init|show|rotate|show-public`` and ``ehcmpi db upgrade|current|downgrade``."""

from __future__ import annotations

import json
import os
import pathlib
import stat

import pytest
import sqlalchemy as sa

from ehcmpi.crypto import sm2
from ehcmpi.crypto.keys import init_keyfile, load_keyfile
from ehcmpi.crypto.software import SoftwareCryptoProvider
from ehcmpi.storage import migrate
from ehcmpi.terminology.systems import ID_CARD_SYSTEM
from tests.cli.support import ehcmpi, one_error_line, services, write_config
from tests.core.support import CLERK, ZHANG_WEI_ID, request
from tests.crypto.softhsm import softhsm


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
    # The replaced keys are kept beside it: the database they belong to stays readable.
    [replaced] = tmp_path.glob("ehcmpi.key.replaced-*")
    assert str(replaced) in forced.stdout
    assert load_keyfile(replaced) == original
    assert stat.S_IMODE(replaced.stat().st_mode) == 0o600


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


def _set_revision(tmp_path: pathlib.Path, revision: str) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ehcmpi.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def test_a_schema_of_a_newer_release_is_one_line_naming_both_revisions(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    """An older release started on a newer release's database (a release rolled back without
    ``db downgrade``): never Alembic's traceback, never "run db upgrade"."""
    config = write_config(tmp_path, key_file, extra="[server]\nhttp_port = 0\nmllp_port = 0\n")
    assert ehcmpi("db", "upgrade", "--config", config).returncode == 0
    _set_revision(tmp_path, "0999")

    upgraded = one_error_line(ehcmpi("db", "upgrade", "--config", config))
    searched = one_error_line(ehcmpi("patient", "search", "--name", "x", "--config", config))
    served = ehcmpi("serve", "--config", config, timeout=30)

    for line in (upgraded, searched, served.stderr.strip().splitlines()[-1]):
        assert "0999" in line and str(migrate.head_revision()) in line
        assert "db downgrade" in line
    assert served.returncode != 0 and "Traceback" not in served.stderr


def test_db_downgrade_rolls_back_and_upgrade_returns_with_the_data(
    tmp_path: pathlib.Path, key_file: pathlib.Path
) -> None:
    config = write_config(tmp_path, key_file)
    assert ehcmpi("db", "upgrade", "--config", config).returncode == 0
    with services(config) as container:
        created = container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    head = str(migrate.head_revision())
    previous = f"{int(head) - 1:04d}"

    rolled_back = ehcmpi("db", "downgrade", previous, "--config", config)
    current = ehcmpi("db", "current", "--config", config)
    unknown = one_error_line(ehcmpi("db", "downgrade", "0042", "--config", config))
    upgraded = ehcmpi("db", "upgrade", "--config", config)

    assert rolled_back.returncode == 0, rolled_back.stderr
    assert previous in rolled_back.stdout
    assert current.stdout.strip() == f"current={previous} head={head}"
    assert "0042" in unknown and previous in unknown
    assert upgraded.returncode == 0, upgraded.stderr
    with services(config) as container:
        found = container.query.find(ID_CARD_SYSTEM, ZHANG_WEI_ID, CLERK)
    assert found is not None and found.mpi_id == created.patient.mpi_id


def test_keys_show_on_a_missing_file_is_one_line(tmp_path: pathlib.Path) -> None:
    line = one_error_line(ehcmpi("keys", "show", "--file", tmp_path / "none.key"))

    assert "none.key" in line


def _private_hex(path: pathlib.Path) -> list[str]:
    doc = json.loads(path.read_text())
    secrets = [doc[name] for name in ("root_key", "data_key", "index_key", "protect_key")]
    secrets.append(doc["signing_key"]["private_key"])
    for kind in ("data_keys", "protect_keys"):
        secrets += [item["key"] for item in doc["retired"][kind]]
    secrets += [item["private_key"] for item in doc["retired"]["signing_keys"]]
    return [secret[:12].lower() for secret in secrets]


def test_keys_rotate_keeps_the_key_set_and_show_public_prints_only_public_keys(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "ehcmpi.key"
    before = init_keyfile(path)
    ehc_id = SoftwareCryptoProvider(before).ehc_id("AB" * 32, "01", "11010020171225006X")

    rotated = ehcmpi("keys", "rotate", "--file", path)
    data_only = ehcmpi("keys", "rotate", "--file", path, "--data")
    public = ehcmpi("keys", "show-public", "--file", path)

    after = load_keyfile(path)
    assert rotated.returncode == 0 and data_only.returncode == 0, rotated.stderr
    assert "rotated: data, protect, signing" in rotated.stdout
    assert "rotated: data\n" in data_only.stdout.replace(");", "\n")
    assert after.key_id == before.key_id
    assert SoftwareCryptoProvider(after).ehc_id("AB" * 32, "01", "11010020171225006X") == ehc_id
    assert len(after.retired_data_keys) == 2 and len(after.retired_signing_keys) == 1
    assert public.returncode == 0, public.stderr
    assert f"key_id: {before.key_id}" in public.stdout
    assert f"data keys: current {after.data_key_id}; retired " in public.stdout
    assert public.stdout.count("-----BEGIN PUBLIC KEY-----") == 2
    assert after.signing_key is not None
    assert sm2.public_key_pem(after.signing_key.public_key) in public.stdout
    output = (rotated.stdout + data_only.stdout + public.stdout + public.stderr).lower()
    for secret in _private_hex(path):
        assert secret not in output


def test_keys_rotate_on_a_missing_file_is_one_line(tmp_path: pathlib.Path) -> None:
    line = one_error_line(ehcmpi("keys", "rotate", "--file", tmp_path / "none.key"))
    assert "none.key" in line and "ehcmpi keys init" in line


def _hsm_config(tmp_path: pathlib.Path, key_file: pathlib.Path, pin_line: str) -> pathlib.Path:
    hsm = softhsm()
    extra = f"""[crypto]
provider = "pkcs11"
[crypto.pkcs11]
library = "{hsm.library}"
token_label = "{hsm.token}"
{pin_line}
kek_label = "cli-{os.urandom(4).hex()}"
wrapped_key_file = "{tmp_path / "wrapped.json"}"
"""
    return write_config(tmp_path, key_file, extra)


def test_keys_commands_with_the_hsm_provider(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    software = tmp_path / "software.key"
    keys = init_keyfile(software)
    monkeypatch.setenv("TEST_HSM_PIN", softhsm().pin)
    config = _hsm_config(tmp_path, software, 'pin_env = "TEST_HSM_PIN"')

    created = ehcmpi("keys", "init", "--config", config, "--from-keyfile", software)
    shown = ehcmpi("keys", "show", "--config", config)
    rotated = ehcmpi("keys", "rotate", "--config", config, "--signing")
    public = ehcmpi("keys", "show-public", "--config", config)
    again = ehcmpi("keys", "init", "--config", config, "--if-missing")

    assert created.returncode == 0, created.stderr
    assert f"key_id={keys.key_id}" in created.stdout and "imported" in created.stdout
    wrapped = json.loads((tmp_path / "wrapped.json").read_text())
    assert set(wrapped["root_key"]) == {"wrapped"}
    assert "provider: pkcs11" in shown.stdout and f"key_id: {keys.key_id}" in shown.stdout
    assert rotated.returncode == 0, rotated.stderr
    assert public.stdout.count("-----BEGIN PUBLIC KEY-----") == 2
    assert again.returncode == 0 and f"key_id={keys.key_id}" in again.stdout
    output = (created.stdout + shown.stdout + rotated.stdout + public.stdout).lower()
    for secret in _private_hex(software):
        assert secret not in output


def test_hsm_without_pin_or_with_a_wrong_pin_is_one_line(tmp_path: pathlib.Path) -> None:
    key_file = tmp_path / "software.key"
    no_pin = _hsm_config(tmp_path, key_file, 'pin_env = "NO_SUCH_PIN_VARIABLE"')
    line = one_error_line(ehcmpi("keys", "show", "--config", no_pin))
    assert "NO_SUCH_PIN_VARIABLE" in line
    wrong = _hsm_config(tmp_path, key_file, 'pin = "000000"')
    line = one_error_line(ehcmpi("keys", "init", "--config", wrong))
    assert "PinIncorrect" in line and "000000" not in line
