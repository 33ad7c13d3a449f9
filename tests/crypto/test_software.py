"""Tests for ehcmpi.crypto.software: the EHC ID vector of DESIGN.md and the provider port."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ehcmpi.crypto import (
    CryptoError,
    CryptoProvider,
    KeyMaterial,
    SoftwareCryptoProvider,
    compute_ehc_id,
    derive_user_key,
    diversification_factor,
    init_keyfile,
    new_mpi_id,
    sm3,
    sm4_ecb_decrypt,
)
from ehcmpi.crypto.software import MPI_ID_DOMAIN

# DESIGN.md, "Decisions already taken", EHC ID.
ROOT_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
MPI_ID = "ABD17E7ED399EF68AB5660155D6E226D2C92EAC3254A4A66BED83AED0ADA1E9E"
FACTOR = "92CDCE45A16799FD"
USER_KEY = "86C63180C2806ED1F47B859DE501215B"
EHC_ID = "98FF9F2C05145CB9305E9D8A57E072BB51180CA49E5BE5E9D41BCE3A9A571928"
DOC_TYPE, DOC_NUMBER = "01", "11010020171225006X"


@pytest.fixture
def keys() -> KeyMaterial:
    return KeyMaterial(
        key_id="0011223344556677",
        root_key=ROOT_KEY,
        data_key=os.urandom(16),
        index_key=os.urandom(32),
    )


@pytest.fixture
def provider(keys: KeyMaterial) -> SoftwareCryptoProvider:
    return SoftwareCryptoProvider(keys)


def test_diversification_factor_vector() -> None:
    assert diversification_factor(MPI_ID).hex().upper() == FACTOR
    assert diversification_factor(MPI_ID.lower()).hex().upper() == FACTOR


def test_user_key_vector() -> None:
    assert derive_user_key(ROOT_KEY, MPI_ID).hex().upper() == USER_KEY


def test_ehc_id_vector() -> None:
    assert compute_ehc_id(ROOT_KEY, MPI_ID, DOC_TYPE, DOC_NUMBER) == EHC_ID


def test_ehc_id_vector_through_provider(provider: SoftwareCryptoProvider) -> None:
    assert provider.ehc_id(MPI_ID, DOC_TYPE, DOC_NUMBER) == EHC_ID
    assert provider.ehc_id(MPI_ID.lower(), DOC_TYPE, DOC_NUMBER) == EHC_ID


def test_ehc_id_decrypts_to_zero_padded_input() -> None:
    plain = sm4_ecb_decrypt(bytes.fromhex(USER_KEY), bytes.fromhex(EHC_ID))
    assert plain == b"0111010020171225006X" + b"\x00" * 12


@pytest.mark.parametrize(
    ("number", "hex_len"), [("1", 64), ("1" * 14, 64), ("1" * 30, 64), ("1" * 31, 96)]
)
def test_ehc_id_padding_to_whole_blocks_and_at_least_64_hex(number: str, hex_len: int) -> None:
    ehc_id = compute_ehc_id(ROOT_KEY, MPI_ID, "99", number)
    assert len(ehc_id) == hex_len
    assert ehc_id == ehc_id.upper()


def test_ehc_id_depends_on_every_input() -> None:
    other_mpi = "0" * 64
    assert compute_ehc_id(ROOT_KEY, other_mpi, DOC_TYPE, DOC_NUMBER) != EHC_ID
    assert compute_ehc_id(ROOT_KEY, MPI_ID, "02", DOC_NUMBER) != EHC_ID
    assert compute_ehc_id(ROOT_KEY, MPI_ID, DOC_TYPE, "11010020171225006x") != EHC_ID
    assert compute_ehc_id(os.urandom(16), MPI_ID, DOC_TYPE, DOC_NUMBER) != EHC_ID


@pytest.mark.parametrize("mpi_id", ["", MPI_ID[:-1], MPI_ID + "0", "G" + MPI_ID[1:], " " * 64])
def test_ehc_id_rejects_bad_mpi_id(mpi_id: str) -> None:
    with pytest.raises(ValueError, match="主索引号格式错误"):
        compute_ehc_id(ROOT_KEY, mpi_id, DOC_TYPE, DOC_NUMBER)
    with pytest.raises(ValueError):
        derive_user_key(ROOT_KEY, mpi_id)


@pytest.mark.parametrize("doc_type", ["", "1", "001", "０1", "\x001"])
def test_ehc_id_rejects_bad_doc_type(doc_type: str) -> None:
    with pytest.raises(ValueError, match="证件类型代码错误"):
        compute_ehc_id(ROOT_KEY, MPI_ID, doc_type, DOC_NUMBER)


def test_ehc_id_of_a_cjk_officer_card_number_is_utf8_encoded() -> None:
    """军官证 numbers carry CJK characters; they are encoded as UTF-8, ASCII unchanged."""
    cjk = compute_ehc_id(ROOT_KEY, MPI_ID, "04", "南字第123456号")
    assert re.fullmatch(r"[0-9A-F]{64}", cjk)
    assert cjk != compute_ehc_id(ROOT_KEY, MPI_ID, "04", "北字第123456号")


@pytest.mark.parametrize("doc_number", ["", "1101\x00", "1101\n"])
def test_ehc_id_rejects_bad_doc_number_without_echoing_it(doc_number: str) -> None:
    with pytest.raises(ValueError, match="证件号码错误") as info:
        compute_ehc_id(ROOT_KEY, MPI_ID, DOC_TYPE, doc_number)
    assert not doc_number or doc_number not in str(info.value)


def test_new_mpi_id_format_and_uniqueness(provider: SoftwareCryptoProvider) -> None:
    ids = {provider.new_mpi_id("H0001") for _ in range(2000)}
    assert len(ids) == 2000
    for mpi_id in ids:
        assert re.fullmatch(r"[0-9A-F]{64}", mpi_id)
    assert provider.ehc_id(next(iter(ids)), DOC_TYPE, DOC_NUMBER)  # usable as an EHC ID input


def test_new_mpi_id_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "urandom", lambda n: b"\xab" * n)
    monkeypatch.setattr("time.time_ns", lambda: 0x0102030405060708)
    digest = sm3(
        MPI_ID_DOMAIN
        + b"\x00"
        + "医院A".encode()
        + b"\x00"
        + b"\xab" * 16
        + b"\x00"
        + bytes.fromhex("0102030405060708")
    )
    millis = (0x0102030405060708 // 1_000_000).to_bytes(6, "big")
    assert new_mpi_id("医院A") == (millis + digest[6:]).hex().upper()


def test_new_mpi_ids_sort_in_the_order_they_were_made() -> None:
    """The leading milliseconds keep the master-index B-trees appending at their right edge."""
    made = []
    for _ in range(5):
        made.append(new_mpi_id("H0001"))
        time.sleep(0.002)
    assert made == sorted(made)
    stamped = int(made[-1][:12], 16) / 1000
    assert abs(stamped - time.time()) < 5


def test_provider_satisfies_port(provider: SoftwareCryptoProvider) -> None:
    assert isinstance(provider, CryptoProvider)
    port: CryptoProvider = provider
    assert port.key_id == "0011223344556677"


@pytest.mark.parametrize("value", ["", "13800138000", "张三", "北京市东城区 1 号 🏥"])
def test_field_round_trip(provider: SoftwareCryptoProvider, value: str) -> None:
    blob = provider.encrypt_field(value, "patient.phone")
    assert value.encode() not in blob or not value
    assert provider.decrypt_field(blob, "patient.phone") == value


def test_field_is_randomized(provider: SoftwareCryptoProvider) -> None:
    assert provider.encrypt_field("x", "patient.phone") != provider.encrypt_field(
        "x", "patient.phone"
    )


def test_field_moved_to_another_column_fails(provider: SoftwareCryptoProvider) -> None:
    blob = provider.encrypt_field("11010020171225006X", "document.number")
    with pytest.raises(CryptoError, match="数据解密失败"):
        provider.decrypt_field(blob, "patient.phone")


def test_field_tampered_fails(provider: SoftwareCryptoProvider) -> None:
    blob = bytearray(provider.encrypt_field("13800138000", "patient.phone"))
    blob[15] ^= 0x01
    with pytest.raises(CryptoError):
        provider.decrypt_field(bytes(blob), "patient.phone")


def test_field_other_keys_fail(keys: KeyMaterial, provider: SoftwareCryptoProvider) -> None:
    blob = provider.encrypt_field("13800138000", "patient.phone")
    other = SoftwareCryptoProvider(KeyMaterial.generate())
    with pytest.raises(CryptoError):
        other.decrypt_field(blob, "patient.phone")


def test_field_rejects_empty_context(provider: SoftwareCryptoProvider) -> None:
    with pytest.raises(ValueError, match="加密上下文不能为空"):
        provider.encrypt_field("x", "")
    with pytest.raises(ValueError):
        provider.decrypt_field(b"\x00" * 40, "")


def test_blind_index_deterministic(provider: SoftwareCryptoProvider) -> None:
    first = provider.blind_index("document.01", DOC_NUMBER)
    assert len(first) == 32
    assert provider.blind_index("document.01", DOC_NUMBER) == first
    assert provider.blind_index("document.01", DOC_NUMBER[:-1] + "x") != first


def test_blind_index_same_keys_same_index(keys: KeyMaterial) -> None:
    one, two = SoftwareCryptoProvider(keys), SoftwareCryptoProvider(keys)
    assert one.blind_index("patient.phone", "13800138000") == two.blind_index(
        "patient.phone", "13800138000"
    )


def test_blind_index_kind_separation(provider: SoftwareCryptoProvider) -> None:
    assert provider.blind_index("document.01", "123") != provider.blind_index("document.02", "123")
    # kind ‖ 0x1F ‖ value is unambiguous: shifting characters across the separator changes it.
    assert provider.blind_index("ab", "c") != provider.blind_index("a", "bc")


def test_blind_index_key_separation(keys: KeyMaterial) -> None:
    other = KeyMaterial(
        key_id=keys.key_id,
        root_key=keys.root_key,
        data_key=keys.data_key,
        index_key=os.urandom(32),
    )
    value = ("patient.phone", "13800138000")
    assert SoftwareCryptoProvider(keys).blind_index(*value) != SoftwareCryptoProvider(
        other
    ).blind_index(*value)


@pytest.mark.parametrize("kind", ["", "a\x1fb"])
def test_blind_index_rejects_bad_kind(provider: SoftwareCryptoProvider, kind: str) -> None:
    with pytest.raises(ValueError, match="索引类别"):
        provider.blind_index(kind, "x")


def _key_hex(keys: KeyMaterial) -> Iterator[str]:
    for key in (keys.root_key, keys.data_key, keys.index_key):
        yield key.hex()
        yield key.hex().upper()


def test_provider_repr_hides_keys(keys: KeyMaterial, provider: SoftwareCryptoProvider) -> None:
    text = repr(provider) + str(provider)
    assert "0011223344556677" in text
    for secret in _key_hex(keys):
        assert secret not in text


def test_provider_from_keyfile(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keys = init_keyfile(path)
    provider = SoftwareCryptoProvider.from_keyfile(path)
    assert provider.key_id == keys.key_id
    assert provider.ehc_id(MPI_ID, DOC_TYPE, DOC_NUMBER) == compute_ehc_id(
        keys.root_key, MPI_ID, DOC_TYPE, DOC_NUMBER
    )
