"""Key rotation (ehcmpi.crypto.keys): what rotates, what cannot, and that nothing old is lost."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ehcmpi.crypto import sm2
from ehcmpi.crypto.errors import CryptoError, KeyFileError, MissingKeyError
from ehcmpi.crypto.keys import init_keyfile, load_keyfile, rotate_keyfile, watched_keyfile
from ehcmpi.crypto.material import KeyMaterial, derived_protect_key, rotate
from ehcmpi.crypto.sm import Sm4Ecb
from ehcmpi.crypto.software import DATA_KEY_MAGIC, SoftwareCryptoProvider

# DESIGN.md "EHC ID" test vector
ROOT_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
MPI_ID = "ABD17E7ED399EF68AB5660155D6E226D2C92EAC3254A4A66BED83AED0ADA1E9E"
EHC_ID = "98FF9F2C05145CB9305E9D8A57E072BB51180CA49E5BE5E9D41BCE3A9A571928"
TIME_BLOCK = b"20250101083000\x00\x00"


@pytest.fixture
def v1_file(tmp_path: Path) -> Path:
    """A key file as ehcmpi wrote it before version 2 (what existing sites have on disk)."""
    path = tmp_path / "v1.key"
    doc = {
        "version": 1,
        "key_id": "0011223344556677",
        "created": "2025-01-01T00:00:00+00:00",
        "root_key": ROOT_KEY.hex(),
        "data_key": os.urandom(16).hex(),
        "index_key": os.urandom(32).hex(),
    }
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    return path


def _legacy_blob_size(plaintext: str) -> int:
    return 12 + len(plaintext.encode()) + 16


def test_a_version_1_file_keeps_its_exact_behaviour(v1_file: Path) -> None:
    provider = SoftwareCryptoProvider(load_keyfile(v1_file))
    assert provider.ehc_id(MPI_ID, "01", "11010020171225006X") == EHC_ID
    blob = provider.encrypt_field("13800138000", "patient.phone")
    assert len(blob) == _legacy_blob_size("13800138000")  # no key-id prefix
    derived = Sm4Ecb(derived_protect_key(ROOT_KEY))
    assert provider.qr_seal(TIME_BLOCK) == derived.encrypt(TIME_BLOCK)
    with pytest.raises(MissingKeyError, match="keys rotate --signing"):
        provider.sm2_sign(b"no SM2 key in a version-1 file")


def test_rotation_upgrades_a_version_1_file_without_changing_ids_or_indexes(
    v1_file: Path,
) -> None:
    before = SoftwareCryptoProvider(load_keyfile(v1_file))
    old_blob = before.encrypt_field("张三", "patient.name")
    old_qr = before.qr_seal(TIME_BLOCK)
    index = before.blind_index("document.01", "11010020171225006X")

    rotated = rotate_keyfile(v1_file)
    after = SoftwareCryptoProvider(load_keyfile(v1_file))

    assert json.loads(v1_file.read_text())["version"] == 2
    assert (v1_file.stat().st_mode & 0o777) == 0o600
    assert rotated.key_id == "0011223344556677"  # the key set is the same
    assert after.ehc_id(MPI_ID, "01", "11010020171225006X") == EHC_ID
    assert after.blind_index("document.01", "11010020171225006X") == index
    assert after.decrypt_field(old_blob, "patient.name") == "张三"
    # the derived protect key is now written out, and retired: old QR codes still open
    assert rotated.retired_protect_keys[0].key == derived_protect_key(ROOT_KEY)
    assert after.qr_unseal(old_qr) != TIME_BLOCK
    assert after.qr_unseal_candidates(old_qr)[1] == TIME_BLOCK
    assert after.qr_unseal_candidates(after.qr_seal(TIME_BLOCK))[0] == TIME_BLOCK
    assert after.sm2_verify(b"m", after.sm2_sign(b"m"))


def test_new_ciphertexts_carry_the_new_data_key_id(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    first = init_keyfile(path)
    plain = SoftwareCryptoProvider(first).encrypt_field("x", "c")
    assert len(plain) == _legacy_blob_size("x")  # a new key set writes no prefix either

    second = rotate_keyfile(path, data=True, protect=False, signing=False)
    provider = SoftwareCryptoProvider(load_keyfile(path))
    blob = provider.encrypt_field("x", "c")

    assert second.data_key_id != first.data_key_id
    assert blob[:2] == DATA_KEY_MAGIC and blob[2:10] == bytes.fromhex(second.data_key_id)
    assert len(blob) == 10 + _legacy_blob_size("x")
    assert provider.decrypt_field(blob, "c") == provider.decrypt_field(plain, "c") == "x"
    assert second.protect_key == first.protect_key and second.signing_key == first.signing_key


def test_every_generation_stays_readable() -> None:
    keys = KeyMaterial.generate()
    blobs = []
    for generation in range(4):
        blobs.append((generation, SoftwareCryptoProvider(keys).encrypt_field(str(generation), "c")))
        keys = rotate(keys, protect=False, signing=False)
    provider = SoftwareCryptoProvider(keys)
    assert len(keys.retired_data_keys) == 4
    for generation, blob in blobs:
        assert provider.decrypt_field(blob, "c") == str(generation)
    with pytest.raises(CryptoError):
        SoftwareCryptoProvider(KeyMaterial.generate()).decrypt_field(blobs[-1][1], "c")


def test_a_first_key_blob_that_looks_like_a_prefix_still_opens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = rotate(KeyMaterial.generate(), protect=False, signing=False)
    header = DATA_KEY_MAGIC + bytes.fromhex(keys.data_key_id)
    first = KeyMaterial(keys.key_id, keys.root_key, keys.retired_data_keys[0].key, keys.index_key)
    monkeypatch.setattr(os, "urandom", lambda n: (header + b"\x00" * n)[:n])
    blob = SoftwareCryptoProvider(first).encrypt_field("x", "c")
    monkeypatch.undo()
    assert blob.startswith(header)  # a random nonce that happens to equal the header
    assert SoftwareCryptoProvider(keys).decrypt_field(blob, "c") == "x"


def test_signatures_and_sm2_ciphertexts_survive_rotation() -> None:
    keys = KeyMaterial.generate()
    old = SoftwareCryptoProvider(keys)
    signature, sealed = old.sm2_sign(b"m"), old.sm2_encrypt(b"session key 16 b")
    old_pem = old.sm2_public_key_pem()

    keys = rotate(keys, data=False, protect=False)
    new = SoftwareCryptoProvider(keys)

    assert new.sm2_public_key_pem() != old_pem
    assert new.sm2_verify(b"m", signature)  # any key the provider holds
    assert new.sm2_verify(b"m", signature, public_key=old_pem)
    assert not new.sm2_verify(b"m", signature, public_key=new.sm2_public_key_pem())
    assert new.sm2_decrypt(sealed) == b"session key 16 b"
    assert not old.sm2_verify(b"m", new.sm2_sign(b"m"))
    info = new.public_info()
    assert [key_id for key_id, _ in info.signing_keys] == list(keys.signing_key_ids)
    assert info.signing_keys[1][1] == old_pem


def test_root_and_index_keys_never_rotate() -> None:
    keys = KeyMaterial.generate()
    rotated = rotate(rotate(keys))
    assert (rotated.key_id, rotated.root_key, rotated.index_key) == (
        keys.key_id,
        keys.root_key,
        keys.index_key,
    )
    assert len(set(rotated.data_key_ids)) == len(set(rotated.protect_key_ids)) == 3


def test_public_info_and_reprs_hold_no_private_material() -> None:
    keys = rotate(KeyMaterial.generate())
    provider = SoftwareCryptoProvider(keys)
    assert keys.signing_key is not None
    secrets = [keys.root_key, keys.data_key, keys.index_key, keys.protect_key]
    secrets += [keys.signing_key.private_key, keys.retired_signing_keys[0].private_key]
    secrets += [k.key for k in (*keys.retired_data_keys, *keys.retired_protect_keys)]
    text = repr(provider.public_info()) + repr(keys) + repr(provider) + str(keys.signing_key)
    text += repr(keys.retired_data_keys) + repr(keys.retired_signing_keys)
    for secret in secrets:
        assert secret.hex() not in text.lower()
    for _, pem in provider.public_info().signing_keys:
        assert sm2.load_public_key(pem)  # public keys only


def _edit(path: Path, change: dict[str, object]) -> None:
    doc = json.loads(path.read_text())
    doc.update(change)
    path.write_text(json.dumps(doc))


def test_a_signing_key_pair_that_does_not_belong_together_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    keys = init_keyfile(path)
    doc = json.loads(path.read_text())
    private = os.urandom(32).hex()
    _edit(path, {"signing_key": {**doc["signing_key"], "private_key": private}})
    with pytest.raises(KeyFileError, match="SM2 密钥对不匹配") as info:
        load_keyfile(path)
    assert private not in str(info.value) and keys.key_id in path.read_text()


@pytest.mark.parametrize(
    "change",
    [
        {"data_key_id": "not-hex"},
        {"retired": {"data_keys": [{"id": "KEY_ID", "key": "00" * 16}]}},  # duplicate id
        {"retired": {"data_keys": "x"}},
        {"retired": []},
        {"signing_key": "x"},
    ],
)
def test_malformed_version_2_fields_are_one_clear_error(
    tmp_path: Path, change: dict[str, object]
) -> None:
    path = tmp_path / "k.json"
    keys = init_keyfile(path)
    _edit(path, json.loads(json.dumps(change).replace("KEY_ID", keys.key_id)))
    with pytest.raises(KeyFileError) as info:
        load_keyfile(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def _running(path: Path) -> SoftwareCryptoProvider:
    """A provider as a running server holds it: loaded once, watching its key file."""
    keys, reread = watched_keyfile(path)
    return SoftwareCryptoProvider(keys, reread=reread)


def test_a_running_provider_opens_what_a_rotated_key_file_sealed(tmp_path: Path) -> None:
    """``keys rotate`` while a server runs: a process started afterwards (an import, a worker
    restarted after a crash) seals with the new keys; the running one must open that."""
    path = tmp_path / "ehcmpi.key"
    init_keyfile(path)
    running = _running(path)
    before = SoftwareCryptoProvider(load_keyfile(path))
    old_blob, old_seal = running.encrypt_field("张三", "c"), running.qr_seal(TIME_BLOCK)
    rotate_keyfile(path, data=True, protect=True, signing=False)
    newer = SoftwareCryptoProvider(load_keyfile(path))

    new_blob, new_seal = newer.encrypt_field("李四", "c"), newer.qr_seal(TIME_BLOCK)

    assert running.decrypt_field(new_blob, "c") == "李四"
    assert TIME_BLOCK in running.qr_unseal_candidates(new_seal)
    # It goes on sealing with its own keys until it restarts; both sides open both.
    assert before.decrypt_field(running.encrypt_field("王五", "c"), "c") == "王五"
    assert running.qr_seal(TIME_BLOCK) == old_seal
    assert newer.decrypt_field(running.encrypt_field("王五", "c"), "c") == "王五"
    assert running.decrypt_field(old_blob, "c") == "张三"


def test_a_running_provider_verifies_and_decrypts_with_a_newer_sm2_key_pair(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ehcmpi.key"
    init_keyfile(path)
    running = _running(path)
    rotate_keyfile(path, data=False, protect=False, signing=True)
    newer = SoftwareCryptoProvider(load_keyfile(path))
    signature = newer.sm2_sign(b"message")
    sealed = newer.sm2_encrypt(b"secret")

    assert running.sm2_verify(b"message", signature)
    assert running.sm2_decrypt(sealed) == b"secret"
    assert not running.sm2_verify(b"other message", signature)
    assert running.public_info().signing_keys[0] != newer.public_info().signing_keys[0]


def test_a_tampered_blob_is_still_refused_and_an_unchanged_file_is_not_reread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ehcmpi.key"
    init_keyfile(path)
    running = _running(path)
    blob = running.encrypt_field("张三", "c")
    unknown = DATA_KEY_MAGIC + bytes(8) + blob
    reads: list[Path] = []
    monkeypatch.setattr("ehcmpi.crypto.keys.load_keyfile", lambda p: reads.append(p))

    for bad in (unknown, blob[:-1] + bytes([blob[-1] ^ 1])):
        with pytest.raises(CryptoError):
            running.decrypt_field(bad, "c")
    assert reads == []  # nothing changed on disk: no file read per bad blob


def test_another_key_set_in_the_file_is_not_taken(tmp_path: Path) -> None:
    path = tmp_path / "ehcmpi.key"
    init_keyfile(path)
    running = _running(path)
    init_keyfile(path, overwrite=True)
    stranger = SoftwareCryptoProvider(load_keyfile(path))
    rotated = SoftwareCryptoProvider(rotate(load_keyfile(path)))

    with pytest.raises(CryptoError):
        running.decrypt_field(stranger.encrypt_field("x", "c"), "c")
    with pytest.raises(CryptoError):
        running.decrypt_field(rotated.encrypt_field("x", "c"), "c")
