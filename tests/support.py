"""Test configuration shared by every test package: the hospital domains and a TOML writer."""

from __future__ import annotations

import pathlib

from ehcmpi.settings import KeySettings, Settings, load_settings

#: The two hospital systems of the test configuration (院内 HIS and LIS).
DOMAINS_TOML = """
[[identifier_domains]]
namespace = "HIS"
oid = "1.2.156.112604.1.2.1"
name = "院内 HIS"
source = "HIS"

[[identifier_domains]]
namespace = "LIS"
oid = "1.2.156.112604.1.2.2"
source = "LIS"
"""


def write_config(
    path: pathlib.Path, database_url: str, key_file: pathlib.Path, extra: str = ""
) -> pathlib.Path:
    """A configuration file for ``database_url`` with the test key file and domains."""
    path.write_text(
        f"""{extra}
[database]
url = "{database_url}"

[node]
code = "TEST-NODE"

[keys]
file = "{key_file}"
{DOMAINS_TOML}""",
        encoding="utf-8",
    )
    return path


def settings_for(path: pathlib.Path, database_url: str, key_file: pathlib.Path) -> Settings:
    return load_settings(str(write_config(path, database_url, key_file)), environ={})


def copy_key_file(source: pathlib.Path | str, target: pathlib.Path) -> pathlib.Path:
    """A private copy (mode 0600) of a key file, to rotate or replace without touching the
    session's."""
    target.write_bytes(pathlib.Path(source).read_bytes())
    target.chmod(0o600)
    return target


def with_key_file(settings: Settings, key_file: pathlib.Path) -> Settings:
    """The same settings with another ``[keys] file``."""
    return settings.model_copy(update={"keys": KeySettings(file=str(key_file))})
