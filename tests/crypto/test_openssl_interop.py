"""Interop: our SM3 and SM4-ECB agree with the ``openssl`` 3 command line on random data."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ehcmpi.crypto import sm3, sm4_ecb_decrypt, sm4_ecb_encrypt

OPENSSL = shutil.which("openssl")


def _openssl(*args: str, data: bytes) -> bytes:
    assert OPENSSL is not None
    result = subprocess.run(
        [OPENSSL, *args], input=data, capture_output=True, check=False, timeout=30
    )
    if result.returncode != 0:
        pytest.skip(f"openssl {args[0]} without SM support: {result.stderr.decode()[:200]}")
    return result.stdout


pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl command line not installed")


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
