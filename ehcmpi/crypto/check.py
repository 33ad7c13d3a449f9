"""A check value of a key set, as HSMs keep a key check value (KCV) of each key (guideline §4.6
密钥管理).

The root key (EHC IDs) and the blind-index key (exact lookup of document numbers and phones)
never rotate (``ehcmpi.crypto.keys``): data written under them is found only with them.
:func:`check_value` is what only this key set yields for fixed inputs — the blind index of a
fixed value and the EHC ID of a fixed document of a fixed master-index ID — hashed with SM3.
It goes through the :class:`CryptoProvider` port, so a key file and the HSM it was imported
into (``keys init --from-keyfile``) give the same value, and it reveals nothing of the keys.
"""

from __future__ import annotations

from typing import Final

from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.crypto.sm import sm3

#: blind-index kind and value of the probe (no stored index uses this kind)
PROBE_KIND: Final = "ehcmpi.key-check"
PROBE_VALUE: Final = "ehcmpi key check v1"
#: the probe document: a fixed master-index ID and a 居民身份证 number of no one in particular
PROBE_MPI_ID: Final = "0" * 64
PROBE_DOCUMENT: Final = ("01", "11010519491231002X")


def check_value(crypto: CryptoProvider) -> bytes:
    """``SM3(blind_index(probe) ‖ ehc_id(probe))``: 32 bytes, the same for the same root and
    index keys whatever else (data, QR protect, SM2 keys) has rotated."""
    index = crypto.blind_index(PROBE_KIND, PROBE_VALUE)
    card = crypto.ehc_id(PROBE_MPI_ID, *PROBE_DOCUMENT).encode("ascii")
    return sm3(index + card)
