"""SM2 signatures and public-key encryption (GB/T 32918-2016, GM/T 0009-2012; guideline §4.6).

The elliptic-curve arithmetic runs in GmSSL 3 (C) through ``gmssl-pyx``; its nonces and keys
come from ``/dev/urandom``. The pure-Python ``gmssl`` package is never used: it draws the
signature nonce ``k`` from Python's ``random`` module, which would leak the private key.

Why ``gmssl-pyx`` rather than ``tongsuopy`` (both install as binary wheels on CPython 3.11
x86_64; one thread on the idle 2-core reference machine, as ``bench/crypto_bench.py --compare``
measures them):

- ``tongsuopy`` 1.0.1 signs only with the default distinguishing ID: its binding has no
  ``EVP_PKEY_CTX_set1_id``, so a configurable user ID (GB/T 32918.2 §5.5, ``Z_A``) is
  impossible, and it has no SM2 encryption in its public API;
- ``gmssl-pyx`` 2.1 has both; through its digest API (``Z_A`` and ``e = SM3(Z_A ‖ M)`` computed
  here, as GB/T 32918.2 §6.1 A1–A2 define them) it signs ~4,800/s and verifies ~2,100/s, against
  ~3,800/s and ~3,800/s for ``tongsuopy``. (Its message API, ``gmssl_pyx.sm2_sign``, signs
  only ~470/s: ten times slower, which is why the digest API is used.)

Formats are those of GM/T 0009 and OpenSSL 3, so that ``openssl pkeyutl`` interoperates:
signatures are DER ``SEQUENCE {r, s}``; ciphertexts are DER ``SEQUENCE {x, y, C3 (SM3), C2}``
(C1C3C2); public keys are 64 bytes ``x ‖ y`` inside, PEM ``SubjectPublicKeyInfo`` outside
(id-ecPublicKey with the SM2 curve OID 1.2.156.10197.1.301).

GmSSL prints one source-location line (never data) to stderr when a verification or a
decryption fails; that is the library's, and harmless.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

import gmssl_pyx

from ehcmpi.crypto.errors import CryptoError
from ehcmpi.crypto.ports import DEFAULT_SM2_USER_ID
from ehcmpi.crypto.sm import sm3

__all__ = [
    "DEFAULT_USER_ID",
    "PRIVATE_KEY_SIZE",
    "PUBLIC_KEY_SIZE",
    "generate_keypair",
    "load_private_key_pem",
    "load_public_key",
    "public_from_private",
    "public_key_pem",
    "sm2_decrypt",
    "sm2_encrypt",
    "sm2_sign",
    "sm2_verify",
    "sm2_z",
]

#: GB/T 35276-2017 §10 / GM/T 0009-2012 §10: the default distinguishing ID.
DEFAULT_USER_ID: Final = DEFAULT_SM2_USER_ID
PRIVATE_KEY_SIZE: Final = 32
PUBLIC_KEY_SIZE: Final = 64
MAX_PLAINTEXT: Final = 255  # GmSSL's limit for one SM2 ciphertext

# GB/T 32918.5-2016: the recommended curve sm2p256v1.
_P: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_B: Final = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_N: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_GX: Final = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
_GY: Final = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
_CURVE_BYTES: Final = b"".join(v.to_bytes(32, "big") for v in (_A, _B, _GX, _GY))

_OID_EC_PUBLIC_KEY: Final = bytes.fromhex("06072a8648ce3d0201")
_OID_SM2: Final = bytes.fromhex("06082a811ccf5501822d")
_SPKI_PREFIX: Final = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")
_PEM: Final = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def _bad_key(what: str) -> ValueError:
    return ValueError(f"SM2 {what}无效 (invalid SM2 {_ENGLISH[what]})")


_ENGLISH: Final = {"公钥": "public key", "私钥": "private key", "签名者标识": "user ID"}


def _user_id(user_id: bytes | str) -> bytes:
    raw = user_id.encode("utf-8") if isinstance(user_id, str) else user_id
    if not raw or len(raw) >= 8192:  # ENTL is a 16-bit count of bits
        raise _bad_key("签名者标识")
    return raw


def _check_private(private_key: bytes) -> None:
    if len(private_key) != PRIVATE_KEY_SIZE or not 0 < int.from_bytes(private_key, "big") < _N - 1:
        raise _bad_key("私钥")


def generate_keypair() -> tuple[bytes, bytes]:
    """A fresh key pair ``(private 32 bytes, public 64 bytes x ‖ y)`` from GmSSL."""
    public, private = gmssl_pyx.sm2_key_generate()
    return bytes(private), bytes(public)


def sm2_z(public_key: bytes, user_id: bytes | str = DEFAULT_USER_ID) -> bytes:
    """``Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A)`` (GB/T 32918.2 §5.5)."""
    return _z(load_public_key(public_key), user_id)


def _z(point: bytes, user_id: bytes | str) -> bytes:
    uid = _user_id(user_id)
    return sm3((len(uid) * 8).to_bytes(2, "big") + uid + _CURVE_BYTES + point)


def sm2_sign(
    private_key: bytes, public_key: bytes, data: bytes, user_id: bytes | str = DEFAULT_USER_ID
) -> bytes:
    """DER signature of ``data``: ``e = SM3(Z_A ‖ M)`` signed with a fresh random ``k``."""
    _check_private(private_key)
    digest = sm3(sm2_z(public_key, user_id) + data)
    return bytes(gmssl_pyx.sm2_sign_sm3_digest(private_key, digest))


def sm2_verify(
    public_key: bytes, data: bytes, signature: bytes, user_id: bytes | str = DEFAULT_USER_ID
) -> bool:
    """Whether ``signature`` (DER) is the signer's signature of ``data`` under ``user_id``."""
    point = load_public_key(public_key)
    digest = sm3(_z(point, user_id) + data)
    try:
        return bool(gmssl_pyx.sm2_verify_sm3_digest(point, digest, signature))
    except gmssl_pyx.GmsslInnerError:  # malformed DER
        return False


def sm2_encrypt(public_key: bytes, plaintext: bytes) -> bytes:
    """SM2 encryption (GB/T 32918.4) of 1–255 bytes to DER C1C3C2; a fresh ``k`` each call."""
    if not 0 < len(plaintext) <= MAX_PLAINTEXT:
        raise ValueError(
            f"SM2 加密明文须为 1–{MAX_PLAINTEXT} 字节，实为 {len(plaintext)} 字节 "
            f"(SM2 plaintext must be 1–{MAX_PLAINTEXT} bytes; encrypt an SM4 key for more)"
        )
    return bytes(gmssl_pyx.sm2_encrypt(load_public_key(public_key), plaintext))


def sm2_decrypt(private_key: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`sm2_encrypt`; :class:`CryptoError` if C3 does not match (wrong key)."""
    _check_private(private_key)
    try:
        return bytes(gmssl_pyx.sm2_decrypt(private_key, ciphertext))
    except gmssl_pyx.GmsslInnerError:  # also InvalidValueError: wrong length
        raise CryptoError() from None


# --- keys: raw, PEM, DER ----------------------------------------------------------------------


def load_public_key(key: bytes | str) -> bytes:
    """64-byte ``x ‖ y`` from PEM text, DER ``SubjectPublicKeyInfo``, or raw 64/65/33 bytes.

    The point is checked to lie on the curve; :class:`ValueError` otherwise.
    """
    if isinstance(key, str):
        key = _pem_body(key, "PUBLIC KEY")
    raw = len(key) in (33, 64) or (len(key) == 65 and key[0] == 4)
    if not raw:  # a raw x ‖ y may well begin with 0x30, so DER only for other lengths
        key = _spki_point(key)
    try:
        return bytes(gmssl_pyx.normalize_sm2_public_key(key))
    except gmssl_pyx.GmsslInnerError:
        raise _bad_key("公钥") from None


def public_key_pem(public_key: bytes) -> str:
    """PEM ``SubjectPublicKeyInfo`` of a public key, as ``openssl pkey -pubout`` writes it."""
    der = _SPKI_PREFIX + load_public_key(public_key)
    lines = base64.encodebytes(der).decode("ascii").replace("\n", "")
    body = "\n".join(lines[i : i + 64] for i in range(0, len(lines), 64))
    return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"


def load_private_key_pem(pem: str) -> tuple[bytes, bytes]:
    """``(private, public)`` from an unencrypted PKCS#8 (``openssl genpkey``) or SEC1 SM2 key."""
    match = _PEM.search(pem)
    if match is None or match.group(1) not in ("PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY"):
        raise _bad_key("私钥")
    der = _b64(match.group(2), "私钥")
    try:
        if match.group(1) == "PRIVATE KEY":
            der = _pkcs8_inner(der)
        private = _sec1_scalar(der)
    except (IndexError, ValueError):
        raise _bad_key("私钥") from None
    _check_private(private)
    return private, public_from_private(private)


def public_from_private(private_key: bytes) -> bytes:
    """``d·G`` (64 bytes), to check that a stored key pair belongs together.

    Plain Python, not constant-time: called when keys are loaded, never per request.
    """
    _check_private(private_key)
    x, y = _scalar_mult(int.from_bytes(private_key, "big"))
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


def _scalar_mult(k: int) -> tuple[int, int]:
    # Jacobian coordinates, double-and-add; (0, 0, 0) is the point at infinity.
    result: tuple[int, int, int] = (0, 0, 0)
    addend: tuple[int, int, int] = (_GX, _GY, 1)
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _double(addend)
        k >>= 1
    x, y, z = result
    inv = pow(z, -1, _P)
    return x * inv * inv % _P, y * inv * inv * inv % _P


def _double(pt: tuple[int, int, int]) -> tuple[int, int, int]:
    x, y, z = pt
    if not z or not y:
        return (0, 0, 0)
    s = 4 * x * y * y % _P
    m = (3 * x * x + _A * pow(z, 4, _P)) % _P
    nx = (m * m - 2 * s) % _P
    return nx, (m * (s - nx) - 8 * pow(y, 4, _P)) % _P, 2 * y * z % _P


def _add(p: tuple[int, int, int], q: tuple[int, int, int]) -> tuple[int, int, int]:
    if not p[2]:
        return q
    if not q[2]:
        return p
    x1, y1, z1 = p
    x2, y2, z2 = q
    u1, u2 = x1 * z2 * z2 % _P, x2 * z1 * z1 % _P
    s1, s2 = y1 * pow(z2, 3, _P) % _P, y2 * pow(z1, 3, _P) % _P
    if u1 == u2:
        return _double(p) if s1 == s2 else (0, 0, 0)
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    h2 = h * h % _P
    h3 = h * h2 % _P
    nx = (r * r - h3 - 2 * u1 * h2) % _P
    return nx, (r * (u1 * h2 - nx) - s1 * h3) % _P, h * z1 * z2 % _P


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except binascii.Error:
        raise _bad_key(what) from None


def _pem_body(text: str, label: str) -> bytes:
    match = _PEM.search(text)
    if match is None or match.group(1) != label:
        raise _bad_key("公钥")
    return _b64(match.group(2), "公钥")


def _tlv(der: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """One DER element at ``offset``: ``(tag, value, next offset)``."""
    tag, length = der[offset], der[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[offset : offset + count], "big")
        offset += count
    value = der[offset : offset + length]
    if len(value) != length:
        raise ValueError("truncated DER")
    return tag, value, offset + length


def _children(der: bytes) -> list[tuple[int, bytes]]:
    items, offset = [], 0
    while offset < len(der):
        tag, value, offset = _tlv(der, offset)
        items.append((tag, value))
    return items


def _check_algorithm(algorithm: bytes) -> None:
    oids = [bytes([tag, len(value)]) + value for tag, value in _children(algorithm)]
    if oids[:2] != [_OID_EC_PUBLIC_KEY, _OID_SM2] and oids[:1] != [_OID_SM2]:
        raise ValueError("not an SM2 key")


def _spki_point(der: bytes) -> bytes:
    try:
        _, spki, _ = _tlv(der)
        (alg_tag, algorithm), (bits_tag, bits) = _children(spki)
        _check_algorithm(algorithm)
        if (alg_tag, bits_tag) != (0x30, 0x03) or bits[:1] != b"\x00":
            raise ValueError("bad SubjectPublicKeyInfo")
    except (IndexError, ValueError):
        raise _bad_key("公钥") from None
    return bits[1:]


def _pkcs8_inner(der: bytes) -> bytes:
    _, info, _ = _tlv(der)
    _version, (_, algorithm), (tag, inner) = _children(info)[:3]
    _check_algorithm(algorithm)
    if tag != 0x04:
        raise ValueError("bad PKCS#8")
    return inner


def _sec1_scalar(der: bytes) -> bytes:
    _, body, _ = _tlv(der)
    fields = _children(body)
    (_, version), (tag, scalar) = fields[:2]
    if version != b"\x01" or tag != 0x04:
        raise ValueError("bad ECPrivateKey")
    for field_tag, value in fields[2:]:
        if field_tag == 0xA0 and value != _OID_SM2:
            raise ValueError("not an SM2 key")
    return scalar.rjust(PRIVATE_KEY_SIZE, b"\x00")
