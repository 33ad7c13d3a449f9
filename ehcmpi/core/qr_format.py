"""The EHC QR code's text and its seal (guideline §4.2.3; DESIGN.md "QR codes").

Format (DESIGN.md "QR codes")::

    static   EHCID:type
    dynamic  EHCID:type:SEAL

``EHCID`` is the card's EHC ID (upper-case hex).  ``type`` names the card kind: ``1`` a formal
电子健康卡, ``2`` a temporary 电子就诊卡 (``EhcCardKind``) — static or dynamic is already told
by the number of fields, so the field says which card the code stands for, and a reader sees
at once that a patient holds only a temporary card.

``SEAL`` is 32 upper-case hex characters: ``SM4-ECB(protect_key, block)`` through
``CryptoProvider.qr_seal``, where the 16-byte ``block`` is the generation time as 14 ASCII
digits ``YYYYMMDDHHMMSS`` (UTC) followed by 2 binding bytes, the first two bytes of
``SM3(utf8(EHCID ‖ ":" ‖ type))``.  Tampering is detected on unsealing: a changed or invented
seal decrypts to a block whose first 14 bytes are digits with probability (10/256)^14, and a
seal copied from another card's code fails the binding (2^-16) — either is ``tampered``.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from ehcmpi.core.model import EhcCardKind

TIME_FORMAT = "%Y%m%d%H%M%S"
#: QR ``type`` field ↔ card kind.
KIND_CODES = {EhcCardKind.FORMAL: "1", EhcCardKind.TEMPORARY: "2"}
CODE_KINDS = {code: kind for kind, code in KIND_CODES.items()}
EHC_ID = re.compile(r"[0-9A-Fa-f]{32,512}")
SEAL = re.compile(r"[0-9A-Fa-f]{32}")


@dataclass(frozen=True, slots=True)
class ParsedCode:
    ehc_id: str
    type: str
    seal: bytes | None


def _binding(ehc_id: str, type_code: str) -> bytes:
    return hashlib.new("sm3", f"{ehc_id}:{type_code}".encode()).digest()[:2]


def parse(text: str) -> ParsedCode | None:
    """The fields of ``EHCID:type[:SEAL]``, canonical (upper case); None when malformed."""
    fields = text.strip().split(":")
    if len(fields) not in (2, 3) or not EHC_ID.fullmatch(fields[0]):
        return None
    if fields[1] not in CODE_KINDS:
        return None
    seal = None
    if len(fields) == 3:
        if not SEAL.fullmatch(fields[2]):
            return None
        seal = binascii.unhexlify(fields[2])
    return ParsedCode(fields[0].upper(), fields[1], seal)


def seal_block(at: dt.datetime, ehc_id: str, type_code: str) -> bytes:
    """The 16-byte plaintext of a dynamic code's seal."""
    return at.astimezone(dt.UTC).strftime(TIME_FORMAT).encode() + _binding(ehc_id, type_code)


def unsealed_time(block: bytes, ehc_id: str, type_code: str) -> dt.datetime | None:
    """The generation time in an unsealed block; None when the block is not genuine."""
    digits, binding = block[:14], block[14:]
    if not digits.isdigit() or binding != _binding(ehc_id, type_code):
        return None
    d = digits.decode()
    try:  # by hand: strptime costs a tenth of a verification
        return dt.datetime(
            int(d[:4]), int(d[4:6]), int(d[6:8]), int(d[8:10]), int(d[10:12]), int(d[12:]),
            tzinfo=dt.UTC,
        )  # fmt: skip
    except ValueError:
        return None


def code_key(ehc_id: str, type_code: str, at: dt.datetime) -> str:
    """The use counter's key of a dynamic code: independent of letter case in the text."""
    plain = f"{ehc_id}:{type_code}:{at.strftime(TIME_FORMAT)}"
    return hashlib.new("sm3", plain.encode()).hexdigest()
