"""The crypto port of the domain core (guideline §4.6 密码服务, §6.1 通用安全要求).

The core asks for cryptographic services only through :class:`CryptoProvider`. Whoever holds
the keys implements it: :class:`ehcmpi.crypto.software.SoftwareCryptoProvider` from a key file,
or :class:`ehcmpi.crypto.pkcs11.Pkcs11CryptoProvider`, whose keys are held wrapped by a
key-encryption key inside an HSM. Every implementation must give byte-identical EHC IDs and
blind indexes for the same keys, so the formulas are part of the port.

SM2 (GB/T 32918-2016) signatures use the signer's distinguishing ID in ``Z_A``; the default is
``"1234567812345678"`` (GB/T 35276-2017 §10, GM/T 0009-2012), as OpenSSL and GmSSL use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

__all__ = ["DEFAULT_SM2_USER_ID", "CryptoProvider", "PublicKeyInfo"]

DEFAULT_SM2_USER_ID: Final = b"1234567812345678"


@dataclass(frozen=True)
class PublicKeyInfo:
    """What may be shown about a provider's keys: ids and public keys, never secrets."""

    provider: str
    key_id: str
    #: current first, then retired from newest to oldest (the same order below)
    data_key_ids: tuple[str, ...]
    protect_key_ids: tuple[str, ...]
    #: ``(id, SubjectPublicKeyInfo PEM)`` of each SM2 key pair
    signing_keys: tuple[tuple[str, str], ...]


@runtime_checkable
class CryptoProvider(Protocol):
    """Cryptographic services for the patient master index."""

    @property
    def key_id(self) -> str:
        """Identifier of the key set in use (stored next to ciphertexts and blind indexes)."""
        ...

    def ehc_id(self, mpi_id: str, doc_type: str, doc_number: str) -> str:
        """Electronic health card ID (DESIGN.md "EHC ID"), 64 or more upper-case hex chars.

        ``K_user = SM4-ECB(root, factor ‖ ~factor)`` where ``factor`` is the XOR of the four
        8-byte groups of the master-index ID (64 hex chars = 32 bytes); the EHC ID is
        ``SM4-ECB(K_user, utf8(doc_type(2) ‖ doc_number))`` zero-padded to a multiple of 16
        bytes and to at least 32 bytes (so at least 64 hex chars, like the national card ID),
        in upper-case hex. ``doc_number`` must already be normalized by the caller.
        """
        ...

    def new_mpi_id(self, node_code: str) -> str:
        """A fresh master-index ID: 64 upper-case hex chars, unpredictable and unique."""
        ...

    def encrypt_field(self, plaintext: str, context: str) -> bytes:
        """Encrypt a PII value; ``context`` (e.g. ``"patient.phone"``) is bound in as AAD."""
        ...

    def decrypt_field(self, blob: bytes, context: str) -> str:
        """Decrypt :meth:`encrypt_field` output; ``CryptoError`` on wrong key/context/tamper."""
        ...

    def blind_index(self, kind: str, value: str) -> bytes:
        """Deterministic keyed index (32 bytes) of ``value`` for exact lookup without plaintext.

        ``HMAC-SM3(index_key, utf8(kind) ‖ 0x1F ‖ utf8(value))``; ``kind`` separates uses
        (e.g. ``"document.01"``) so equal values of different kinds do not collide.
        """
        ...

    def qr_seal(self, block: bytes) -> bytes:
        """SM4-ECB of one 16-byte block under the QR protection key (DESIGN.md "QR codes":
        the dynamic part of ``EHCID:type:SM4(protect_key, time)``)."""
        ...

    def qr_unseal(self, block: bytes) -> bytes:
        """The inverse of :meth:`qr_seal`; ``ValueError`` unless ``block`` is 16 bytes."""
        ...

    def qr_unseal_candidates(self, block: bytes) -> tuple[bytes, ...]:
        """``block`` opened under the current protect key, then under each retired one.

        ECB has no tag: the caller takes the first candidate that parses (e.g. a timestamp), so
        that QR codes issued just before a key rotation still verify.
        """
        ...

    def sm2_sign(self, data: bytes, user_id: bytes | str = DEFAULT_SM2_USER_ID) -> bytes:
        """DER SM2 signature of ``data`` with the current signing key (fresh random nonce)."""
        ...

    def sm2_verify(
        self,
        data: bytes,
        signature: bytes,
        public_key: bytes | str | None = None,
        user_id: bytes | str = DEFAULT_SM2_USER_ID,
    ) -> bool:
        """Whether ``signature`` is valid; ``public_key`` (PEM, DER or raw point) or, if None,
        any signing key this provider holds (current or retired)."""
        ...

    def sm2_encrypt(self, plaintext: bytes, public_key: bytes | str | None = None) -> bytes:
        """SM2 encryption (C1C3C2 DER) of 1–255 bytes to ``public_key`` or to our current key."""
        ...

    def sm2_decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt with the current or a retired SM2 key; ``CryptoError`` if none fits."""
        ...

    def sm2_public_key_pem(self) -> str:
        """The current SM2 public key, PEM ``SubjectPublicKeyInfo``."""
        ...

    def public_info(self) -> PublicKeyInfo:
        """Key ids and public keys (for ``ehcmpi keys show-public``); never private material."""
        ...
