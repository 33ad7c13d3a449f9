"""Software crypto provider and the EHC ID scheme (guideline §4.6 密码服务; DESIGN.md EHC ID).

The EHC ID (电子健康卡 ID) follows the national scheme recorded in DESIGN.md:

1. ``factor`` = XOR of the four 8-byte groups of the 32-byte master-index ID;
2. ``K_user = SM4-ECB(root_key, factor ‖ ~factor)`` (GB/T 32907-2016), one key per patient;
3. ``EHC ID = SM4-ECB(K_user, ascii(doc_type(2) ‖ doc_number) zero-padded to 16n bytes)``,
   upper-case hex.

``encrypt_field`` blobs are ``nonce(12) ‖ ciphertext ‖ tag(16)`` (SM4-GCM) under the key set's
first data key, and ``E5 4B ‖ key id(8) ‖ nonce ‖ ciphertext ‖ tag`` under a data key made by a
rotation (see :mod:`ehcmpi.crypto.keys`), so that data from before any rotation keeps its bytes.

The master-index ID (主索引号, 32 bytes in upper-case hex) is ``be48(unix_ms) ‖ h[6:]`` with
``h = SM3(b"ehcmpi-mpi-v2" ‖ 0x00 ‖ utf8(node_code) ‖ 0x00 ‖ rand(16) ‖ 0x00 ‖ be64(time_ns))``
(GB/T 32905-2016): 128 bits from ``os.urandom`` make it unpredictable and collision-free in
practice, and the node code and time add domain separation.  The leading milliseconds, as in
UUIDv7 (RFC 9562 §5.7), put IDs in the order they were made.  Every B-tree keyed by the
master index (the patients' primary key, each child table's ``mpi_id`` index, the foreign-key
checks against them) then takes a new patient's entries at its right-hand edge, in pages
already in memory, instead of one random leaf per index: at 1,000,000 patients PostgreSQL's
CPU per registration fell by about a quarter (``bench/README.md``).  The prefix tells no
more than the record's ``created_at``; the diversification factor (step 1 above) still
XORs in 26 bytes of the hash.  IDs made before (``v1``: the hash alone) keep working, since
nothing reads the prefix.

:class:`SoftwareCryptoProvider` implements :class:`ehcmpi.crypto.ports.CryptoProvider` from a
:class:`ehcmpi.crypto.keys.KeyMaterial`, holding keyed cipher objects built once.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Final, Self

from ehcmpi.crypto import sm2
from ehcmpi.crypto.errors import CryptoError, MissingKeyError
from ehcmpi.crypto.keys import KeyMaterial, load_keyfile
from ehcmpi.crypto.material import QR_PROTECT_LABEL, RetiredKey, SigningKey
from ehcmpi.crypto.ports import DEFAULT_SM2_USER_ID, PublicKeyInfo
from ehcmpi.crypto.sm import SM4_BLOCK_SIZE, BlockCipher, HmacSm3, Sm4Ecb, Sm4Gcm, sm3

__all__ = [
    "DATA_KEY_MAGIC",
    "MPI_ID_DOMAIN",
    "QR_PROTECT_LABEL",
    "SoftwareCryptoProvider",
    "compute_ehc_id",
    "derive_user_key",
    "diversification_factor",
    "new_mpi_id",
]

MPI_ID_DOMAIN: Final = b"ehcmpi-mpi-v2"
_MPI_TIME_BYTES: Final = 6  # milliseconds since 1970: until the year 10889
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_INDEX_SEPARATOR: Final = b"\x1f"
DATA_KEY_MAGIC: Final = b"\xe5\x4b"
_HEADER_SIZE: Final = len(DATA_KEY_MAGIC) + 8


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
    now = time.time_ns()
    material = b"\x00".join(
        (MPI_ID_DOMAIN, node_code.encode("utf-8"), os.urandom(16), now.to_bytes(8, "big"))
    )
    prefix = (now // 1_000_000).to_bytes(_MPI_TIME_BYTES, "big")
    return (prefix + sm3(material)[_MPI_TIME_BYTES:]).hex().upper()


def _derive_user_key(root: BlockCipher, mpi_id: str) -> bytes:
    factor = diversification_factor(mpi_id)
    return root.encrypt(factor + bytes(b ^ 0xFF for b in factor))


def _ehc_id(root: BlockCipher, mpi_id: str, doc_type: str, doc_number: str) -> str:
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


def _header(key_id: str) -> bytes:
    return DATA_KEY_MAGIC + bytes.fromhex(key_id)


def _current_first(
    current: tuple[str, bytes], retired: Sequence[RetiredKey]
) -> list[tuple[str, bytes]]:
    """(id, key) of the current key and then the retired ones, newest first."""
    return [current, *((k.id, k.key) for k in reversed(retired))]


def _data_keys(keys: KeyMaterial) -> list[tuple[str, bytes]]:
    """(id, key) of every data key, the current first."""
    return _current_first((keys.data_key_id, keys.data_key), keys.retired_data_keys)


def _data_by_header(keys: KeyMaterial) -> dict[bytes, Sm4Gcm]:
    """The ciphers of the data keys that write a header (all but the key set's first)."""
    return {_header(i): Sm4Gcm(k) for i, k in _data_keys(keys) if i != keys.key_id}


def _signing_keys(keys: KeyMaterial) -> list[SigningKey]:
    """Every SM2 key pair, the current first."""
    current = [keys.signing_key] if keys.signing_key else []
    return current + list(reversed(keys.retired_signing_keys))


def _protect_keys(keys: KeyMaterial) -> list[tuple[str, bytes]]:
    """(id, key) of every QR protect key, the current first."""
    return _current_first((keys.protect_key_id, keys.protect_key), keys.retired_protect_keys)


class SoftwareCryptoProvider:
    """:class:`~ehcmpi.crypto.ports.CryptoProvider` backed by keys held in process memory.

    ``ecb`` builds the cipher of the root and protect keys: :class:`Sm4Ecb` here; the PKCS#11
    provider passes one whose key stays inside the token.
    """

    __slots__ = (
        "_data",
        "_data_by_header",
        "_data_header",
        "_data_plain",
        "_ecb",
        "_index",
        "_info",
        "_key_id",
        "_protect",
        "_protect_ids",
        "_reread",
        "_root",
        "_signing",
    )

    def __init__(
        self,
        keys: KeyMaterial,
        *,
        ecb: Callable[[bytes], BlockCipher] = Sm4Ecb,
        provider: str = "software",
        reread: Callable[[], KeyMaterial | None] | None = None,
    ) -> None:
        """``reread``: the key file's keys if it changed since last asked, else None — so
        that keys another process added (``keys rotate``) open what it sealed with them."""
        self._key_id = keys.key_id
        self._ecb = ecb
        self._reread = reread
        self._root = ecb(keys.root_key)
        self._index = HmacSm3(keys.index_key)
        self._data = Sm4Gcm(keys.data_key)
        plain = keys.data_key_id == keys.key_id
        self._data_header = b"" if plain else _header(keys.data_key_id)
        self._data_by_header = _data_by_header(keys)
        self._data_plain = next((Sm4Gcm(k) for i, k in _data_keys(keys) if i == keys.key_id), None)
        self._protect_ids = keys.protect_key_ids  # this process seals with the first
        self._protect = [ecb(key) for _, key in _protect_keys(keys)]
        self._signing = _signing_keys(keys)
        self._info = PublicKeyInfo(
            provider=provider,
            key_id=keys.key_id,
            data_key_ids=keys.data_key_ids,
            protect_key_ids=keys.protect_key_ids,
            signing_keys=tuple((k.id, sm2.public_key_pem(k.public_key)) for k in self._signing),
        )

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
        blob = self._data.encrypt(plaintext.encode("utf-8"), context.encode("utf-8"))
        return self._data_header + blob if self._data_header else blob

    def decrypt_field(self, blob: bytes, context: str) -> str:
        _require_context(context)
        plaintext = self._open_field(blob, context.encode("utf-8"))
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError() from None

    def _open_field(self, blob: bytes, aad: bytes) -> bytes:
        header = blob[:_HEADER_SIZE]
        rotated = self._data_by_header.get(header)
        if rotated is None and header[:2] == DATA_KEY_MAGIC and self._learn():
            rotated = self._data_by_header.get(header)  # sealed by a newer data key
        if rotated is not None:
            try:
                return rotated.decrypt(blob[_HEADER_SIZE:], aad)
            except CryptoError:
                pass  # a first-key blob whose random nonce happens to look like a header
        if self._data_plain is None:
            raise CryptoError()
        return self._data_plain.decrypt(blob, aad)

    def blind_index(self, kind: str, value: str) -> bytes:
        _require_kind(kind)
        return self._index.digest(kind.encode("utf-8") + _INDEX_SEPARATOR + value.encode("utf-8"))

    def qr_seal(self, block: bytes) -> bytes:
        _require_block(block)
        return self._protect[0].encrypt(block)

    def qr_unseal(self, block: bytes) -> bytes:
        _require_block(block)
        return self._protect[0].decrypt(block)

    def qr_unseal_candidates(self, block: bytes) -> tuple[bytes, ...]:
        _require_block(block)
        self._learn()  # asked when the current key failed: perhaps a newer key sealed it
        return tuple(cipher.decrypt(block) for cipher in self._protect)

    def _learn(self) -> bool:
        """Take the data, QR protect and SM2 keys that another process added to the key file
        (``keys rotate``, or a worker restarted after it) so that what it sealed with them
        opens here; this process goes on sealing with its own until it restarts.  True if
        new keys were taken.  Each list is replaced whole: other threads see old or new."""
        keys = self._reread() if self._reread is not None else None
        if keys is None or keys.key_id != self._key_id:
            return False  # unchanged, or another key set (storage.key_check refuses it)
        protect = dict(_protect_keys(keys))
        added = [i for i in protect if i not in self._protect_ids]
        if added:
            self._protect = [*self._protect, *(self._ecb(protect[i]) for i in added)]
            self._protect_ids = (*self._protect_ids, *added)
        data = _data_by_header(keys)
        learned_data = data.keys() != self._data_by_header.keys()
        if learned_data:
            self._data_by_header = data
        known = {k.id for k in self._signing}
        signing = [k for k in _signing_keys(keys) if k.id not in known]
        if signing:
            self._signing = [*self._signing, *signing]
        return bool(added) or learned_data or bool(signing)

    def _signing_key(self) -> SigningKey:
        if not self._signing:
            raise MissingKeyError(
                "密钥集没有 SM2 签名密钥，请运行 `ehcmpi keys rotate --signing` "
                "(the key set has no SM2 key pair; run `ehcmpi keys rotate --signing`)"
            )
        return self._signing[0]

    def sm2_sign(self, data: bytes, user_id: bytes | str = DEFAULT_SM2_USER_ID) -> bytes:
        key = self._signing_key()
        return sm2.sm2_sign(key.private_key, key.public_key, data, user_id)

    def sm2_verify(
        self,
        data: bytes,
        signature: bytes,
        public_key: bytes | str | None = None,
        user_id: bytes | str = DEFAULT_SM2_USER_ID,
    ) -> bool:
        keys = [public_key] if public_key is not None else (k.public_key for k in self._tries())
        return any(sm2.sm2_verify(sm2.load_public_key(k), data, signature, user_id) for k in keys)

    def sm2_encrypt(self, plaintext: bytes, public_key: bytes | str | None = None) -> bytes:
        target = self._signing_key().public_key if public_key is None else public_key
        return sm2.sm2_encrypt(sm2.load_public_key(target), plaintext)

    def sm2_decrypt(self, ciphertext: bytes) -> bytes:
        self._signing_key()
        for key in self._tries():
            try:
                return sm2.sm2_decrypt(key.private_key, ciphertext)
            except CryptoError:
                continue
        raise CryptoError()

    def _tries(self) -> Iterator[SigningKey]:
        """Every SM2 key pair, then those a rotation in another process added (``_learn``
        appends them): each tried once."""
        known = self._signing
        yield from known
        if self._learn():
            yield from self._signing[len(known) :]

    def sm2_public_key_pem(self) -> str:
        return sm2.public_key_pem(self._signing_key().public_key)

    def public_info(self) -> PublicKeyInfo:
        return self._info

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self._key_id!r})"
