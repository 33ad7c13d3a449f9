"""The PKCS#11 provider against a real SoftHSM2 token (guideline §4.6 密码服务, §6.1).

SoftHSM2 has no SM4: the default path unwraps the keys into memory and runs SM4 in software;
the ``sm4_inside`` path is exercised with AES-ECB standing in for SM4-ECB (the only block
cipher SoftHSM2 has), which proves the token plumbing, not a vendor's SM4.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import AttributeSensitive

from ehcmpi.bootstrap import load_crypto, pkcs11_config
from ehcmpi.crypto.check import check_value
from ehcmpi.crypto.errors import HsmError, KeyFileError
from ehcmpi.crypto.keys import init_keyfile, load_keyfile
from ehcmpi.crypto.material import KeyMaterial
from ehcmpi.crypto.pkcs11 import (
    Pkcs11Config,
    Pkcs11CryptoProvider,
    init_wrapped_keyfile,
    resolve_key_type,
    resolve_mechanism,
    rotate_wrapped_keyfile,
)
from ehcmpi.crypto.sm import Sm4Ecb
from ehcmpi.crypto.software import (
    DATA_KEY_MAGIC,
    SoftwareCryptoProvider,
    _ehc_input,
    diversification_factor,
)
from ehcmpi.settings import ConfigError, load_settings
from tests.crypto.softhsm import SoftHsm, softhsm

ROOT_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
MPI_ID = "ABD17E7ED399EF68AB5660155D6E226D2C92EAC3254A4A66BED83AED0ADA1E9E"
EHC_ID = "98FF9F2C05145CB9305E9D8A57E072BB51180CA49E5BE5E9D41BCE3A9A571928"
DOC = ("01", "11010020171225006X")


@pytest.fixture(scope="module")
def hsm() -> SoftHsm:
    return softhsm()


@pytest.fixture
def config(hsm: SoftHsm, tmp_path: Path) -> Pkcs11Config:
    label = f"kek-{os.urandom(4).hex()}"  # a KEK of this test's own
    return Pkcs11Config(hsm.library, hsm.token, hsm.pin, tmp_path / "wrapped.json", label)


@pytest.fixture
def keys() -> KeyMaterial:
    return dataclasses.replace(KeyMaterial.generate(), root_key=ROOT_KEY)


@pytest.fixture
def session(hsm: SoftHsm) -> Iterator[Any]:
    token = pkcs11.lib(hsm.library).get_token(token_label=hsm.token)
    try:
        opened = token.open(user_pin=hsm.pin, rw=True)
    except pkcs11.exceptions.UserAlreadyLoggedIn:
        opened = token.open(rw=True)
    yield opened
    opened.close()


def _secrets(keys: KeyMaterial) -> list[bytes]:
    assert keys.signing_key is not None
    return [
        keys.root_key,
        keys.index_key,
        keys.data_key,
        keys.protect_key,
        keys.signing_key.private_key,
    ]


def test_the_kek_is_made_in_the_token_and_can_never_leave_it(
    config: Pkcs11Config, keys: KeyMaterial, session: Any
) -> None:
    init_wrapped_keyfile(config, keys=keys)
    kek = session.get_key(object_class=ObjectClass.SECRET_KEY, label=config.kek_label)
    assert kek[Attribute.TOKEN] and kek[Attribute.SENSITIVE] and kek[Attribute.ALWAYS_SENSITIVE]
    assert not kek[Attribute.EXTRACTABLE] and kek[Attribute.NEVER_EXTRACTABLE]
    assert kek[Attribute.WRAP] and kek[Attribute.UNWRAP] and not kek[Attribute.ENCRYPT]
    with pytest.raises(AttributeSensitive):
        kek[Attribute.VALUE]
    other = session.generate_key(KeyType.AES, 256, store=False)
    with pytest.raises(pkcs11.exceptions.PKCS11Error):
        other.wrap_key(kek, mechanism=Mechanism.AES_KEY_WRAP_PAD)


def test_only_wrapped_blobs_are_stored(
    config: Pkcs11Config, keys: KeyMaterial, hsm: SoftHsm
) -> None:
    init_wrapped_keyfile(config, keys=keys)
    text = config.wrapped_key_file.read_text()
    doc = json.loads(text)
    assert (config.wrapped_key_file.stat().st_mode & 0o777) == 0o600
    assert doc["pkcs11"]["format"] == "ehcmpi-pkcs11-wrapped"
    assert doc["pkcs11"]["kek_label"] == config.kek_label
    for name in ("root_key", "index_key", "data_key", "protect_key"):
        assert set(doc[name]) == {"wrapped"}
    assert set(doc["signing_key"]["private_key"]) == {"wrapped"}
    token_files = b"".join(p.read_bytes() for p in hsm.token_dir.rglob("*") if p.is_file())
    for secret in _secrets(keys):
        assert secret.hex() not in text.lower()
        assert secret not in text.encode()
        assert secret not in token_files and secret.hex().encode() not in token_files


def test_the_token_gives_the_same_ids_indexes_and_ciphertexts(
    config: Pkcs11Config, keys: KeyMaterial
) -> None:
    init_wrapped_keyfile(config, keys=keys)
    hsm_provider = Pkcs11CryptoProvider(config)
    software = SoftwareCryptoProvider(keys)

    assert hsm_provider.key_id == keys.key_id
    assert hsm_provider.ehc_id(MPI_ID, *DOC) == software.ehc_id(MPI_ID, *DOC) == EHC_ID
    for kind, value in [("document.01", DOC[1]), ("patient.phone", "13800138000")]:
        assert hsm_provider.blind_index(kind, value) == software.blind_index(kind, value)
    assert hsm_provider.decrypt_field(software.encrypt_field("张三", "n"), "n") == "张三"
    assert software.decrypt_field(hsm_provider.encrypt_field("李四", "n"), "n") == "李四"
    assert hsm_provider.qr_seal(b"2025010108300000") == software.qr_seal(b"2025010108300000")
    assert software.sm2_verify(b"m", hsm_provider.sm2_sign(b"m"))
    assert hsm_provider.public_info() == dataclasses.replace(
        software.public_info(), provider="pkcs11"
    )


def test_a_software_key_file_moves_into_the_token_unchanged(
    config: Pkcs11Config, tmp_path: Path
) -> None:
    path = tmp_path / "soft.key"
    init_keyfile(path)
    moved = init_wrapped_keyfile(config, keys=load_keyfile(path))
    assert moved == load_keyfile(path)
    provider = Pkcs11CryptoProvider(config)
    assert provider.ehc_id(MPI_ID, *DOC) == SoftwareCryptoProvider(moved).ehc_id(MPI_ID, *DOC)
    # so the database set up with the key file still starts (storage.key_check)
    assert check_value(provider) == check_value(SoftwareCryptoProvider(moved))


def test_rotation_through_the_token(config: Pkcs11Config, keys: KeyMaterial) -> None:
    init_wrapped_keyfile(config, keys=keys)
    before = Pkcs11CryptoProvider(config)
    old_blob, old_signature = before.encrypt_field("x", "c"), before.sm2_sign(b"m")
    root_wrapping = json.loads(config.wrapped_key_file.read_text())["root_key"]

    rotated = rotate_wrapped_keyfile(config)
    after = Pkcs11CryptoProvider(config)

    doc = json.loads(config.wrapped_key_file.read_text())
    assert doc["root_key"] == root_wrapping
    assert [k["id"] for k in doc["retired"]["data_keys"]] == [keys.data_key_id]
    assert all(set(k["key"]) == {"wrapped"} for k in doc["retired"]["protect_keys"])
    assert after.ehc_id(MPI_ID, *DOC) == EHC_ID
    assert after.decrypt_field(old_blob, "c") == "x"
    assert after.encrypt_field("y", "c")[:10] == DATA_KEY_MAGIC + bytes.fromhex(rotated.data_key_id)
    assert after.sm2_verify(b"m", old_signature)
    assert after.public_info().signing_keys[0][0] == rotated.signing_key_ids[0]


def test_a_running_token_provider_opens_what_a_later_rotation_sealed(
    config: Pkcs11Config, keys: KeyMaterial
) -> None:
    init_wrapped_keyfile(config, keys=keys)
    running = Pkcs11CryptoProvider(config)
    rotate_wrapped_keyfile(config)
    newer = Pkcs11CryptoProvider(config)

    assert running.decrypt_field(newer.encrypt_field("李四", "c"), "c") == "李四"
    assert b"2025010108300000" in running.qr_unseal_candidates(newer.qr_seal(b"2025010108300000"))


def _one_line_without_secrets(exc: BaseException, keys: KeyMaterial | None = None) -> str:
    text = str(exc)
    assert "\n" not in text and "246810" not in text
    for secret in _secrets(keys) if keys else []:
        assert secret.hex() not in text.lower()
    return text


def test_wrong_pin_unknown_token_or_missing_kek(config: Pkcs11Config, keys: KeyMaterial) -> None:
    init_wrapped_keyfile(config, keys=keys)
    cases = {
        "PinIncorrect": dataclasses.replace(config, pin="000000"),
        "NoSuchToken": dataclasses.replace(config, token_label="no-such-token"),
        "keys init": dataclasses.replace(config, kek_label="no-such-kek"),
    }
    for expected, bad in cases.items():
        with pytest.raises(HsmError) as info:
            Pkcs11CryptoProvider(bad)
        assert expected in _one_line_without_secrets(info.value)
        assert str(info.value).startswith("HSM 操作失败")


def test_a_damaged_blob_or_another_kek_cannot_unwrap(
    config: Pkcs11Config, keys: KeyMaterial
) -> None:
    init_wrapped_keyfile(config, keys=keys)
    doc = json.loads(config.wrapped_key_file.read_text())
    other = dataclasses.replace(config, kek_label=config.kek_label + "-other")
    init_wrapped_keyfile(
        dataclasses.replace(other, wrapped_key_file=config.wrapped_key_file.with_suffix(".2"))
    )
    with pytest.raises(HsmError, match="cannot unwrap root_key") as info:
        Pkcs11CryptoProvider(other)  # the right file, the wrong KEK
    _one_line_without_secrets(info.value, keys)
    wrapped = bytearray.fromhex(doc["index_key"]["wrapped"])
    wrapped[5] ^= 1
    doc["index_key"]["wrapped"] = wrapped.hex()
    config.wrapped_key_file.write_text(json.dumps(doc))
    with pytest.raises(HsmError, match="cannot unwrap index_key") as info:
        Pkcs11CryptoProvider(config)
    _one_line_without_secrets(info.value, keys)


def test_a_plaintext_key_file_is_not_taken_for_a_wrapped_one(
    config: Pkcs11Config, tmp_path: Path
) -> None:
    init_keyfile(config.wrapped_key_file)
    with pytest.raises(KeyFileError, match="not a PKCS#11 wrapped key file"):
        Pkcs11CryptoProvider(config)
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        init_wrapped_keyfile(config)


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (0x1081, 0x1081),
        ("0x1081", 0x1081),
        ("AES_ECB", 0x1081),
        ("CKM_AES_ECB", 0x1081),
        (" ckm_aes_key_wrap_pad ", 0x210A),
        ("0x80000101", 0x80000101),  # a vendor's CKM_SM4_ECB
        (0x80000102, 0x80000102),
    ],
)
def test_mechanism_mapping_resolution(value: int | str, number: int) -> None:
    assert resolve_mechanism(value) == number
    assert Mechanism(number) == number  # vendor numbers are now known to python-pkcs11


@pytest.mark.parametrize("value", ["SM4_ECB", "0x7777", "", "0xZZ", 0x9999])
def test_unknown_mechanisms_are_refused(value: int | str) -> None:
    with pytest.raises(ValueError, match="PKCS#11 mechanism"):
        resolve_mechanism(value)


def test_key_type_resolution() -> None:
    assert resolve_key_type("AES") == resolve_key_type("CKK_AES") == 0x1F
    assert resolve_key_type(0x80000001) == 0x80000001
    assert KeyType(0x80000001) == 0x80000001
    with pytest.raises(ValueError, match="key type"):
        resolve_key_type("SM4")


def test_sm4_inside_needs_its_mapping(config: Pkcs11Config) -> None:
    with pytest.raises(ValueError, match="sm4_inside"):
        dataclasses.replace(config, sm4_inside=True, sm4_ecb_mechanism=0x1081)


def _aes_ecb(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def test_inside_path_with_aes_ecb_standing_in_for_sm4(
    config: Pkcs11Config, keys: KeyMaterial, session: Any
) -> None:
    init_wrapped_keyfile(config, keys=keys)
    inside = dataclasses.replace(
        config, sm4_inside=True, sm4_ecb_mechanism=0x1081, sm4_key_type=0x1F
    )
    provider = Pkcs11CryptoProvider(inside)
    try:
        # The root key's step runs in the token: K_user = E(root, factor ‖ ~factor) with E the
        # configured mechanism (AES-ECB here), then SM4-ECB under K_user in memory.
        factor = diversification_factor(MPI_ID)
        user_key = _aes_ecb(ROOT_KEY, factor + bytes(b ^ 0xFF for b in factor))
        expected = Sm4Ecb(user_key).encrypt(_ehc_input(*DOC)).hex().upper()
        assert provider.ehc_id(MPI_ID, *DOC) == expected != EHC_ID
        block = b"2025010108300000"
        assert provider.qr_seal(block) == _aes_ecb(keys.protect_key, block)
        assert provider.qr_unseal(provider.qr_seal(block)) == block
        # still in memory: blind indexes and data keys are SoftwareCryptoProvider's
        software = SoftwareCryptoProvider(keys)
        assert provider.blind_index("k", "v") == software.blind_index("k", "v")
        # the unwrapped root and protect keys are session objects nobody can read out
        unwrapped = list(
            session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.TOKEN: False})
        )
        assert len([k for k in unwrapped if k[Attribute.KEY_TYPE] == KeyType.AES]) >= 2
        for key in unwrapped:
            assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
            with pytest.raises(AttributeSensitive):
                key[Attribute.VALUE]
        results: list[bytes] = []

        def seal_many() -> None:
            results.extend(provider.qr_seal(block) for _ in range(50))

        threads = [threading.Thread(target=seal_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [_aes_ecb(keys.protect_key, block)] * 200
    finally:
        provider.close()


def _settings(tmp_path: Path, body: str) -> Any:
    path = tmp_path / "ehcmpi.toml"
    path.write_text(body, encoding="utf-8")
    return load_settings(str(path), environ={})


def test_bootstrap_selects_the_pkcs11_provider(
    config: Pkcs11Config, keys: KeyMaterial, hsm: SoftHsm, tmp_path: Path
) -> None:
    init_wrapped_keyfile(config, keys=keys)
    settings = _settings(
        tmp_path,
        f"""[crypto]
provider = "pkcs11"
[crypto.pkcs11]
library = "{hsm.library}"
token_label = "{hsm.token}"
pin_env = "TEST_HSM_PIN"
kek_label = "{config.kek_label}"
wrapped_key_file = "{config.wrapped_key_file}"
wrap_mechanism = "CKM_AES_KEY_WRAP_PAD"
""",
    )
    resolved = pkcs11_config(settings, {"TEST_HSM_PIN": hsm.pin})
    assert resolved == config
    assert hsm.pin not in repr(resolved) and hsm.pin not in repr(settings)
    with pytest.raises(ConfigError, match="TEST_HSM_PIN"):
        pkcs11_config(settings, {})
    os.environ["TEST_HSM_PIN"] = hsm.pin
    try:
        provider = load_crypto(settings)
    finally:
        del os.environ["TEST_HSM_PIN"]
    assert isinstance(provider, Pkcs11CryptoProvider)
    assert provider.ehc_id(MPI_ID, *DOC) == EHC_ID


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('wrap_mechanism = "NOPE"', "unknown PKCS#11 mechanism"),
        ("sm4_inside = true", "sm4_inside needs"),
        ('sm4_inside = true\nsm4_ecb_mechanism = 0x1081\nsm4_key_type = "X"', "key type"),
    ],
)
def test_bad_pkcs11_configuration_is_one_line(tmp_path: Path, extra: str, message: str) -> None:
    settings = _settings(tmp_path, f'[crypto.pkcs11]\npin = "1234"\n{extra}\n')
    with pytest.raises(ConfigError, match=message) as info:
        pkcs11_config(settings)
    assert "\n" not in str(info.value) and str(info.value).startswith("[crypto.pkcs11]")


def test_unknown_provider_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"crypto\.provider"):
        _settings(tmp_path, '[crypto]\nprovider = "cloud-kms"\n')
