"""A SoftHSM2 token of the test session's own, never the system token directory.

SoftHSM2 reads ``SOFTHSM2_CONF`` when the library is first initialised in a process, so one
token directory per test process is created before that and reused (tests keep apart by KEK
label and wrapped-key file). ``make test`` installs SoftHSM2 (Debian ``softhsm2``).
"""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache

LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "ehcmpi-test"
PIN = "246810"
SO_PIN = "13579"


@dataclass(frozen=True)
class SoftHsm:
    conf: pathlib.Path
    token_dir: pathlib.Path
    library: str = LIBRARY
    token: str = TOKEN
    pin: str = PIN


@cache
def softhsm() -> SoftHsm:
    """The process's token (created on first use); sets ``SOFTHSM2_CONF`` for the process."""
    util = shutil.which("softhsm2-util")
    assert util and pathlib.Path(LIBRARY).exists(), "SoftHSM2 missing: apt-get install softhsm2"
    base = pathlib.Path(tempfile.mkdtemp(prefix="ehcmpi-softhsm-"))
    atexit.register(shutil.rmtree, base, True)
    token_dir = base / "tokens"
    token_dir.mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [util, "--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN, "--pin", PIN],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
    )
    return SoftHsm(conf, token_dir)
