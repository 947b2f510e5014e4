"""Telling a clean end of a multi-member gzip stream from a truncated one.

FastWARC ends iteration quietly when a gzip member is cut off (a partial download,
a disk that filled up), so the records in the lost tail would vanish unaccounted.
`GzipIntegrity` wraps the raw stream, decompresses what passes through it with
zlib (discarding the output) and afterwards says whether the last member ended
cleanly. Its cost is one extra inflate of the bytes read, small beside parsing
and extraction. Non-gzip streams pass through unchecked.
"""
from __future__ import annotations

import zlib
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
_MAX_OUTPUT = 1 << 20   # inflate in bounded steps: a gzip bomb must not fill memory


class GzipIntegrity:
    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.is_gzip: bool | None = None     # decided on the first bytes
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._in_member = False
        self.corrupt = False
        self.io_error: OSError | None = None   # a storage failure, told apart from bad data

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.raw.read(size)
        except OSError as exc:
            self.io_error = exc
            raise
        if self.is_gzip is None and data:
            self.is_gzip = data[:2] == GZIP_MAGIC
        if self.is_gzip and not self.corrupt:
            self._feed(data)
        return data

    def _feed(self, data: bytes) -> None:
        try:
            while data:
                self._in_member = True
                self._inflate.decompress(data, _MAX_OUTPUT)
                data = self._inflate.unconsumed_tail
                if self._inflate.eof:
                    data = self._inflate.unused_data + data
                    self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    self._in_member = False
        except zlib.error:
            self.corrupt = True

    def ended_cleanly(self) -> bool:
        """True unless the stream is gzip and stopped inside a member or was not valid."""
        return not self.is_gzip or (not self.corrupt and not self._in_member)

    def __getattr__(self, name):          # tell(), seekable(), close() ... from the raw stream
        return getattr(self.raw, name)


# ----------------------------------------------------------------------------- resync
def member_end(stream: BinaryIO, start: int) -> int | None:
    """Where the gzip member starting at `start` ends, if it inflates cleanly into
    something that begins like a WARC record; else None."""
    stream.seek(start)
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
    consumed, head = 0, b""
    try:
        while not inflate.eof:
            data = stream.read(1 << 16)
            if not data:
                return None
            out = inflate.decompress(data, _MAX_OUTPUT)
            while inflate.unconsumed_tail and not inflate.eof:   # bounded steps, output discarded
                out += inflate.decompress(inflate.unconsumed_tail, _MAX_OUTPUT)
            if len(head) < 5:
                head += out[:5]
            consumed += len(data)
    except zlib.error:
        return None
    if not head.startswith(b"WARC/"):
        return None
    return start + consumed - len(inflate.unused_data) - len(inflate.unconsumed_tail)


def next_member(stream: BinaryIO, start: int) -> int | None:
    """The first offset after `start` where a clean WARC gzip member begins."""
    position = start + 1
    while True:
        stream.seek(position)
        window = stream.read(1 << 20)
        if not window:
            return None
        at = window.find(GZIP_MAGIC + b"\x08")
        while at >= 0:
            if member_end(stream, position + at) is not None:
                return position + at
            at = window.find(GZIP_MAGIC + b"\x08", at + 1)
        position += max(len(window) - 2, 1)


def first_bad_member(stream: BinaryIO, start: int) -> int:
    """Walks members from `start` while they are clean; returns where the first bad one begins."""
    position = start
    while (end := member_end(stream, position)) is not None:
        position = end
    return position
