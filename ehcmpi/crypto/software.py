"""Software crypto provider and the EHC ID scheme (guideline §4.6 密码服务; DESIGN.md EHC ID).

The EHC ID (电子健康卡 ID) follows the national scheme recorded in DESIGN.md:

1. ``factor`` = XOR of the four 8-byte groups of the 32-byte master-index ID;
2. ``K_user = SM4-ECB(root_key, factor ‖ ~factor)`` (GB/T 32907-2016), one key per patient;
3. ``EHC ID = SM4-ECB(K_user, ascii(doc_type(2) ‖ doc_number) zero-padded to 16n bytes)``,
   upper-case hex.

The master-index ID (主索引号) is
``SM3(b"ehcmpi-mpi-v1" ‖ 0x00 ‖ utf8(node_code) ‖ 0x00 ‖ rand(16) ‖ 0x00 ‖ be64(time_ns))``
in upper-case hex (GB/T 32905-2016): 128 bits from ``os.urandom`` make it unpredictable and
collision-free in practice; the node code and time only add domain separation.

:class:`SoftwareCryptoProvider` implements :class:`ehcmpi.crypto.ports.CryptoProvider` from a
:class:`ehcmpi.crypto.keys.KeyMaterial`, holding keyed cipher objects built once.
"""

from __future__ import annotations

import os
import pathlib
import time
from typing import Final, Self

from ehcmpi.crypto.errors import CryptoError
from ehcmpi.crypto.keys import KeyMaterial, load_keyfile
from ehcmpi.crypto.sm import SM4_BLOCK_SIZE, HmacSm3, Sm4Ecb, Sm4Gcm, hmac_sm3, sm3

__all__ = [
    "MPI_ID_DOMAIN",
    "SoftwareCryptoProvider",
    "compute_ehc_id",
    "derive_user_key",
    "diversification_factor",
    "new_mpi_id",
]

MPI_ID_DOMAIN: Final = b"ehcmpi-mpi-v1"
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_INDEX_SEPARATOR: Final = b"\x1f"
QR_PROTECT_LABEL: Final = b"ehcmpi qr protect key v1"


def diversification_factor(mpi_id: str) -> bytes:
    """XOR of the four 8-byte groups of the master-index ID (8 bytes)."""
    raw = _mpi_id_bytes(mpi_id)
    value = 0
    for offset in range(0, len(raw), 8):
        value ^= int.from_bytes(raw[offset : offset + 8], "big")
    return value.to_bytes(8, "big")


def derive_user_key(root_key: bytes, mpi_id: str) -> bytes:
    """``K_user = SM4-ECB(root_key, factor ‖ ~factor)`` for one master-index ID (16 bytes)."""
    return _derive_user_key(Sm4Ecb(root_key), mpi_id)


def compute_ehc_id(root_key: bytes, mpi_id: str, doc_type: str, doc_number: str) -> str:
    """The EHC ID of a patient's document under the issuer ``root_key``; see the module doc."""
    return _ehc_id(Sm4Ecb(root_key), mpi_id, doc_type, doc_number)


def new_mpi_id(node_code: str) -> str:
    """A fresh master-index ID (64 upper-case hex chars); see the module doc for the scheme."""
    material = b"\x00".join(
        (
            MPI_ID_DOMAIN,
            node_code.encode("utf-8"),
            os.urandom(16),
            time.time_ns().to_bytes(8, "big"),
        )
    )
    return sm3(material).hex().upper()


def _derive_user_key(root: Sm4Ecb, mpi_id: str) -> bytes:
    factor = diversification_factor(mpi_id)
    return root.encrypt(factor + bytes(b ^ 0xFF for b in factor))


def _ehc_id(root: Sm4Ecb, mpi_id: str, doc_type: str, doc_number: str) -> str:
    block = _ehc_input(doc_type, doc_number)
    user_key = _derive_user_key(root, mpi_id)
    return Sm4Ecb(user_key).encrypt(block).hex().upper()


def _mpi_id_bytes(mpi_id: str) -> bytes:
    if len(mpi_id) != 64 or not _HEX_DIGITS.issuperset(mpi_id):
        raise ValueError(
            "主索引号格式错误: 应为 64 位十六进制字符 "
            "(master-index ID must be 64 hexadecimal characters)"
        )
    return bytes.fromhex(mpi_id)


EHC_MIN_INPUT = 32


def _ehc_input(doc_type: str, doc_number: str) -> bytes:
    if len(doc_type) != 2 or not (doc_type.isascii() and doc_type.isprintable()):
        raise ValueError(
            "证件类型代码错误: 应为 2 位 ASCII 字符，如 01 "
            "(document type must be 2 ASCII characters, e.g. 01)"
        )
    # NUL would make the zero padding ambiguous; the number itself is PII, so not echoed.
    # Numbers are ASCII for every type but 军官证 (e.g. 南字第123456号), encoded as UTF-8,
    # of which ASCII is a subset, so ASCII numbers give the national scheme's bytes.
    if not doc_number or not doc_number.isprintable():
        raise ValueError(
            "证件号码错误: 应为非空的可打印字符 (document number must be non-empty and printable)"
        )
    data = (doc_type + doc_number).encode("utf-8")
    # Zero padding to a multiple of the block and to at least two blocks, so that every EHC
    # ID is at least 64 hex characters, as the national card ID is, whatever the document.
    size = max(EHC_MIN_INPUT, len(data) + (-len(data) % SM4_BLOCK_SIZE))
    return data.ljust(size, b"\x00")


def _require_block(block: bytes) -> None:
    if len(block) != SM4_BLOCK_SIZE:
        raise ValueError("二维码保护数据应为 16 字节 (QR protection block must be 16 bytes)")


def _require_context(context: str) -> None:
    if not context:
        raise ValueError("加密上下文不能为空 (encryption context must not be empty)")


def _require_kind(kind: str) -> None:
    # Without 0x1F in kind, kind ‖ 0x1F ‖ value splits one way only: no cross-kind collisions.
    if not kind or "\x1f" in kind:
        raise ValueError(
            "索引类别不能为空或包含 0x1F 字符 (blind index kind must be non-empty without 0x1F)"
        )


class SoftwareCryptoProvider:
    """:class:`~ehcmpi.crypto.ports.CryptoProvider` backed by keys held in process memory."""

    __slots__ = ("_data", "_index", "_key_id", "_protect", "_root")

    def __init__(self, keys: KeyMaterial) -> None:
        self._key_id = keys.key_id
        self._root = Sm4Ecb(keys.root_key)
        self._data = Sm4Gcm(keys.data_key)
        self._index = HmacSm3(keys.index_key)
        # The QR protection key, derived from the root key until the key file holds its own.
        self._protect = Sm4Ecb(hmac_sm3(keys.root_key, QR_PROTECT_LABEL)[:SM4_BLOCK_SIZE])

    @classmethod
    def from_keyfile(cls, path: pathlib.Path) -> Self:
        """Provider for the key file at ``path`` (see :func:`ehcmpi.crypto.keys.load_keyfile`)."""
        return cls(load_keyfile(path))

    @property
    def key_id(self) -> str:
        return self._key_id

    def ehc_id(self, mpi_id: str, doc_type: str, doc_number: str) -> str:
        return _ehc_id(self._root, mpi_id, doc_type, doc_number)

    def new_mpi_id(self, node_code: str) -> str:
        return new_mpi_id(node_code)

    def encrypt_field(self, plaintext: str, context: str) -> bytes:
        _require_context(context)
        return self._data.encrypt(plaintext.encode("utf-8"), context.encode("utf-8"))

    def decrypt_field(self, blob: bytes, context: str) -> str:
        _require_context(context)
        plaintext = self._data.decrypt(blob, context.encode("utf-8"))
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError() from None

    def blind_index(self, kind: str, value: str) -> bytes:
        _require_kind(kind)
        return self._index.digest(kind.encode("utf-8") + _INDEX_SEPARATOR + value.encode("utf-8"))

    def qr_seal(self, block: bytes) -> bytes:
        _require_block(block)
        return self._protect.encrypt(block)

    def qr_unseal(self, block: bytes) -> bytes:
        _require_block(block)
        return self._protect.decrypt(block)

    def __repr__(self) -> str:
        return f"SoftwareCryptoProvider(key_id={self._key_id!r})"
