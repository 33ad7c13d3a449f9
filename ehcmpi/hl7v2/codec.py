"""HL7 v2 ER7 codec: decode a message into a read-only view, build a reply (HL7 v2.5 ch. 2).

``decode`` honours MSH-18 (§2.15.9.18, table 0211: UTF-8 by default, GB 18030, GBK), accepts
CR, LF or CRLF between segments (ITI TF-2 C.2.1 wants CR) and splits by the message's own
delimiters (MSH-1, MSH-2).  Values read through ``Segment``/``Field`` are unescaped (§2.7);
positions are 1-based; absent = "".

``build`` writes with the request's delimiters and charset.  Fields are nested values: ``str``
text (escaped), ``list`` components (a ``list`` in a component: sub-components), ``Rep``
repetitions, ``Raw`` ER7 written as is (a field copied from the request), ``None`` empty.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from ehcmpi.hl7v2.ack import CHARSETS, DEFAULT_HEADER, Header, read_header

#: HL7 table 0357, message error condition codes (ERR-3).
CONDITIONS = {
    "0": "Message accepted", "100": "Segment sequence error", "101": "Required field missing",
    "102": "Data type error", "103": "Table value not found",
    "200": "Unsupported message type", "201": "Unsupported event code",
    "202": "Unsupported processing id", "203": "Unsupported version id",
    "204": "Unknown key identifier", "205": "Duplicate key identifier",
    "206": "Application record locked", "207": "Application internal error",
}  # fmt: skip

#: MSH-12 versions read: any HL7 v2 release (2.1 … 2.9), the form they are written in
_VERSION_2 = re.compile(r"2(\.\d+){0,2}")
#: MSH-18 spellings beyond ``ack.CHARSETS`` that Chinese systems use.
_MORE_CHARSETS = {"GB 18030-2005": "gb18030", "GB18030-2005": "gb18030", "GB2312": "gb18030"}


class HL7Error(Exception):
    """An error condition: ``code`` from table 0357, ``location`` an ERR-2 ERL (§2.15.5.2)
    written ``SEG^seq^field^rep^comp^sub`` (``PID^1^3^2^4``), or "" when it has no position."""

    def __init__(self, code: str, message: str, location: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.location = code, message, location

    @property
    def condition(self) -> str:
        return CONDITIONS.get(self.code, "")


@dataclass(frozen=True, slots=True)
class Encoding:
    """Delimiters of one message (MSH-1, MSH-2) and its Python codec."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    charset: str = "utf-8"

    @classmethod
    def of(cls, header: Header, charset: str | None = None) -> Encoding:
        c = header.encoding_chars + "^~\\&"[len(header.encoding_chars) :]
        return cls(header.field_sep, c[0], c[1], c[2], c[3], charset or codec_for(header.get(18)))

    def escape_text(self, text: str) -> str:
        """Escape delimiters (``\\F\\ \\S\\ \\R\\ \\E\\ \\T\\``, §2.7.4), CR/LF as hex (§2.7.5)."""
        return text.translate(
            _escape_table(
                self.field, self.component, self.repetition, self.escape, self.subcomponent
            )
        )

    def unescape(self, text: str) -> str:
        if self.escape not in text:
            return text
        e = re.escape(self.escape)
        return re.sub(f"{e}([^{e}]*){e}", lambda m: self._sequence(m.group(1)), text)

    def _sequence(self, name: str) -> str:
        known = dict(F=self.field, S=self.component, R=self.repetition, E=self.escape)
        if name in (known := known | {"T": self.subcomponent, ".br": "\n"}):
            return known[name]
        if name.startswith("X") and re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", name[1:]):
            return bytes.fromhex(name[1:]).decode(self.charset, errors="replace")
        return ""  # highlighting, formatting and character-set switches carry no text


@functools.lru_cache(maxsize=16)
def _escape_table(field: str, component: str, repetition: str, e: str, sub: str) -> dict[int, str]:
    """The ``str.translate`` table escaping these delimiters (keyed by the delimiters
    themselves: hashing the ``Encoding`` on every call cost more than the translation)."""
    pairs = {e: "E", field: "F", component: "S", repetition: "R"}
    table = {ord(c): f"{e}{code}{e}" for c, code in (pairs | {sub: "T"}).items()}
    return table | {ord("\r"): f"{e}X0D{e}", ord("\n"): f"{e}X0A{e}"}


def codec_for(msh18: str) -> str:
    """Python codec for an MSH-18 value (HL7 table 0211); UTF-8 when empty or unknown."""
    return CHARSETS.get(key := msh18.strip().upper()) or _MORE_CHARSETS.get(key, "utf-8")


# Raw parse tree: field → repetitions → components → sub-components (escaped text).
_Components: TypeAlias = tuple[tuple[str, ...], ...]
_FieldTree: TypeAlias = tuple[_Components, ...]


@dataclass(frozen=True, slots=True)
class Field:
    """One repetition of a field: its components and sub-components, 1-based."""

    components: _Components
    encoding: Encoding

    def component(self, i: int) -> str:
        """Component ``i`` unescaped (sub-components joined by the sub-component delimiter)."""
        if i > len(self.components):
            return ""
        subs = self.components[i - 1]
        if len(subs) == 1:  # most components: no sub-component delimiter to join or strip
            return self.encoding.unescape(subs[0])
        return self.encoding.subcomponent.join(self.encoding.unescape(s) for s in subs).rstrip(
            self.encoding.subcomponent
        )

    def sub(self, i: int, j: int) -> str:
        subs = self.components[i - 1] if i <= len(self.components) else ()
        return self.encoding.unescape(subs[j - 1]) if j <= len(subs) else ""

    @property
    def text(self) -> str:
        """The repetition unescaped, components joined by the component delimiter."""
        parts = (self.component(i) for i in range(1, len(self.components) + 1))
        return self.encoding.component.join(parts).rstrip(self.encoding.component)

    @property
    def is_null(self) -> bool:
        """The HL7 delete indicator ``""`` (§2.5.3): the value is to be removed."""
        return self.components[:1] == (('""',),)


class Segment:
    """A segment: its name, its text as received (``raw``) and its fields, each split into
    repetitions → components → sub-components (text still escaped) when first asked for — a
    feed reads a dozen of PID's fields and none of the rest.  Field 0 is the segment name."""

    __slots__ = ("_fields", "_parts", "encoding", "name", "raw")

    def __init__(self, name: str, raw: str, parts: list[str], encoding: Encoding) -> None:
        self.name, self.raw, self.encoding = name, raw, encoding
        self._parts = parts  # parts[n]: field n as received
        self._fields: dict[int, list[Field]] = {}

    def _verbatim(self, n: int) -> bool:
        """Field ``n`` is taken as it stands: the segment name; in MSH, field 1 (the field
        separator itself) and field 2 (the encoding characters) (§2.15.9.1–2)."""
        return n == 0 or (self.name == "MSH" and n in (1, 2))

    def _tree(self, n: int) -> _FieldTree:
        """Field ``n`` split three deep (a verbatim field not at all)."""
        text, enc = self._parts[n], self.encoding
        if self._verbatim(n):
            return (((text,),),)
        rep, comp, sub = enc.repetition, enc.component, enc.subcomponent
        if rep not in text and comp not in text and sub not in text:
            return (((text,),),)  # most fields: one value, nothing to split
        return tuple(tuple(tuple(c.split(sub)) for c in r.split(comp)) for r in text.split(rep))

    def _repetitions(self, n: int) -> list[Field]:
        """Field ``n``'s repetitions, split once and kept; none when the field holds nothing
        but delimiters."""
        found = self._fields.get(n)
        if found is None:
            found = []
            text = self._parts[n] if n < len(self._parts) else ""
            enc = self.encoding
            if text and (
                self._verbatim(n) or text.strip(enc.repetition + enc.component + enc.subcomponent)
            ):
                found = [Field(rep, enc) for rep in self._tree(n)]
            self._fields[n] = found
        return found

    def repetitions(self, n: int) -> list[Field]:
        """All repetitions of field ``n`` (empty ones kept, so ordinals match ERR-2.4)."""
        return list(self._repetitions(n))

    def first(self, n: int) -> Field:
        found = self._repetitions(n)
        return found[0] if found else Field((), self.encoding)

    def field(self, n: int) -> str:
        """Field ``n``, first repetition, unescaped (MSH-1 and MSH-2 as they stand)."""
        if self.name == "MSH" and n in (1, 2):
            return self._parts[n] if n < len(self._parts) else ""
        return self.first(n).text


class Message:
    """A decoded message: MSH header, charset, segments (HL7 v2.5 §2.5, §2.15.9 MSH).

    ``type``/``trigger``/``structure`` are MSH-9.1/.2/.3, ``version`` MSH-12.1, the
    applications and facilities MSH-3 to MSH-6 as ``hd_text``.
    """

    def __init__(self, header: Header, encoding: Encoding, segments: tuple[Segment, ...]) -> None:
        self.header, self.encoding, self.charset = header, encoding, encoding.charset
        self._segments, self.msh = segments, segments[0]
        msh9 = self.msh.first(9)
        self.type, self.trigger, self.structure = (msh9.component(i) for i in (1, 2, 3))
        self.control_id, self.version = self.msh.field(10), self.msh.first(12).component(1)
        apps = [hd_text(self.msh.first(n)) for n in (3, 4, 5, 6)]
        self.sending_application, self.sending_facility = apps[0], apps[1]
        self.receiving_application, self.receiving_facility = apps[2], apps[3]

    def segments(self, name: str | None = None) -> list[Segment]:
        return [s for s in self._segments if name is None or s.name == name]

    def segment(self, name: str) -> Segment | None:
        return next((s for s in self._segments if s.name == name), None)


def hd_text(field: Field) -> str:
    """An HD (hierarchic designator) as text: ``namespace``, or ``namespace&oid&type``."""
    parts = [field.component(i) for i in (1, 2, 3)]
    return parts[0] if not any(parts[1:]) else "&".join(parts).rstrip("&")


def decode(raw: bytes) -> Message:
    """Decode ER7 bytes in the charset MSH-18 declares; raise ``HL7Error`` when impossible.

    Without MSH-18, bytes that are not UTF-8 are read (and answered) as GB 18030, a superset
    of the GBK that Chinese HIS systems send without saying so."""
    if (probe := read_header(raw := raw.removeprefix(b"\xef\xbb\xbf").lstrip())) is None:
        raise HL7Error("100", "message does not start with an MSH segment", "MSH^1")
    charset = codec_for(probe.get(18))
    try:
        text = raw.decode(charset)
    except UnicodeDecodeError:
        if probe.get(18).strip():
            raise HL7Error("102", f"message is not valid {charset}", "MSH^1^18") from None
        charset, text = "gb18030", raw.decode("gb18030", errors="replace")
    lines = [line for line in re.split(r"\r\n|\n|\r", text) if line.strip()]
    header = Header(lines[0][3], (msh := lines[0].split(lines[0][3]))[1], tuple(msh))
    encoding = Encoding.of(header, charset)
    segments = tuple(_segment_of(line, encoding) for line in lines)
    if not segments[0].field(9):
        raise HL7Error("101", "MSH-9 message type is missing", "MSH^1^9")
    message = Message(header, encoding, segments)
    if message.version and not _VERSION_2.fullmatch(message.version):
        raise HL7Error(  # v2.3.1 to v2.5.1 as the profiles ask, later 2.x read alike
            "203", f"unsupported version {message.version}: HL7 v2.x expected", "MSH^1^12"
        )
    return message


def _segment_of(line: str, enc: Encoding) -> Segment:
    """One segment split into its fields by the message's field separator (§2.5); each field
    is split further when read (``Segment._tree``).  In MSH the separator is field 1."""
    parts = line.split(enc.field)
    if parts[0] == "MSH":
        parts = ["MSH", enc.field, *parts[1:]]
    return Segment(parts[0], line, parts, enc)


Value: TypeAlias = "str | Sequence[Value] | None"


class Rep(tuple[Value, ...]):
    """The repetitions of one field, each a ``Value``."""


class Raw(str):
    """ER7 text written as is: a field or segment copied from a message with the same MSH-2."""


def build(
    segments: Sequence[Sequence[Value] | Raw], header: Header | None = None, *, charset: str = ""
) -> bytes:
    """ER7 bytes for ``segments`` with ``header``'s delimiters and charset (or ``charset``).

    Each segment is ``[name, field1, field2, ...]``; for MSH, fields 1 and 2 are taken from
    ``header`` whatever is given.  Trailing empty fields and components are dropped.
    """
    enc = Encoding.of(header or DEFAULT_HEADER, charset or None)
    text = "".join(_segment(seg, enc, header or DEFAULT_HEADER) + "\r" for seg in segments)
    return text.encode(enc.charset, errors="replace")


def _segment(seg: Sequence[Value] | Raw, enc: Encoding, header: Header) -> str:
    if isinstance(seg, str):
        return seg
    name, fields = str(seg[0]), seg[1:]
    if name == "MSH":
        name, fields = f"MSH{enc.field}{header.encoding_chars}", seg[3:]
    return enc.field.join([name, *(_value(f, enc, 0) for f in fields)]).rstrip(enc.field)


def _value(value: Value, enc: Encoding, level: int) -> str:
    """Render ``value`` at ``level`` 0 (field), 1 (component) or 2 (sub-component)."""
    if value is None:
        return ""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, str):
        return enc.escape_text(value)
    if isinstance(value, Rep) and level == 0:
        return enc.repetition.join(_value(v, enc, 0) for v in value)
    sep = (enc.component, enc.subcomponent)[min(level, 1)]
    return sep.join(_value(v, enc, min(level + 1, 2)) for v in value).rstrip(sep)


def reply_msh(
    request: Header, message_type: str, *, now: dt.datetime | None = None, control_id: str = ""
) -> list[Value]:
    """MSH of a reply (HL7 v2.5 §2.9.2, ITI TF-2 C.2.3; ITI-21 rule 17: MSH-5 → MSH-3).

    Applications swapped (MSH-3/4 ← request MSH-5/6 and back), a new MSH-10, the request's
    MSH-11, MSH-12 and MSH-18. ``message_type`` is written ``RSP^K23^RSP_K23``.
    """
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d%H%M%S")
    copied = [Raw(request.get(n)) for n in (5, 6, 3, 4)]
    control_id = control_id or secrets.token_hex(8).upper()
    return [
        "MSH", request.field_sep, request.encoding_chars, *copied, stamp, "",
        message_type.split("^"), control_id, Raw(request.get(11) or "P"),
        Raw(request.get(12) or "2.5"), "", "", "", "", "", Raw(request.get(18)),
    ]  # fmt: skip


def err_segment(error: HL7Error, severity: str = "E") -> list[Value]:
    """ERR (HL7 v2.5 §2.15.5): ERR-2 location, ERR-3 table 0357 code, ERR-4, ERR-8 text."""
    location = error.location.split("^") if error.location else None
    code = [error.code, error.condition, "HL70357"]
    return ["ERR", None, location, code, severity, None, None, None, error.message]
