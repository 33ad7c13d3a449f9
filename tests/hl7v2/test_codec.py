"""HL7 v2 codec: the published IHE examples, escapes, charsets and replies (HL7 v2.5 ch. 2)."""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest

from ehcmpi.hl7v2.ack import build_ack, read_header
from ehcmpi.hl7v2.codec import HL7Error, Raw, Rep, build, decode, err_segment, reply_msh

CONFORMANCE = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
FOLDERS = ("iti8", "iti9", "iti21", "iti10", "derived_mesa")
EXAMPLES = sorted(p for folder in FOLDERS for p in (CONFORMANCE / folder).glob("*.hl7"))
NOW = dt.datetime(2024, 5, 1, 8, 30, 0)


def test_the_conformance_corpus_is_there() -> None:
    assert len(EXAMPLES) > 60


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_published_example_decodes(path: pathlib.Path) -> None:
    raw = path.read_bytes()
    message = decode(raw)
    lines = [line for line in raw.decode("utf-8").split("\r") if line.strip()]
    assert [s.name for s in message.segments()] == [line[:3] for line in lines]
    assert message.type in {"ADT", "QBP", "RSP", "ACK", "QCN"}
    assert message.trigger and message.control_id and message.version.startswith("2.")
    assert message.msh.field(1) == "|" and message.msh.field(2) == "^~\\&"


def test_header_accessors() -> None:
    message = decode((CONFORMANCE / "iti9" / "iti9_rsp_k23_ipf_ok1.hl7").read_bytes())
    assert (message.type, message.trigger, message.structure) == ("RSP", "K23", "RSP_K23")
    assert (message.control_id, message.version, message.charset) == ("205200", "2.5", "utf-8")
    assert (message.sending_application, message.sending_facility) == ("MESA_XREF", "XYZ_HOSPITAL")
    assert message.receiving_application == "MESA_PIX_CLIENT"
    qpd = message.segment("QPD")
    assert qpd is not None and message.segment("ZZZ") is None
    assert qpd.first(1).component(2) == "Query for Corresponding Identifiers"
    assert qpd.first(3).component(4) == "HZLN" and qpd.first(3).component(5) == "PI"
    pid = message.segments("PID")[0]
    assert pid.first(3).sub(4, 2) == "2.16.840.1.113883.3.37.4.1.1.2.511.1"
    assert [r.text for r in pid.repetitions(5)] == ["", "^^^^^^S"]
    assert pid.field(99) == "" and pid.first(3).component(9) == "" and pid.first(3).sub(4, 7) == ""


def test_hd_with_universal_id_reads_as_namespace_oid_type() -> None:
    message = decode((CONFORMANCE / "iti8" / "iti8_a01_ipf_pixfeed_reg_maximal.hl7").read_bytes())
    oid = "1.2.840.114350.1.13.99998.8734"
    assert message.sending_application == f"{oid}&{oid}&ISO"
    assert message.msh.field(11) == "P^T"


@pytest.mark.parametrize("eol", [b"\r", b"\n", b"\r\n"])
def test_segment_separators_are_normalised(eol: bytes) -> None:
    raw = eol.join([b"MSH|^~\\&|HIS|H|EMPI|E|20240501||ADT^A01|1|P|2.5", b"EVN|A01", b"PID|1"])
    message = decode(raw + eol + eol)
    assert [s.name for s in message.segments()] == ["MSH", "EVN", "PID"]


def test_escape_sequences_are_unescaped_on_read() -> None:
    raw = b"MSH|^~\\&|A|B|C|D|20240501||ADT^A08|9|P|2.5\r"
    raw += b"NTE|1||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D0A\\g"
    note = decode(raw).segments("NTE")[0]
    assert note.field(3) == "a|b^c&d~e\\f\r\ng"


def test_text_round_trips_through_build_and_decode() -> None:
    tricky = "张伟|A^B&C~D\\E\rline 2"
    raw = build(
        [
            reply_msh(decode(b"MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5").header, "ADT^A08"),
            ["NTE", "1", None, tricky, [tricky, [tricky, "x"]], Rep((tricky, "two"))],
        ]
    )
    nte = decode(raw).segments("NTE")[0]
    assert nte.field(3) == tricky
    assert nte.first(4).component(1) == tricky and nte.first(4).sub(2, 1) == tricky
    assert nte.first(4).sub(2, 2) == "x"
    assert [r.text for r in nte.repetitions(5)] == [tricky, "two"]
    assert b"\\F\\" in raw and b"\\S\\" in raw and b"\\T\\" in raw and b"\\R\\" in raw


GB_REQUEST = (
    "MSH|^~\\&|HIS|北京协和医院|EHCMPI|区域平台|20240501083000||ADT^A01^ADT_A01|MSG0001|P|2.5"
    "|||||CHN|GB18030\r"
    "EVN|A01|20240501083000\r"
    "PID|1||H001^^^HIS&1.2.156.112604.1.2.1&ISO^PI||张^伟||19900307|M\r"
)


def test_gb18030_message_is_decoded_and_answered_in_gb18030() -> None:
    message = decode(GB_REQUEST.encode("gb18030"))
    assert message.charset == "gb18030" and message.sending_facility == "北京协和医院"
    pid = message.segments("PID")[0]
    assert pid.field(5) == "张^伟" and pid.first(5).component(1) == "张"
    reply = build(
        [
            reply_msh(message.header, "ACK^A01^ACK", now=NOW, control_id="R1"),
            ["MSA", "AA", message.control_id, "已登记 张伟"],
        ],
        message.header,
        charset=message.charset,
    )
    text = reply.decode("gb18030")
    assert text.split("\r")[0] == (
        "MSH|^~\\&|EHCMPI|区域平台|HIS|北京协和医院|20240501083000||ACK^A01^ACK|R1|P|2.5"
        "||||||GB18030"
    )
    assert "MSA|AA|MSG0001|已登记 张伟\r" in text
    with pytest.raises(UnicodeDecodeError):
        reply.decode("utf-8")


def test_undeclared_gbk_is_read_as_gb18030() -> None:
    raw = GB_REQUEST.replace("|CHN|GB18030", "").encode("gbk")
    message = decode(raw)
    assert message.charset == "gb18030"
    assert message.segments("PID")[0].field(5) == "张^伟"


def test_bytes_that_do_not_match_the_declared_charset_are_an_error() -> None:
    raw = GB_REQUEST.replace("GB18030", "UNICODE UTF-8").encode("gb18030")
    with pytest.raises(HL7Error) as caught:
        decode(raw)
    assert (caught.value.code, caught.value.location) == ("102", "MSH^1^18")


@pytest.mark.parametrize(
    ("raw", "code", "location"),
    [
        (b"", "100", "MSH^1"),
        (b"PID|1||123", "100", "MSH^1"),
        (b"MSH|^~\\&|A|B|C|D|20240501||", "101", "MSH^1^9"),
        (b"MSH|^~\\&|A|B|C|D|20240501||ADT^A04|1|P|3.0", "203", "MSH^1^12"),
        (b"MSH|^~\\&|A|B|C|D|20240501||ADT^A04|1|P|V2.5", "203", "MSH^1^12"),
    ],
)
def test_broken_headers_raise_hl7_errors(raw: bytes, code: str, location: str) -> None:
    with pytest.raises(HL7Error) as caught:
        decode(raw)
    assert (caught.value.code, caught.value.location) == (code, location)
    assert caught.value.condition


@pytest.mark.parametrize("version", ["2.3.1", "2.4", "2.5", "2.5.1", "2.7", ""])
def test_every_v2_release_is_read(version: str) -> None:
    raw = f"MSH|^~\\&|A|B|C|D|20240501||ADT^A04|1|P|{version}\rPID|1".encode()
    assert decode(raw).version == version


def test_reply_uses_the_request_delimiters() -> None:
    request = decode(
        b"MSH|^~\\&|HIS|H|EMPI|E|20240501||QBP^Q23^QBP_Q21|Q1|P|2.5\rQPD|IHE PIX Query"
    )
    qpd = request.segments("QPD")[0]
    reply = build(
        [
            reply_msh(request.header, "RSP^K23^RSP_K23", now=NOW, control_id="R9"),
            ["MSA", "AA", request.control_id],
            Raw(qpd.raw),
        ],
        request.header,
    ).decode()
    assert reply == (
        "MSH|^~\\&|EMPI|E|HIS|H|20240501083000||RSP^K23^RSP_K23|R9|P|2.5\r"
        "MSA|AA|Q1\r"
        "QPD|IHE PIX Query\r"
    )


def test_other_encoding_characters_are_honoured() -> None:
    message = decode(b"MSH#$%*!#HIS#H#EMPI#E#20240501##ADT$A01#1#P#2.5\rNTE#1##a*S*b#x$y!z%w")
    note = message.segments("NTE")[0]
    assert note.field(3) == "a$b"
    assert note.first(4).sub(2, 2) == "z" and [r.text for r in note.repetitions(4)] == [
        "x$y!z",
        "w",
    ]
    out = build([["NTE", "1", None, "a#b$c"]], message.header).decode()
    assert out == "NTE#1##a*F*b*S*c\r"


def test_err_segment_names_the_location_and_table_0357() -> None:
    error = HL7Error("204", "unknown domain", "QPD^1^3^1^4")
    segment = build([err_segment(error)]).decode()
    assert segment == "ERR||QPD^1^3^1^4|204^Unknown key identifier^HL70357|E||||unknown domain\r"


def test_build_ack_still_works() -> None:
    ack = build_ack(read_header(GB_REQUEST.encode("gb18030")), "AA", now=NOW)
    assert decode(ack).segments("MSA")[0].field(2) == "MSG0001"
