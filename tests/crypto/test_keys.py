"""Tests for ehcmpi.crypto.keys: the 0600 key file of the software provider (guideline §6.1)."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ehcmpi.crypto.errors import KeyFileError
from ehcmpi.crypto.keys import KeyMaterial, ensure_keyfile, init_keyfile, load_keyfile
from ehcmpi.crypto.material import derived_protect_key

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _key_hex(keys: KeyMaterial) -> list[str]:
    raw = [keys.root_key, keys.data_key, keys.index_key, keys.protect_key]
    raw += [keys.signing_key.private_key] if keys.signing_key else []
    return [key.hex() for key in raw] + [key.hex().upper() for key in raw]


@pytest.fixture
def keyfile(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    init_keyfile(path)
    return path


def _rewrite(path: Path, **changes: Any) -> None:
    doc = json.loads(path.read_text())
    for name, value in changes.items():
        if value is None:
            del doc[name]
        else:
            doc[name] = value
    path.write_text(json.dumps(doc))


def test_init_writes_the_documented_json(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keys = init_keyfile(path)
    doc = json.loads(path.read_text())
    assert set(doc) == {
        "version",
        "key_id",
        "created",
        "root_key",
        "data_key",
        "index_key",
        "data_key_id",
        "protect_key",
        "protect_key_id",
        "signing_key",
        "retired",
    }
    assert doc["version"] == 2
    assert doc["key_id"] == keys.key_id == doc["data_key_id"] == doc["protect_key_id"]
    assert len(keys.key_id) == 16 and int(keys.key_id, 16) >= 0
    assert datetime.fromisoformat(doc["created"]).tzinfo is not None
    assert bytes.fromhex(doc["root_key"]) == keys.root_key and len(keys.root_key) == 16
    assert bytes.fromhex(doc["data_key"]) == keys.data_key and len(keys.data_key) == 16
    assert bytes.fromhex(doc["index_key"]) == keys.index_key and len(keys.index_key) == 32
    # a real protect key, not the version-1 derivation from the root key
    assert bytes.fromhex(doc["protect_key"]) == keys.protect_key
    assert keys.protect_key != derived_protect_key(keys.root_key)
    assert keys.signing_key is not None
    assert doc["signing_key"]["id"] == keys.key_id
    assert bytes.fromhex(doc["signing_key"]["private_key"]) == keys.signing_key.private_key
    assert bytes.fromhex(doc["signing_key"]["public_key"]) == keys.signing_key.public_key
    assert doc["retired"] == {"data_keys": [], "protect_keys": [], "signing_keys": []}


def test_init_then_load_round_trip(keyfile: Path) -> None:
    assert load_keyfile(keyfile) == load_keyfile(keyfile)
    assert isinstance(load_keyfile(keyfile), KeyMaterial)


def test_keys_are_fresh_each_time(tmp_path: Path) -> None:
    one = init_keyfile(tmp_path / "a.json")
    two = init_keyfile(tmp_path / "b.json")
    assert one.key_id != two.key_id
    assert one.root_key != two.root_key and one.data_key != two.data_key
    assert one.index_key != two.index_key


@posix_only
def test_init_mode_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "keys.json"
        init_keyfile(path)
    finally:
        os.umask(old)
    assert _mode(path) == 0o600


@posix_only
def test_init_never_creates_a_readable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            calls.append((flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    init_keyfile(tmp_path / "keys.json")
    assert calls, "the key file must be created through os.open"
    for flags, mode in calls:
        assert mode == 0o600
        assert flags & os.O_EXCL


def test_init_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "ehcmpi" / "keys.json"
    init_keyfile(path)
    assert load_keyfile(path)


def test_init_leaves_no_temporary_files(tmp_path: Path) -> None:
    init_keyfile(tmp_path / "keys.json")
    init_keyfile(tmp_path / "keys.json", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.json"]


def test_init_refuses_to_overwrite(keyfile: Path) -> None:
    before = keyfile.read_bytes()
    with pytest.raises(KeyFileError, match=r"^密钥文件已存在") as info:
        init_keyfile(keyfile)
    assert "refusing to overwrite" in str(info.value)
    assert keyfile.read_bytes() == before
    assert sorted(p.name for p in keyfile.parent.iterdir()) == ["keys.json"]


def test_init_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_link(*_args: Any, **_kwargs: Any) -> None:
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(os, "link", no_link)
    path = tmp_path / "keys.json"
    keys = init_keyfile(path)
    assert load_keyfile(path) == keys
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        init_keyfile(path)
    assert load_keyfile(path) == keys
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.json"]


def test_init_overwrite_replaces_keys(keyfile: Path) -> None:
    old = load_keyfile(keyfile)
    new = init_keyfile(keyfile, overwrite=True)
    assert new.key_id != old.key_id
    assert load_keyfile(keyfile) == new
    if os.name == "posix":
        assert _mode(keyfile) == 0o600


def test_ensure_creates_then_loads(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "keys.json"
    created, was_created = ensure_keyfile(path)
    assert was_created
    loaded, was_created = ensure_keyfile(path)
    assert not was_created
    assert loaded == created


def test_ensure_surfaces_load_errors(keyfile: Path) -> None:
    keyfile.write_text("{")
    keyfile.chmod(0o600)
    with pytest.raises(KeyFileError, match="JSON"):
        ensure_keyfile(keyfile)


def test_load_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(KeyFileError) as info:
        load_keyfile(path)
    message = str(info.value)
    assert message.startswith(f"密钥文件不存在: {path}")
    assert "ehcmpi keys init" in message


def test_load_directory(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    with pytest.raises(KeyFileError, match="目录"):
        load_keyfile(tmp_path)


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666, 0o700 | 0o007])
def test_load_refuses_wide_permissions(keyfile: Path, mode: int) -> None:
    keyfile.chmod(mode)
    with pytest.raises(KeyFileError, match=r"^密钥文件权限过宽") as info:
        load_keyfile(keyfile)
    assert f"{mode:04o}" in str(info.value)
    assert "chmod 600" in str(info.value)


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_load_accepts_owner_only_permissions(keyfile: Path, mode: int) -> None:
    keyfile.chmod(mode)
    assert load_keyfile(keyfile)


@pytest.mark.parametrize("text", ["", "{", "not json", '{"version": 1,', "\xff"])
def test_load_bad_json(keyfile: Path, text: str) -> None:
    keyfile.write_bytes(text.encode("latin-1"))
    with pytest.raises(KeyFileError, match=r"^密钥文件格式错误") as info:
        load_keyfile(keyfile)
    # No chained JSONDecodeError (whose .doc would hold the file's text).
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("text", ["[]", "1", '"x"', "null"])
def test_load_json_not_an_object(keyfile: Path, text: str) -> None:
    keyfile.write_text(text)
    with pytest.raises(KeyFileError, match=r"^密钥文件格式错误"):
        load_keyfile(keyfile)


@pytest.mark.parametrize("field", ["version", "key_id", "root_key", "data_key", "index_key"])
def test_load_missing_field(keyfile: Path, field: str) -> None:
    _rewrite(keyfile, **{field: None})
    with pytest.raises(KeyFileError, match=f"^密钥文件缺少字段 {field}") as info:
        load_keyfile(keyfile)
    assert f"missing field: {field}" in str(info.value)


@pytest.mark.parametrize(
    ("field", "length"),
    [("root_key", 15), ("root_key", 32), ("data_key", 0), ("data_key", 17), ("index_key", 16)],
)
def test_load_wrong_key_length(keyfile: Path, field: str, length: int) -> None:
    _rewrite(keyfile, **{field: "ab" * length})
    with pytest.raises(KeyFileError, match=r"^密钥长度错误") as info:
        load_keyfile(keyfile)
    assert field in str(info.value) and f"got {length}" in str(info.value)


@pytest.mark.parametrize("value", ["zz" * 16, 12345, None, ["00"]])
def test_load_key_not_hex(keyfile: Path, value: object) -> None:
    doc = json.loads(keyfile.read_text())
    doc["root_key"] = value
    keyfile.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="不是十六进制"):
        load_keyfile(keyfile)


@pytest.mark.parametrize("version", [0, 3, "2", None])
def test_load_unsupported_version(keyfile: Path, version: object) -> None:
    doc = json.loads(keyfile.read_text())
    doc["version"] = version
    keyfile.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match=r"^不支持的密钥文件版本"):
        load_keyfile(keyfile)


@pytest.mark.parametrize("key_id", ["", 7])
def test_load_bad_key_id(keyfile: Path, key_id: object) -> None:
    _rewrite(keyfile, key_id=key_id)
    with pytest.raises(KeyFileError, match=r"^密钥标识无效"):
        load_keyfile(keyfile)


def test_error_messages_never_contain_key_material(keyfile: Path) -> None:
    keys = load_keyfile(keyfile)
    secrets = _key_hex(keys)
    doc = json.loads(keyfile.read_text())
    broken = [
        json.dumps(doc)[:-5],  # truncated JSON
        json.dumps({**doc, "data_key": doc["data_key"][:-2]}),
        json.dumps({**doc, "index_key": doc["index_key"] + "g"}),
        json.dumps({k: v for k, v in doc.items() if k != "index_key"}),
    ]
    for text in broken:
        keyfile.write_text(text)
        with pytest.raises(KeyFileError) as info:
            load_keyfile(keyfile)
        rendered = str(info.value) + repr(info.value) + repr(info.value.args)
        for secret in secrets:
            assert secret not in rendered
            assert secret[:-2] not in rendered


def test_key_material_repr_and_str_show_only_key_id() -> None:
    keys = KeyMaterial.generate()
    for text in (repr(keys), str(keys), f"{keys}", f"{keys!r}", repr([keys])):
        assert keys.key_id in text
        for secret in _key_hex(keys):
            assert secret not in text
        assert "root_key" not in text


@pytest.mark.parametrize(
    ("field", "value"),
    [("root_key", b"x" * 15), ("data_key", b"x" * 32), ("index_key", b"x" * 16), ("key_id", "")],
)
def test_key_material_validates(field: str, value: object) -> None:
    fields: dict[str, Any] = {
        "key_id": "k",
        "root_key": b"r" * 16,
        "data_key": b"d" * 16,
        "index_key": b"i" * 32,
    }
    fields[field] = value
    with pytest.raises(ValueError) as info:
        KeyMaterial(**fields)
    assert "xxxxxxxx" not in str(info.value)


def test_key_material_is_frozen() -> None:
    keys = KeyMaterial.generate()
    with pytest.raises(AttributeError):
        keys.root_key = b"x" * 16  # type: ignore[misc]
