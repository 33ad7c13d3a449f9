"""MLLP framing (HL7 v2 MLLP, IHE ITI TF-2 Appendix C.2.1): ``<VT> message <FS><CR>``.

Pure byte handling, no sockets: ``FrameDecoder`` takes bytes as they arrive and yields whole
messages; bytes outside a frame are dropped, as MLLP receivers do; a frame larger than the
limit is reported once and its bytes discarded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

VT = b"\x0b"
FS = b"\x1c"
CR = b"\x0d"
END = FS + CR


def frame(message: bytes) -> bytes:
    return VT + message + END


@dataclass(frozen=True, slots=True)
class Oversize:
    """A frame exceeded the maximum message size; ``prefix`` is its start, for the ACK."""

    prefix: bytes


class FrameDecoder:
    def __init__(self, max_size: int) -> None:
        self._max = max_size
        self._buffer = bytearray()
        self._in_frame = False
        self._skipping = False

    def feed(self, data: bytes) -> Iterator[bytes | Oversize]:
        self._buffer += data
        while True:
            if not self._in_frame:
                start = self._buffer.find(VT)
                if start < 0:
                    self._buffer.clear()
                    return
                del self._buffer[: start + 1]
                self._in_frame, self._skipping = True, False
            end = self._buffer.find(END)
            if end < 0:
                if len(self._buffer) > self._max:
                    if not self._skipping:
                        self._skipping = True
                        yield Oversize(bytes(self._buffer[:4096]))
                    keep = self._buffer[-1:] if self._buffer.endswith(FS) else b""
                    self._buffer = bytearray(keep)
                return
            message = bytes(self._buffer[:end])
            del self._buffer[: end + len(END)]
            self._in_frame = False
            if self._skipping or len(message) > self._max:
                if not self._skipping:
                    yield Oversize(message[:4096])
                continue
            yield message
