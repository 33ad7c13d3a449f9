"""SM2 (GB/T 32918-2016) through GmSSL: the standard example, keys, signatures, encryption."""

from __future__ import annotations

import base64
import os

import pytest

from ehcmpi.crypto import sm2
from ehcmpi.crypto.errors import CryptoError
from ehcmpi.crypto.ports import DEFAULT_SM2_USER_ID

# The SM2 signature example on the recommended curve (GM/T 0003.5-2012, GB/T 32918.5-2017):
# d_A, P_A, ID_A = "1234567812345678", M = "message digest", Z_A and the signature (r, s).
EXAMPLE_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
EXAMPLE_P = bytes.fromhex(
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
EXAMPLE_Z = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
EXAMPLE_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
EXAMPLE_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA


def _der_signature(r: int, s: int) -> bytes:
    def integer(value: int) -> bytes:
        raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
        return b"\x02" + bytes([len(raw)]) + raw

    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


@pytest.fixture(scope="module")
def pair() -> tuple[bytes, bytes]:
    return sm2.generate_keypair()


def test_default_user_id_is_the_national_default() -> None:
    assert sm2.DEFAULT_USER_ID == DEFAULT_SM2_USER_ID == b"1234567812345678"


def test_standard_example_public_key_z_and_signature() -> None:
    assert sm2.public_from_private(EXAMPLE_D) == EXAMPLE_P
    assert sm2.sm2_z(EXAMPLE_P).hex().upper() == EXAMPLE_Z
    signature = _der_signature(EXAMPLE_R, EXAMPLE_S)
    assert sm2.sm2_verify(EXAMPLE_P, b"message digest", signature)
    assert not sm2.sm2_verify(EXAMPLE_P, b"message digest!", signature)
    assert not sm2.sm2_verify(EXAMPLE_P, b"message digest", signature, user_id="ALICE123@YAHOO.COM")


def test_our_signature_of_the_example_key_verifies(pair: tuple[bytes, bytes]) -> None:
    signature = sm2.sm2_sign(EXAMPLE_D, EXAMPLE_P, b"message digest")
    assert sm2.sm2_verify(EXAMPLE_P, b"message digest", signature)


def test_generated_pair_belongs_together(pair: tuple[bytes, bytes]) -> None:
    private, public = pair
    assert len(private) == 32 and len(public) == 64
    assert sm2.public_from_private(private) == public


@pytest.mark.parametrize("data", [b"", b"x", os.urandom(10_000)])
def test_sign_and_verify(pair: tuple[bytes, bytes], data: bytes) -> None:
    private, public = pair
    signature = sm2.sm2_sign(private, public, data)
    assert sm2.sm2_verify(public, data, signature)
    assert not sm2.sm2_verify(public, data + b"\x00", signature)


def test_signatures_use_a_fresh_nonce(pair: tuple[bytes, bytes]) -> None:
    private, public = pair
    signatures = {sm2.sm2_sign(private, public, b"same message") for _ in range(20)}
    assert len(signatures) == 20  # a repeated k would reveal the private key


def test_user_id_is_part_of_the_signature(pair: tuple[bytes, bytes]) -> None:
    private, public = pair
    signature = sm2.sm2_sign(private, public, b"m", user_id="hospital-A")
    assert sm2.sm2_verify(public, b"m", signature, user_id=b"hospital-A")
    assert not sm2.sm2_verify(public, b"m", signature)
    assert not sm2.sm2_verify(public, b"m", signature, user_id="hospital-B")


def test_signature_under_another_key_fails(pair: tuple[bytes, bytes]) -> None:
    private, public = pair
    _, other = sm2.generate_keypair()
    assert not sm2.sm2_verify(other, b"m", sm2.sm2_sign(private, public, b"m"))


@pytest.mark.parametrize("signature", [b"", b"garbage", b"\x30\x06\x02\x01\x01\x02\x01\x01"])
def test_malformed_signatures_are_false_not_errors(
    pair: tuple[bytes, bytes], signature: bytes
) -> None:
    assert sm2.sm2_verify(pair[1], b"m", signature) is False


@pytest.mark.parametrize("user_id", ["", b"", "x" * 8192])
def test_bad_user_id(pair: tuple[bytes, bytes], user_id: str | bytes) -> None:
    with pytest.raises(ValueError, match="签名者标识"):
        sm2.sm2_sign(pair[0], pair[1], b"m", user_id=user_id)


@pytest.mark.parametrize("length", [1, 16, 255])
def test_encrypt_and_decrypt(pair: tuple[bytes, bytes], length: int) -> None:
    private, public = pair
    plaintext = os.urandom(length)
    ciphertext = sm2.sm2_encrypt(public, plaintext)
    assert ciphertext[:1] == b"\x30"  # DER C1C3C2
    assert ciphertext != sm2.sm2_encrypt(public, plaintext)
    assert sm2.sm2_decrypt(private, ciphertext) == plaintext


@pytest.mark.parametrize("length", [0, 256])
def test_encrypt_rejects_what_gmssl_cannot_hold(pair: tuple[bytes, bytes], length: int) -> None:
    with pytest.raises(ValueError, match="1–255"):
        sm2.sm2_encrypt(pair[1], b"x" * length)


def test_decrypt_with_another_key_or_tampered_fails(pair: tuple[bytes, bytes]) -> None:
    private, public = pair
    ciphertext = sm2.sm2_encrypt(public, b"an SM4 key 16 by")
    other_private, _ = sm2.generate_keypair()
    with pytest.raises(CryptoError, match="数据解密失败"):
        sm2.sm2_decrypt(other_private, ciphertext)
    tampered = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
    with pytest.raises(CryptoError):
        sm2.sm2_decrypt(private, tampered)
    with pytest.raises(CryptoError):
        sm2.sm2_decrypt(private, b"short")


def test_public_key_pem_round_trip(pair: tuple[bytes, bytes]) -> None:
    public = pair[1]
    pem = sm2.public_key_pem(public)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert pem.endswith("-----END PUBLIC KEY-----\n")
    assert sm2.load_public_key(pem) == public
    der = base64.b64decode("".join(pem.splitlines()[1:-1]))
    assert sm2.load_public_key(der) == public
    assert sm2.load_public_key(b"\x04" + public) == public


@pytest.mark.parametrize(
    "key",
    [
        b"\x00" * 64,
        b"\x04" + b"\x01" * 64,
        b"short",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "not a key",
    ],
)
def test_invalid_public_keys_are_rejected(key: bytes | str) -> None:
    with pytest.raises(ValueError, match="公钥"):
        sm2.load_public_key(key)


def test_an_ecdsa_p256_key_is_not_an_sm2_key() -> None:
    # The same SubjectPublicKeyInfo with the prime256v1 curve OID instead of SM2's.
    p256 = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
    with pytest.raises(ValueError, match="公钥"):
        sm2.load_public_key(p256 + b"\x04" + EXAMPLE_P)


def test_private_key_errors_never_echo_the_key() -> None:
    secret = (
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0w\n"
        "-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(ValueError, match="私钥") as info:
        sm2.load_private_key_pem(secret)
    assert "MIGH" not in str(info.value)
    with pytest.raises(ValueError, match="私钥"):
        sm2.sm2_sign(b"\x00" * 32, EXAMPLE_P, b"m")


def test_a_raw_key_that_begins_like_der_is_still_a_raw_key() -> None:
    while True:  # about 1 pair in 256 has x beginning with 0x30 (the DER SEQUENCE tag)
        _, public = sm2.generate_keypair()
        if public[0] == 0x30:
            break
    assert sm2.load_public_key(public) == public
    assert sm2.load_public_key(sm2.public_key_pem(public)) == public
