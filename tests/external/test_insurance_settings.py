"""``[insurance]`` configuration (guideline §6.5): mistakes stop the server with one line."""

from __future__ import annotations

import pathlib

import pytest

from ehcmpi.bootstrap import insurance_verifier
from ehcmpi.core.verifier import BreakerState
from ehcmpi.settings import ConfigError, load_settings
from tests.support import write_config


def settings_with(tmp_path: pathlib.Path, extra: str) -> object:
    path = write_config(tmp_path / "ehcmpi.toml", "sqlite:///x.db", tmp_path / "k.key", extra)
    return load_settings(str(path), environ={})


def test_the_verifier_is_wired_from_the_section(tmp_path: pathlib.Path) -> None:
    settings = load_settings(
        str(write_config(tmp_path / "a.toml", "sqlite:///x.db", tmp_path / "k.key",
                         '[insurance]\nurl = "http://127.0.0.1:9"\nbreaker_failures = 4\n')),
        environ={},
    )  # fmt: skip
    client, guarded = insurance_verifier(settings)
    assert client is not None and guarded is not None
    assert guarded.breaker.state is BreakerState.CLOSED
    client.close()
    plain = load_settings(str(write_config(tmp_path / "b.toml", "sqlite:///x.db", tmp_path)),
                          environ={})  # fmt: skip
    assert insurance_verifier(plain) == (None, None)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[insurance]\nurl = "ftp://insurance"\n', "insurance.url"),
        ("[insurance]\nbreaker_failures = 0\n", "insurance.breaker_failures"),
        ("[insurance]\ntimeout_seconds = -1\n", "insurance.timeout_seconds"),
        ('[insurance]\ncard_domain = "NOPE"\n', "card_domain 'NOPE'"),
        ("[insurance]\nretry = 3\n", "未知配置项 'insurance.retry'"),
    ],
)
def test_mistakes_are_one_clear_line(tmp_path: pathlib.Path, extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_with(tmp_path, extra)
    assert expected in str(raised.value) and "\n" not in str(raised.value)
