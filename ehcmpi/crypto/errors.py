"""Errors raised by the crypto subpackage (guideline §4.6 密码服务, §6.1 通用安全要求).

Messages are read by hospital IT staff: Chinese first, English beside it. No message ever carries
key material, plaintext or ciphertext; exceptions raised while parsing a key file are raised
``from None`` so that no chained exception keeps the file's text alive either.
"""

from __future__ import annotations

from typing import Final

DECRYPTION_FAILED: Final = "数据解密失败 (decryption failed: ciphertext or key mismatch)"


class CryptoError(Exception):
    """A ciphertext failed authentication: wrong key, wrong context (AAD) or tampered data."""

    def __init__(self, message: str = DECRYPTION_FAILED) -> None:
        super().__init__(message)


class KeyFileError(Exception):
    """A key file is missing, unreadable, too widely readable, malformed or already present."""


class MissingKeyError(KeyFileError):
    """The key set has no key for the operation (a version-1 key file has no SM2 key pair)."""


class HsmError(KeyFileError):
    """The HSM (PKCS#11 token) refused or failed: library, token, PIN, KEK, wrap or unwrap."""
