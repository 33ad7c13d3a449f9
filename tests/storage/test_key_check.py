"""A database is served only with the keys it was set up with (``storage.key_check``,
guideline §4.6 密钥管理): other keys would find no returning patient and give each a second
record and EHC ID."""

from __future__ import annotations

import pathlib

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.core.model import RegistrationMode, RegistrationRequest
from ehcmpi.crypto.check import check_value
from ehcmpi.crypto.keys import init_keyfile, rotate_keyfile
from ehcmpi.crypto.software import SoftwareCryptoProvider
from ehcmpi.settings import ConfigError, Settings
from ehcmpi.storage.tables import key_checks, patients
from ehcmpi.terminology.systems import ID_CARD_SYSTEM
from tests.core.support import CLERK, ZHANG_WEI_ID, request
from tests.support import copy_key_file, with_key_file


def _other_keys(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "other.key"
    init_keyfile(path)
    return path


def _stored(engine: Engine) -> list[tuple[str, bytes]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(key_checks.c.key_id, key_checks.c.check_value)).all()
    return [(key_id, bytes(value)) for key_id, value in rows]


def test_the_first_start_records_the_key_set(container: Container, engine: Engine) -> None:
    assert _stored(engine) == [(container.crypto.key_id, check_value(container.crypto))]


def test_other_keys_are_refused_naming_both_key_sets(
    container: Container, settings: Settings, engine: Engine, tmp_path: pathlib.Path
) -> None:
    other_file = _other_keys(tmp_path)

    with pytest.raises(ConfigError) as refused:
        build(with_key_file(settings, other_file), engine=engine)

    message = str(refused.value)
    assert message.startswith("密钥与数据库不匹配")
    assert container.crypto.key_id in message
    assert SoftwareCryptoProvider.from_keyfile(other_file).key_id in message
    assert "\n" not in message
    assert _stored(engine) == [(container.crypto.key_id, check_value(container.crypto))]


def test_the_same_keys_start_again_and_rotation_keeps_them(
    container: Container, settings: Settings, engine: Engine, tmp_path: pathlib.Path
) -> None:
    """Rotating the data, QR protect and SM2 keys keeps the root and index keys."""
    container.registration.register(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    key_file = copy_key_file(settings.keys.file, tmp_path / "rotated.key")
    rotate_keyfile(key_file)

    again = build(settings, engine=engine)
    rotated = build(with_key_file(settings, key_file), engine=engine)

    assert again.query.find(ID_CARD_SYSTEM, ZHANG_WEI_ID, CLERK) is not None
    assert rotated.query.find(ID_CARD_SYSTEM, ZHANG_WEI_ID, CLERK) is not None
    assert len(_stored(engine)) == 1


@pytest.mark.parametrize(
    "registered",
    [
        request("张伟", ("01", ZHANG_WEI_ID)),
        # §5.1.6 信息缺失: a temporary archive record with a phone and no document
        request("李娜", phones=("13800138000",), mode=RegistrationMode.FEED),
    ],
    ids=["document", "phone only"],
)
def test_a_database_from_before_the_check_is_vouched_for_by_its_data(
    container: Container,
    settings: Settings,
    engine: Engine,
    tmp_path: pathlib.Path,
    registered: RegistrationRequest,
) -> None:
    """Set up before migration 0012: no row yet, but data stored under its keys."""
    container.registration.register(registered, CLERK)
    with engine.begin() as conn:
        conn.execute(sa.delete(key_checks))

    with pytest.raises(ConfigError, match="密钥与数据库不匹配") as refused:
        build(with_key_file(settings, _other_keys(tmp_path)), engine=engine)
    assert _stored(engine) == []  # nothing recorded for the wrong keys
    assert "stored data does not open" in str(refused.value)

    build(settings, engine=engine)
    assert _stored(engine) == [(container.crypto.key_id, check_value(container.crypto))]


def test_an_empty_database_without_a_row_takes_the_keys_it_is_given(
    container: Container, settings: Settings, engine: Engine, tmp_path: pathlib.Path
) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(key_checks))
        assert conn.execute(sa.select(sa.func.count()).select_from(patients)).scalar_one() == 0
    other_file = _other_keys(tmp_path)

    build(with_key_file(settings, other_file), engine=engine)

    other = SoftwareCryptoProvider.from_keyfile(other_file)
    assert _stored(engine) == [(other.key_id, check_value(other))]
