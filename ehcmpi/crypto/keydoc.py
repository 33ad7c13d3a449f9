"""The JSON document of a key set, shared by the key file and the HSM-wrapped key file (§6.1).

Version 2 (what ``ehcmpi keys init`` writes)::

    {"version": 2, "key_id": "<16 hex>", "created": "<ISO 8601>", "rotated": "<ISO 8601>"?,
     "root_key": S, "index_key": S,
     "data_key": S, "data_key_id": "<id>", "protect_key": S, "protect_key_id": "<id>",
     "signing_key": {"id": "<id>", "private_key": S, "public_key": "<128 hex>"},
     "retired": {"data_keys": [{"id", "key": S}], "protect_keys": [{"id", "key": S}],
                 "signing_keys": [{"id", "private_key": S, "public_key"}]}}

where each secret ``S`` is what a codec makes of the key bytes: lower-case hex in the software
key file, ``{"wrapped": "<hex>"}`` (wrapped inside the token by its key-encryption key) in the
PKCS#11 provider's file. Version 1 — ``version``, ``key_id``, ``created``, ``root_key``,
``data_key``, ``index_key`` — is still read (see :mod:`ehcmpi.crypto.material`).

Errors name the file and the field, never a value: the value may be a key.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from ehcmpi.crypto.errors import KeyFileError
from ehcmpi.crypto.material import KEY_SIZES, KeyMaterial, RetiredKey, SigningKey

__all__ = ["KEYFILE_VERSION", "Opener", "Sealer", "from_document", "hex_opener", "to_document"]

KEYFILE_VERSION: Final = 2
SUPPORTED: Final = (1, 2)
#: (role, key bytes) → the JSON value stored; role is e.g. "root_key", "retired.data_keys[0]"
Sealer = Callable[[str, bytes], Any]
#: (role, JSON value, size) → key bytes; raises KeyFileError
Opener = Callable[[str, Any, int], bytes]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def to_document(keys: KeyMaterial, seal: Sealer, *, created: str | None = None) -> dict[str, Any]:
    """The version-2 document of ``keys``, every secret passed through ``seal``."""

    def signing(role: str, key: SigningKey) -> dict[str, Any]:
        return {
            "id": key.id,
            "private_key": seal(role, key.private_key),
            "public_key": key.public_key.hex(),
        }

    doc: dict[str, Any] = {
        "version": KEYFILE_VERSION,
        "key_id": keys.key_id,
        "created": created or now(),
        "root_key": seal("root_key", keys.root_key),
        "index_key": seal("index_key", keys.index_key),
        "data_key": seal("data_key", keys.data_key),
        "data_key_id": keys.data_key_id,
        "protect_key": seal("protect_key", keys.protect_key),
        "protect_key_id": keys.protect_key_id,
    }
    if keys.signing_key is not None:
        doc["signing_key"] = signing("signing_key", keys.signing_key)
    doc["retired"] = {
        "data_keys": [
            {"id": k.id, "key": seal(f"retired.data_keys[{i}]", k.key)}
            for i, k in enumerate(keys.retired_data_keys)
        ],
        "protect_keys": [
            {"id": k.id, "key": seal(f"retired.protect_keys[{i}]", k.key)}
            for i, k in enumerate(keys.retired_protect_keys)
        ],
        "signing_keys": [
            signing(f"retired.signing_keys[{i}]", key)
            for i, key in enumerate(keys.retired_signing_keys)
        ],
    }
    return doc


def hex_opener(path: pathlib.Path) -> Opener:
    """The software key file's codec: secrets are hex strings."""

    def open_hex(role: str, value: Any, size: int) -> bytes:
        try:
            raw = bytes.fromhex(value) if isinstance(value, str) else None
        except ValueError:
            raw = None
        if raw is None:
            raise KeyFileError(
                f"密钥文件字段 {role} 不是十六进制字符串: {path} "
                f"(key file field {role} is not a hex string)"
            )
        return check_size(path, role, raw, size)

    return open_hex


def check_size(path: pathlib.Path, role: str, raw: bytes, size: int) -> bytes:
    if len(raw) != size:
        raise KeyFileError(
            f"密钥长度错误: {path} 中 {role} 应为 {size} 字节，实为 {len(raw)} 字节 "
            f"(wrong key length in key file: {role} must be {size} bytes, got {len(raw)})"
        )
    return raw


def _missing(path: pathlib.Path, name: str) -> KeyFileError:
    return KeyFileError(f"密钥文件缺少字段 {name}: {path} (key file missing field: {name})")


def _malformed(path: pathlib.Path, name: str) -> KeyFileError:
    return KeyFileError(
        f"密钥文件字段 {name} 格式错误: {path} (key file field {name} is malformed)"
    )


def _field(path: pathlib.Path, doc: dict[str, Any], name: str) -> Any:
    if name not in doc:
        raise _missing(path, name)
    return doc[name]


def _text(path: pathlib.Path, doc: dict[str, Any], name: str) -> str:
    value = _field(path, doc, name)
    if not isinstance(value, str) or not value:
        raise KeyFileError(f"密钥标识无效: {path} (key file field {name} must be a string)")
    return value


def from_document(doc: dict[str, Any], path: pathlib.Path, open_secret: Opener) -> KeyMaterial:
    """Validate a version-1 or version-2 document and open its secrets; :class:`KeyFileError`."""
    for name in ("version", "key_id", "root_key", "data_key", "index_key"):
        _field(path, doc, name)
    if doc["version"] not in SUPPORTED:
        raise KeyFileError(
            f"不支持的密钥文件版本: {path} (unsupported key file version; "
            f"expected one of {', '.join(map(str, SUPPORTED))})"
        )
    key_id = _text(path, doc, "key_id")

    def secret(name: str) -> bytes:
        return open_secret(name, doc[name], KEY_SIZES[name])

    base = {
        "key_id": key_id,
        "root_key": secret("root_key"),
        "data_key": secret("data_key"),
        "index_key": secret("index_key"),
    }
    if doc["version"] == 1:
        return _build(path, base)
    for name in ("data_key_id", "protect_key_id", "protect_key"):
        _field(path, doc, name)
    retired = doc.get("retired", {})
    if not isinstance(retired, dict):
        raise _malformed(path, "retired")
    return _build(
        path,
        {
            **base,
            "protect_key": secret("protect_key"),
            "data_key_id": _text(path, doc, "data_key_id"),
            "protect_key_id": _text(path, doc, "protect_key_id"),
            "signing_key": (
                _signing(path, doc["signing_key"], "signing_key", open_secret)
                if "signing_key" in doc
                else None
            ),
            "retired_data_keys": _retired(path, retired, "data_keys", open_secret),
            "retired_protect_keys": _retired(path, retired, "protect_keys", open_secret),
            "retired_signing_keys": tuple(
                _signing(path, item, f"retired.signing_keys[{i}]", open_secret)
                for i, item in enumerate(_list(path, retired, "signing_keys"))
            ),
        },
    )


def _build(path: pathlib.Path, fields: dict[str, Any]) -> KeyMaterial:
    try:
        return KeyMaterial(**fields)
    except ValueError as exc:  # ids only: key sizes were checked field by field
        raise KeyFileError(f"{exc}: {path}") from None


def _list(path: pathlib.Path, retired: dict[str, Any], name: str) -> list[Any]:
    items = retired.get(name, [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise _malformed(path, f"retired.{name}")
    return items


def _retired(
    path: pathlib.Path, retired: dict[str, Any], name: str, open_secret: Opener
) -> tuple[RetiredKey, ...]:
    keys = []
    for i, item in enumerate(_list(path, retired, name)):
        role = f"retired.{name}[{i}]"
        key_id = _text(path, item, "id")
        keys.append(RetiredKey(key_id, open_secret(role, _field(path, item, "key"), 16)))
    return tuple(keys)


def _signing(path: pathlib.Path, item: Any, role: str, open_secret: Opener) -> SigningKey:
    if not isinstance(item, dict):
        raise _malformed(path, role)
    public = hex_opener(path)(f"{role}.public_key", _field(path, item, "public_key"), 64)
    private = open_secret(role, _field(path, item, "private_key"), 32)
    try:
        key = SigningKey(_text(path, item, "id"), private, public)
        if not key.matches():
            raise ValueError
    except ValueError:
        raise KeyFileError(
            f"SM2 密钥对不匹配或无效: {path} 中 {role} "
            f"(SM2 key pair {role} is invalid: public key is not the private key's)"
        ) from None
    return key
