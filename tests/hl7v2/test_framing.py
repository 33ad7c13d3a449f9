"""MLLP framing (IHE ITI TF-2 Appendix C.2.1): bytes in, whole messages out, no sockets."""

from __future__ import annotations

from ehcmpi.hl7v2.framing import END, VT, FrameDecoder, Oversize, frame

MESSAGE = b"MSH|^~\\&|HIS|HOSP|EHCMPI|HOSP|20240101||ADT^A01|M1|P|2.5\rPID|1||H1\r"
OTHER = b"MSH|^~\\&|LIS|HOSP|EHCMPI|HOSP|20240101||ADT^A08|M2|P|2.5\r"


def _feed(decoder: FrameDecoder, *chunks: bytes) -> list[bytes | Oversize]:
    return [item for chunk in chunks for item in decoder.feed(chunk)]


def test_frame_wraps_a_message_in_vt_and_fs_cr() -> None:
    assert frame(b"MSH|x") == b"\x0bMSH|x\x1c\x0d"


def test_a_frame_split_into_single_bytes_decodes_once() -> None:
    data = frame(MESSAGE)

    assert _feed(FrameDecoder(1024), *(data[i : i + 1] for i in range(len(data)))) == [MESSAGE]


def test_the_end_marker_split_across_chunks_is_found() -> None:
    data = frame(MESSAGE)

    assert _feed(FrameDecoder(1024), data[:-1], data[-1:]) == [MESSAGE]


def test_two_frames_in_one_chunk_decode_in_order() -> None:
    assert _feed(FrameDecoder(1024), frame(MESSAGE) + frame(OTHER)) == [MESSAGE, OTHER]


def test_a_chunk_ending_inside_the_second_frame_keeps_it_for_later() -> None:
    data = frame(MESSAGE) + frame(OTHER)
    cut = len(frame(MESSAGE)) + 10
    decoder = FrameDecoder(1024)

    assert _feed(decoder, data[:cut]) == [MESSAGE]
    assert _feed(decoder, data[cut:]) == [OTHER]


def test_bytes_outside_frames_are_dropped() -> None:
    data = b"hello\r\n" + frame(MESSAGE) + b"\r\n\x00junk" + frame(OTHER) + b"trailing"

    assert _feed(FrameDecoder(1024), data) == [MESSAGE, OTHER]


def test_an_oversize_frame_in_pieces_is_reported_once_and_the_next_frame_decodes() -> None:
    decoder = FrameDecoder(100)
    big = b"MSH|^~\\&|HIS|HOSP|||||ADT^A01|BIG1|P|2.5\r" + b"X" * 500

    items = _feed(
        decoder, VT + big[:150], big[150:300], big[300:] + END[:1], END[1:] + frame(OTHER)
    )

    oversize = [i for i in items if isinstance(i, Oversize)]
    assert len(oversize) == 1
    assert oversize[0].prefix.startswith(b"MSH|^~\\&|HIS")
    assert [i for i in items if isinstance(i, bytes)] == [OTHER]


def test_an_oversize_frame_in_one_chunk_is_reported_once() -> None:
    big = b"MSH|^~\\&|HIS|HOSP|||||ADT^A01|BIG2|P|2.5\r" + b"Y" * 500

    items = _feed(FrameDecoder(100), frame(big) + frame(OTHER))

    assert len(items) == 2
    assert isinstance(items[0], Oversize) and b"BIG2" in items[0].prefix
    assert items[1] == OTHER


def test_a_message_exactly_at_the_limit_is_accepted() -> None:
    message = b"M" * 100

    assert _feed(FrameDecoder(100), frame(message)) == [message]
