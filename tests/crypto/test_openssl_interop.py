"""Interop with the ``openssl`` 3 command line: SM3, SM4-ECB/CBC on random data; SM2 signatures
and SM2 encryption both ways (ours → openssl, openssl → ours), with the distinguishing ID."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ehcmpi.crypto import KeyMaterial, SoftwareCryptoProvider, sm3, sm4_ecb_decrypt, sm4_ecb_encrypt
from ehcmpi.crypto.ports import DEFAULT_SM2_USER_ID
from ehcmpi.crypto.sm import sm4_cbc_decrypt, sm4_cbc_encrypt
from ehcmpi.crypto.sm2 import load_private_key_pem, load_public_key, sm2_decrypt

OPENSSL = shutil.which("openssl")


def _openssl(*args: str, data: bytes) -> bytes:
    assert OPENSSL is not None
    result = subprocess.run(
        [OPENSSL, *args], input=data, capture_output=True, check=False, timeout=30
    )
    # OpenSSL 3 (every machine of this project) has SM3/SM4/SM2: a failure is a failure.
    assert result.returncode == 0, f"openssl {args[0]}: {result.stderr.decode()[:200]}"
    return result.stdout


def test_the_openssl_command_is_installed() -> None:
    assert OPENSSL is not None, "the openssl 3 command line is needed for the interop tests"


@pytest.mark.parametrize("length", [0, 1, 55, 56, 64, 1000, 65537])
def test_sm3_matches_openssl_dgst(length: int) -> None:
    data = os.urandom(length)
    assert _openssl("dgst", "-sm3", "-binary", data=data) == sm3(data)


@pytest.mark.parametrize("blocks", [1, 2, 7, 64])
def test_sm4_ecb_matches_openssl_enc(blocks: int) -> None:
    key, data = os.urandom(16), os.urandom(16 * blocks)
    flags = ("-sm4-ecb", "-K", key.hex(), "-nopad")
    expected = _openssl("enc", "-e", *flags, data=data)
    assert sm4_ecb_encrypt(key, data) == expected
    assert _openssl("enc", "-d", *flags, data=expected) == data
    assert sm4_ecb_decrypt(key, expected) == data


@pytest.mark.parametrize("length", [0, 1, 16, 17, 1000])
def test_sm4_cbc_matches_openssl_enc(length: int) -> None:
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(length)
    flags = ("-sm4-cbc", "-K", key.hex(), "-iv", iv.hex())
    expected = _openssl("enc", "-e", *flags, data=data)
    assert sm4_cbc_encrypt(key, iv, data) == expected
    assert _openssl("enc", "-d", *flags, data=expected) == data
    assert sm4_cbc_decrypt(key, iv, expected) == data


# --- SM2 both ways: the openssl 3 command line with the GB/T 35276 distinguishing ID ----------


def _run(*args: str | Path, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, *map(str, args)], input=data, capture_output=True, check=False, timeout=30
    )


def _ok(*args: str | Path, data: bytes = b"") -> bytes:
    result = _run(*args, data=data)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.fixture(scope="module")
def openssl_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An SM2 key pair made by ``openssl genpkey``: (private PEM, public PEM)."""
    directory = tmp_path_factory.mktemp("sm2")
    private, public = directory / "key.pem", directory / "pub.pem"
    _ok("genpkey", "-algorithm", "SM2", "-out", private)
    _ok("pkey", "-in", private, "-pubout", "-out", public)
    return private, public


@pytest.fixture(scope="module")
def provider() -> SoftwareCryptoProvider:
    return SoftwareCryptoProvider(KeyMaterial.generate())


def _openssl_verify(public: Path, message: Path, signature: Path, user_id: str) -> bool:
    result = _run(
        "pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin", "-digest", "sm3",
        "-pkeyopt", f"distid:{user_id}", "-in", message, "-sigfile", signature,
    )  # fmt: skip
    return result.returncode == 0 and b"Signature Verified Successfully" in result.stdout


@pytest.mark.parametrize("user_id", ["1234567812345678", "hospital-0001@ehcmpi"])
def test_our_sm2_signature_verifies_with_openssl(
    provider: SoftwareCryptoProvider, tmp_path: Path, user_id: str
) -> None:
    message, signature, public = tmp_path / "m", tmp_path / "sig", tmp_path / "pub.pem"
    message.write_bytes("患者主索引 EHC ID 98FF9F2C".encode())
    public.write_text(provider.sm2_public_key_pem())
    uid = user_id.encode() if user_id != "1234567812345678" else DEFAULT_SM2_USER_ID
    signature.write_bytes(provider.sm2_sign(message.read_bytes(), user_id=uid))
    assert _openssl_verify(public, message, signature, user_id)
    other = "1234567812345678" if user_id != "1234567812345678" else "8765432187654321"
    assert not _openssl_verify(public, message, signature, other)


def test_openssl_sm2_signature_verifies_with_ours(
    openssl_key: tuple[Path, Path], provider: SoftwareCryptoProvider, tmp_path: Path
) -> None:
    private, public = openssl_key
    message = tmp_path / "m"
    message.write_bytes(os.urandom(300))
    signature = _ok(
        "pkeyutl", "-sign", "-inkey", private, "-rawin", "-digest", "sm3",
        "-pkeyopt", "distid:1234567812345678", "-in", message,
    )  # fmt: skip
    pem = public.read_text()
    assert provider.sm2_verify(message.read_bytes(), signature, public_key=pem)
    assert not provider.sm2_verify(message.read_bytes(), signature)  # not our key
    assert not provider.sm2_verify(message.read_bytes(), signature, pem, user_id="other")
    # the same key read from openssl's PKCS#8 private key file gives the same public key
    assert load_private_key_pem(private.read_text())[1] == load_public_key(pem)


def test_our_sm2_ciphertext_decrypts_with_openssl(
    openssl_key: tuple[Path, Path], provider: SoftwareCryptoProvider, tmp_path: Path
) -> None:
    private, public = openssl_key
    secret = os.urandom(16)  # e.g. an SM4 key sent to a partner
    ciphertext = tmp_path / "ct"
    ciphertext.write_bytes(provider.sm2_encrypt(secret, public_key=public.read_text()))
    assert _ok("pkeyutl", "-decrypt", "-inkey", private, "-in", ciphertext) == secret


def test_openssl_sm2_ciphertext_decrypts_with_ours(
    openssl_key: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = openssl_key
    secret, plain = os.urandom(200), tmp_path / "plain"
    plain.write_bytes(secret)
    ciphertext = _ok("pkeyutl", "-encrypt", "-pubin", "-inkey", public, "-in", plain)
    key, _ = load_private_key_pem(private.read_text())
    assert sm2_decrypt(key, ciphertext) == secret
