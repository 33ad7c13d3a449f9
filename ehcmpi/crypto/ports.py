"""The crypto port of the domain core (guideline §4.6 密码服务, §6.1 通用安全要求).

The core asks for cryptographic services only through :class:`CryptoProvider`. Whoever holds
the keys implements it: :class:`ehcmpi.crypto.software.SoftwareCryptoProvider` from a key file,
or an HSM (PKCS#11) provider whose keys never leave the device. Every implementation must give
byte-identical EHC IDs and blind indexes for the same keys, so the formulas are part of the port.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["CryptoProvider"]


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
