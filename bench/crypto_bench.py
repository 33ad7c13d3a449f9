"""``make bench`` (crypto): SM2 signatures/s, SM4-GCM and SM3 MB/s (guideline §4.6 密码服务).

Everything goes through ehcmpi's own entry points — :mod:`ehcmpi.crypto.sm` (SM3, SM4 in
OpenSSL via ``cryptography``), :mod:`ehcmpi.crypto.sm2` (SM2 in GmSSL via ``gmssl-pyx``) and the
:class:`~ehcmpi.crypto.software.SoftwareCryptoProvider` port — in one thread of this process:

- SM2 sign/s and verify/s of a 256-byte message with the default user ID (``Z_A`` included),
  SM2 encrypt/s and decrypt/s of a 16-byte key;
- SM4-GCM encrypt and decrypt MB/s of 1 MiB messages, SM4-ECB MB/s, SM3 MB/s;
- the port's small operations per second: EHC ID, blind index, ``encrypt_field`` of a phone.

``--compare`` adds the measurement the choice of SM2 library rests on: GmSSL's message API
(``gmssl_pyx.sm2_sign``), and ``tongsuopy`` (Tongsuo) if it is installed (it is not a
dependency: ``pip install tongsuopy`` to include it). Writes ``bench/results/crypto.json``.

    .venv/bin/python bench/crypto_bench.py [--quick] [--duration 2] [--compare]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import time
from collections.abc import Callable
from typing import Any

import gmssl_pyx

from ehcmpi.crypto import sm
from ehcmpi.crypto.material import KeyMaterial
from ehcmpi.crypto.software import SoftwareCryptoProvider

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
MIB = 1 << 20


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``operation`` over about ``seconds`` (after one warm-up call)."""
    operation()
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(8):
            operation()
        count += 8
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def ours(seconds: float) -> dict[str, float]:
    provider = SoftwareCryptoProvider(KeyMaterial.generate())
    message, key = os.urandom(256), os.urandom(16)
    signature = provider.sm2_sign(message)
    sealed = provider.sm2_encrypt(key)
    big = os.urandom(MIB)
    gcm = sm.Sm4Gcm(key)
    blob = gcm.encrypt(big)
    ecb = sm.Sm4Ecb(key)
    mpi_id = provider.new_mpi_id("BENCH")
    return {
        "sm2_sign_per_s": rate(lambda: provider.sm2_sign(message), seconds),
        "sm2_verify_per_s": rate(lambda: provider.sm2_verify(message, signature), seconds),
        "sm2_encrypt_per_s": rate(lambda: provider.sm2_encrypt(key), seconds),
        "sm2_decrypt_per_s": rate(lambda: provider.sm2_decrypt(sealed), seconds),
        "sm4_gcm_encrypt_mib_s": rate(lambda: gcm.encrypt(big), seconds),
        "sm4_gcm_decrypt_mib_s": rate(lambda: gcm.decrypt(blob), seconds),
        "sm4_ecb_mib_s": rate(lambda: ecb.encrypt(big), seconds),
        "sm3_mib_s": rate(lambda: sm.sm3(big), seconds),
        "ehc_id_per_s": rate(lambda: provider.ehc_id(mpi_id, "01", "11010020171225006X"), seconds),
        "blind_index_per_s": rate(lambda: provider.blind_index("patient.phone", "138"), seconds),
        "encrypt_field_per_s": rate(
            lambda: provider.encrypt_field("13800138000", "patient.phone"), seconds
        ),
    }


def compare(seconds: float) -> dict[str, dict[str, float] | str]:
    message = os.urandom(256)
    public, private = gmssl_pyx.sm2_key_generate()
    signature = gmssl_pyx.sm2_sign(private, public, message)
    found: dict[str, dict[str, float] | str] = {
        "gmssl-pyx message API": {
            "sm2_sign_per_s": rate(lambda: gmssl_pyx.sm2_sign(private, public, message), seconds),
            "sm2_verify_per_s": rate(
                lambda: gmssl_pyx.sm2_verify(public, message, signature), seconds
            ),
        }
    }
    try:
        from tongsuopy.crypto import hashes
        from tongsuopy.crypto.asymciphers import ec
    except ImportError:
        found["tongsuopy"] = "not installed (pip install tongsuopy)"
        return found
    key = ec.generate_private_key(ec.SM2())
    algorithm = ec.ECDSA(hashes.SM3())
    signed = key.sign(message, algorithm)
    found["tongsuopy (default user ID only, no SM2 encryption API)"] = {
        "sm2_sign_per_s": rate(lambda: key.sign(message, algorithm), seconds),
        "sm2_verify_per_s": rate(
            lambda: key.public_key().verify(signed, message, algorithm), seconds
        ),
    }
    return found


def show(title: str, numbers: dict[str, float]) -> None:
    print(f"\n{title}")
    for name, value in numbers.items():
        print(f"  {name:<24} {value:>12,.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="0.3 s per measurement")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--compare", action="store_true", help="also GmSSL's message API, Tongsuo")
    args = parser.parse_args()
    seconds = 0.3 if args.quick else args.duration
    result: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "seconds_per_measurement": seconds,
        "ehcmpi (OpenSSL SM3/SM4, GmSSL SM2 digest API)": ours(seconds),
    }
    if args.compare:
        result.update(compare(seconds))
    print(f"crypto benchmark, one thread, {result['machine']}")
    for title, numbers in result.items():
        if isinstance(numbers, dict):
            show(title, numbers)
        elif title not in ("machine", "seconds_per_measurement"):
            print(f"\n{title}: {numbers}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "crypto.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
