"""Minimal HL7 v2 header reading and original-mode ACK building (HL7 v2.5 §2.9, §2.15.8 ERR).

Enough to acknowledge any message with MSA and ERR before message handlers exist: the ACK
mirrors the sender's MSH (applications swapped, same version and character set) and says AR
with ERR-3 code 200 (unsupported message type) for what the server does not handle.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

# HL7 table 0357 message error condition codes.
UNSUPPORTED_MESSAGE_TYPE = ("200", "Unsupported message type")
SEGMENT_SEQUENCE_ERROR = ("100", "Segment sequence error")
APPLICATION_INTERNAL_ERROR = ("207", "Application internal error")

#: MSH-18 character set → Python codec (HL7 table 0211, plus what Chinese HIS systems send).
CHARSETS = {
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "GB 18030-2000": "gb18030",
    "GB18030": "gb18030",
    "GBK": "gbk",
    "ASCII": "ascii",
    "8859/1": "latin-1",
}


@dataclass(frozen=True, slots=True)
class Header:
    """The MSH fields an acknowledgement needs."""

    field_sep: str
    encoding_chars: str
    fields: tuple[str, ...]

    def get(self, number: int) -> str:
        """MSH-n, counting MSH-1 as the field separator itself."""
        index = number - 1
        if number == 1:
            return self.field_sep
        return self.fields[index] if index < len(self.fields) else ""

    @property
    def charset(self) -> str:
        return CHARSETS.get(self.get(18).upper(), "utf-8")


def _parse(text: str) -> Header:
    sep = text[3]
    parts = text.split(sep)
    # parts[0] = "MSH", parts[1] = MSH-2 encoding characters; MSH-n is parts[n-1].
    return Header(sep, parts[1], tuple(parts))


def read_header(message: bytes) -> Header | None:
    """Parse MSH from raw bytes in the character set it declares (MSH-18), or None.

    The text is decoded before it is split: a GB 18030 character may have ``|`` or ``^`` as
    its second byte, and a sender's Chinese application or facility name (MSH-3/4) must come
    back readable in the ACK's MSH-5/6.  MSH-18 is first read from a byte-transparent
    decoding; a line that does not decode in what it declares is tried as UTF-8 and GB 18030,
    then kept byte-transparent as a last resort.
    """
    first = message.split(b"\r", 1)[0].split(b"\n", 1)[0]
    if not first.startswith(b"MSH") or len(first) < 8:
        return None
    probe = _parse(first.decode("latin-1"))
    for codec in dict.fromkeys((probe.charset, "utf-8", "gb18030")):
        try:
            header = _parse(first.decode(codec))
        except UnicodeDecodeError:
            continue
        if header.charset == codec:
            return header
    return probe


DEFAULT_HEADER = Header("|", "^~\\&", ("MSH", "^~\\&", "", "", "", "", "", "", "", "", "P", "2.5"))


def _escape(text: str, header: Header) -> str:
    specials = header.field_sep + header.encoding_chars[:4]
    return "".join(" " if c in specials else c for c in text)


def build_ack(
    header: Header | None,
    code: str,
    *,
    error: tuple[str, str] | None = None,
    text: str = "",
    location: str = "",
    now: dt.datetime | None = None,
) -> bytes:
    """An ACK in the sender's version and charset; ``code`` is AA, AE or AR; ``location``
    the error's ERR-2 (``MSH^1^12``)."""
    h = header or DEFAULT_HEADER
    sep, comp = h.field_sep, (h.encoding_chars or "^")[0]
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d%H%M%S")
    trigger = h.get(9).split(comp)[1] if comp in h.get(9) else ""
    msh = [
        "MSH", h.encoding_chars, h.get(5), h.get(6), h.get(3), h.get(4), stamp, "",
        f"ACK{comp}{trigger}{comp}ACK", secrets.token_hex(8).upper(), h.get(11) or "P",
        h.get(12) or "2.5", "", "", "", "", "", h.get(18),
    ]  # fmt: skip
    segments = [sep.join(msh).rstrip(sep), sep.join(["MSA", code, h.get(10)])]
    if error is not None:
        err = ["ERR", "", location.replace("^", comp), comp.join(error) + comp + "HL70357"]
        err += ["E", "", "", _escape(text, h)]
        segments.append(sep.join(err))
    return ("\r".join(segments) + "\r").encode(h.charset, errors="replace")


def reply_codes(reply: bytes) -> tuple[str, list[str]]:
    """MSA-1 of an acknowledgement or query response ('' if none) and its ERR-3 codes."""
    header = read_header(reply)
    sep = header.field_sep if header else "|"
    text = reply.decode(header.charset if header else "utf-8", errors="replace")
    code, errors = "", []
    for segment in text.replace("\n", "\r").split("\r"):
        fields = segment.split(sep)
        if fields[0] == "MSA" and len(fields) > 1:
            code = fields[1]
        elif fields[0] == "ERR" and len(fields) > 3:
            errors.append(fields[3].split("^")[0])
    return code, errors
