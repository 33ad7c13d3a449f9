"""The keys a crypto provider holds, and how they rotate (guideline §4.6 密码服务, §6.1).

Roles:

- ``root_key``  (SM4, 16 bytes): issuer root key of the EHC ID scheme (DESIGN.md "EHC ID").
- ``index_key`` (HMAC-SM3, 32 bytes): blind indexes, exact lookup without plaintext.
- ``data_key``  (SM4-GCM, 16 bytes): personal information at rest (``encrypt_field``).
- ``protect_key`` (SM4, 16 bytes): the dynamic part of QR codes (DESIGN.md "QR codes").
- ``signing_key`` (SM2 key pair): signatures of this node (GB/T 32918.2), SM2 decryption.

What rotates (data, protect and SM2 keys) and what cannot (root and index keys), and why, is
set out in :mod:`ehcmpi.crypto.keys`; :func:`rotate` implements it. A version-1 key set has no
protect key of its own: it is derived from the root key (:func:`derived_protect_key`).

Rotation never deletes a key. Nothing in this module ever puts key bytes into ``repr``,
``str`` or an error message.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Final

from ehcmpi.crypto import sm2
from ehcmpi.crypto.sm import SM4_BLOCK_SIZE, hmac_sm3

__all__ = [
    "KEY_SIZES",
    "QR_PROTECT_LABEL",
    "KeyMaterial",
    "RetiredKey",
    "SigningKey",
    "derived_protect_key",
    "new_key_id",
    "rotate",
]

KEY_SIZES: Final = {"root_key": 16, "data_key": 16, "index_key": 32, "protect_key": 16}
QR_PROTECT_LABEL: Final = b"ehcmpi qr protect key v1"
ROTATING: Final = ("data", "protect", "signing")
_ID: Final = re.compile(r"[0-9a-f]{16}")


def new_key_id() -> str:
    """A random 16-hex-char key id (8 bytes: what the data-key header carries)."""
    return os.urandom(8).hex()


def derived_protect_key(root_key: bytes) -> bytes:
    """The QR protect key of a version-1 key file, derived from its root key."""
    return hmac_sm3(root_key, QR_PROTECT_LABEL)[:SM4_BLOCK_SIZE]


def size_problem(name: str, value: object, size: int) -> str | None:
    if not isinstance(value, bytes):
        return f"密钥类型错误: {name} 应为字节串 ({name} must be bytes)"
    if len(value) != size:
        return (
            f"密钥长度错误: {name} 应为 {size} 字节，实为 {len(value)} 字节 "
            f"(wrong key length: {name} must be {size} bytes, got {len(value)})"
        )
    return None


def _require(problem: str | None) -> None:
    if problem:
        raise ValueError(problem)


def _require_id(key_id: object) -> None:
    if not isinstance(key_id, str) or not key_id:
        raise ValueError("密钥标识不能为空 (key_id must be a non-empty string)")


@dataclass(frozen=True, repr=False)
class RetiredKey:
    """A data or protect key kept after rotation, to decrypt what it sealed."""

    id: str
    key: bytes

    def __post_init__(self) -> None:
        _require_id(self.id)
        _require(size_problem("key", self.key, 16))

    def __repr__(self) -> str:
        return f"RetiredKey(id={self.id!r})"

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class SigningKey:
    """An SM2 key pair: private scalar (32 bytes) and public point ``x ‖ y`` (64 bytes)."""

    id: str
    private_key: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        _require_id(self.id)
        _require(size_problem("private_key", self.private_key, sm2.PRIVATE_KEY_SIZE))
        _require(size_problem("public_key", self.public_key, sm2.PUBLIC_KEY_SIZE))

    @classmethod
    def generate(cls, key_id: str) -> SigningKey:
        private, public = sm2.generate_keypair()
        return cls(key_id, private, public)

    def matches(self) -> bool:
        """Whether the public key is the private key's (``d·G``)."""
        return sm2.public_from_private(self.private_key) == self.public_key

    def __repr__(self) -> str:
        return f"SigningKey(id={self.id!r})"

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class KeyMaterial:
    """A provider's keys; ``repr``/``str`` show only ids.

    ``KeyMaterial(key_id, root_key, data_key, index_key)`` is a version-1 key set: its data and
    protect key ids are ``key_id`` and its protect key is derived from the root key.
    """

    key_id: str
    root_key: bytes
    data_key: bytes
    index_key: bytes
    #: empty: derived from ``root_key`` (version-1 key files)
    protect_key: bytes = b""
    #: empty: ``key_id`` (the key set's first key of that kind)
    data_key_id: str = ""
    protect_key_id: str = ""
    signing_key: SigningKey | None = None
    retired_data_keys: tuple[RetiredKey, ...] = field(default=())
    retired_protect_keys: tuple[RetiredKey, ...] = field(default=())
    retired_signing_keys: tuple[SigningKey, ...] = field(default=())

    def __post_init__(self) -> None:
        _require_id(self.key_id)
        if not self.protect_key and isinstance(self.root_key, bytes):
            object.__setattr__(self, "protect_key", derived_protect_key(self.root_key))
        for name in ("data_key_id", "protect_key_id"):
            if not getattr(self, name):
                object.__setattr__(self, name, self.key_id)
        for name, size in KEY_SIZES.items():
            _require(size_problem(name, getattr(self, name), size))
        for ids in (self.data_key_ids, self.protect_key_ids, self.signing_key_ids):
            if len(set(ids)) != len(ids):
                raise ValueError("密钥标识重复 (duplicate key id)")
        for key_id in self.data_key_ids:
            if key_id != self.key_id and not _ID.fullmatch(key_id):
                raise ValueError(
                    "数据密钥标识应为 16 位小写十六进制 "
                    "(a rotated data key id must be 16 lower-case hex chars)"
                )

    @property
    def data_key_ids(self) -> tuple[str, ...]:
        """Current first, then retired from newest to oldest."""
        return (self.data_key_id, *(k.id for k in reversed(self.retired_data_keys)))

    @property
    def protect_key_ids(self) -> tuple[str, ...]:
        return (self.protect_key_id, *(k.id for k in reversed(self.retired_protect_keys)))

    @property
    def signing_key_ids(self) -> tuple[str, ...]:
        current = (self.signing_key.id,) if self.signing_key else ()
        return (*current, *(k.id for k in reversed(self.retired_signing_keys)))

    def __repr__(self) -> str:
        return f"KeyMaterial(key_id={self.key_id!r})"

    __str__ = __repr__

    @classmethod
    def generate(cls) -> KeyMaterial:
        """Fresh random keys from ``os.urandom`` (SM2 from GmSSL) under a new ``key_id``."""
        key_id = new_key_id()
        return cls(
            key_id=key_id,
            root_key=os.urandom(KEY_SIZES["root_key"]),
            data_key=os.urandom(KEY_SIZES["data_key"]),
            index_key=os.urandom(KEY_SIZES["index_key"]),
            protect_key=os.urandom(KEY_SIZES["protect_key"]),
            signing_key=SigningKey.generate(key_id),
        )


def _fresh_id(keys: KeyMaterial, taken: tuple[str, ...]) -> str:
    while (key_id := new_key_id()) in taken or key_id == keys.key_id:
        pass
    return key_id


def rotate(
    keys: KeyMaterial, *, data: bool = True, protect: bool = True, signing: bool = True
) -> KeyMaterial:
    """New data / protect / SM2 keys; the previous ones are kept as retired (module doc)."""
    changes: dict[str, object] = {}
    if data:
        changes["data_key"] = os.urandom(KEY_SIZES["data_key"])
        changes["data_key_id"] = _fresh_id(keys, keys.data_key_ids)
        changes["retired_data_keys"] = (
            *keys.retired_data_keys,
            RetiredKey(keys.data_key_id, keys.data_key),
        )
    if protect:
        changes["protect_key"] = os.urandom(KEY_SIZES["protect_key"])
        changes["protect_key_id"] = _fresh_id(keys, keys.protect_key_ids)
        changes["retired_protect_keys"] = (
            *keys.retired_protect_keys,
            RetiredKey(keys.protect_key_id, keys.protect_key),
        )
    if signing:
        changes["signing_key"] = SigningKey.generate(_fresh_id(keys, keys.signing_key_ids))
        if keys.signing_key is not None:
            changes["retired_signing_keys"] = (*keys.retired_signing_keys, keys.signing_key)
    return replace(keys, **changes)  # type: ignore[arg-type]
