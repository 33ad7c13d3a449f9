"""Known-answer and behaviour tests for ehcmpi.crypto.sm (GB/T 32905-2016, GB/T 32907-2016)."""

from __future__ import annotations

import os

import pytest

from ehcmpi.crypto import sm
from ehcmpi.crypto.errors import DECRYPTION_FAILED, CryptoError

GBT32907_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
GBT32907_CIPHERTEXT = bytes.fromhex("681edf34d206965e86b3e94f536e4246")


def test_sm3_known_answer_abc() -> None:
    assert sm.sm3(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )


def test_sm3_known_answer_512_bit_message() -> None:
    # GB/T 32905-2016 appendix A, example 2: "abcd" repeated 16 times.
    assert sm.sm3(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


def test_hmac_sm3_matches_rfc2104_construction() -> None:
    key, data = os.urandom(32), os.urandom(100)
    block = key.ljust(64, b"\x00")
    inner = sm.sm3(bytes(b ^ 0x36 for b in block) + data)
    expected = sm.sm3(bytes(b ^ 0x5C for b in block) + inner)
    assert sm.hmac_sm3(key, data) == expected
    assert sm.HmacSm3(key).digest(data) == expected


def test_keyed_hmac_is_reusable() -> None:
    mac = sm.HmacSm3(b"k" * 32)
    assert mac.digest(b"a") == mac.digest(b"a") == sm.hmac_sm3(b"k" * 32, b"a")
    assert mac.digest(b"a") != mac.digest(b"b")


def test_sm4_known_answer_gbt32907() -> None:
    assert sm.sm4_ecb_encrypt(GBT32907_KEY, GBT32907_KEY) == GBT32907_CIPHERTEXT
    assert sm.sm4_ecb_decrypt(GBT32907_KEY, GBT32907_CIPHERTEXT) == GBT32907_KEY


def test_sm4_ecb_multi_block_and_keyed_object() -> None:
    data = os.urandom(64)
    ecb = sm.Sm4Ecb(GBT32907_KEY)
    assert ecb.encrypt(data) == sm.sm4_ecb_encrypt(GBT32907_KEY, data)
    assert ecb.decrypt(ecb.encrypt(data)) == data
    assert ecb.encrypt(GBT32907_KEY * 2) == GBT32907_CIPHERTEXT * 2


@pytest.mark.parametrize("length", [1, 15, 17, 31])
def test_sm4_ecb_rejects_partial_blocks(length: int) -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        sm.sm4_ecb_encrypt(GBT32907_KEY, b"x" * length)
    with pytest.raises(ValueError, match="multiple of 16"):
        sm.sm4_ecb_decrypt(GBT32907_KEY, b"x" * length)


def test_sm4_ecb_empty_input_is_empty() -> None:
    assert sm.sm4_ecb_encrypt(GBT32907_KEY, b"") == b""


@pytest.mark.parametrize("length", [0, 15, 24, 32])
def test_sm4_rejects_wrong_key_length(length: int) -> None:
    with pytest.raises(ValueError, match="SM4 密钥长度错误"):
        sm.sm4_ecb_encrypt(b"k" * length, b"x" * 16)
    with pytest.raises(ValueError, match="SM4 密钥长度错误"):
        sm.sm4_gcm_encrypt(b"k" * length, b"x")


@pytest.mark.parametrize("plaintext", [b"", b"a", "张三 13800138000".encode(), os.urandom(1000)])
@pytest.mark.parametrize("aad", [b"", b"patient.phone"])
def test_sm4_gcm_round_trip(plaintext: bytes, aad: bytes) -> None:
    key = os.urandom(16)
    blob = sm.sm4_gcm_encrypt(key, plaintext, aad)
    assert len(blob) == sm.GCM_NONCE_SIZE + len(plaintext) + sm.GCM_TAG_SIZE
    assert sm.sm4_gcm_decrypt(key, blob, aad) == plaintext
    assert sm.Sm4Gcm(key).decrypt(blob, aad) == plaintext


def test_sm4_gcm_fresh_nonce_each_time() -> None:
    key = os.urandom(16)
    blobs = {sm.sm4_gcm_encrypt(key, b"same") for _ in range(50)}
    assert len(blobs) == 50
    assert len({blob[: sm.GCM_NONCE_SIZE] for blob in blobs}) == 50


def test_sm4_gcm_wrong_key_fails() -> None:
    blob = sm.sm4_gcm_encrypt(os.urandom(16), b"secret")
    with pytest.raises(CryptoError) as info:
        sm.sm4_gcm_decrypt(os.urandom(16), blob)
    assert str(info.value) == DECRYPTION_FAILED
    assert str(info.value).startswith("数据解密失败")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_sm4_gcm_wrong_aad_fails() -> None:
    key = os.urandom(16)
    blob = sm.sm4_gcm_encrypt(key, b"secret", b"document.number")
    with pytest.raises(CryptoError):
        sm.sm4_gcm_decrypt(key, blob, b"patient.phone")
    with pytest.raises(CryptoError):
        sm.sm4_gcm_decrypt(key, blob)


def test_sm4_gcm_every_flipped_bit_is_detected() -> None:
    key = os.urandom(16)
    blob = sm.sm4_gcm_encrypt(key, b"0123456789", b"ctx")
    for index in range(len(blob)):
        for bit in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[index] ^= bit
            with pytest.raises(CryptoError):
                sm.sm4_gcm_decrypt(key, bytes(tampered), b"ctx")


@pytest.mark.parametrize("length", [0, 1, 27])
def test_sm4_gcm_truncated_blob_fails(length: int) -> None:
    with pytest.raises(CryptoError):
        sm.sm4_gcm_decrypt(os.urandom(16), b"\x00" * length)


def test_sm4_gcm_truncated_ciphertext_fails() -> None:
    key = os.urandom(16)
    blob = sm.sm4_gcm_encrypt(key, b"0123456789")
    with pytest.raises(CryptoError):
        sm.sm4_gcm_decrypt(key, blob[:-1])
    with pytest.raises(CryptoError):
        sm.sm4_gcm_decrypt(key, blob[:12] + blob[13:])


def test_keyed_objects_hide_their_keys() -> None:
    key = bytes.fromhex("00112233445566778899aabbccddeeff")
    for obj in (sm.Sm4Ecb(key), sm.Sm4Gcm(key), sm.HmacSm3(key)):
        text = repr(obj) + str(obj)
        assert key.hex() not in text.lower()
        assert "hidden" in text


@pytest.mark.parametrize("length", [0, 1, 16, 33])
def test_sm4_cbc_round_trip_with_pkcs7_padding(length: int) -> None:
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(length)
    ciphertext = sm.sm4_cbc_encrypt(key, iv, data)
    assert len(ciphertext) == (length // 16 + 1) * 16
    assert sm.sm4_cbc_decrypt(key, iv, ciphertext) == data
    assert sm.sm4_cbc_encrypt(key, os.urandom(16), data) != ciphertext


def test_sm4_cbc_first_block_is_ecb_of_iv_xor_plaintext() -> None:
    iv = os.urandom(16)
    block = bytes(a ^ b for a, b in zip(iv, GBT32907_KEY, strict=True))
    ciphertext = sm.sm4_cbc_encrypt(GBT32907_KEY, iv, GBT32907_KEY, pad=False)
    assert ciphertext == sm.sm4_ecb_encrypt(GBT32907_KEY, block)
    assert sm.sm4_cbc_decrypt(GBT32907_KEY, iv, ciphertext, pad=False) == GBT32907_KEY


def test_sm4_cbc_bad_padding_or_length_is_a_crypto_error() -> None:
    key, iv = os.urandom(16), os.urandom(16)
    ciphertext = sm.sm4_cbc_encrypt(key, iv, b"0123456789")
    for last in (b"\x00", b"\x11", b"\x03\x02"):  # not a PKCS#7 padding
        bad = sm.sm4_cbc_encrypt(key, iv, (b"\x03" * 16)[: 16 - len(last)] + last, pad=False)
        with pytest.raises(CryptoError):
            sm.sm4_cbc_decrypt(key, iv, bad)
    with pytest.raises(CryptoError):
        sm.sm4_cbc_decrypt(key, iv, ciphertext[:-1])
    with pytest.raises(CryptoError):
        sm.sm4_cbc_decrypt(key, iv, b"")


@pytest.mark.parametrize("length", [0, 12, 17])
def test_sm4_cbc_rejects_wrong_iv_length(length: int) -> None:
    with pytest.raises(ValueError, match="初始向量"):
        sm.sm4_cbc_encrypt(GBT32907_KEY, b"i" * length, b"x")
