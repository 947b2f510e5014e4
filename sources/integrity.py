"""Telling a clean end of a multi-member gzip stream from a truncated one.

FastWARC ends iteration quietly when a gzip member is cut off (a partial download,
a disk that filled up), so the records in the lost tail would vanish unaccounted.
`GzipIntegrity` wraps the raw stream, decompresses what passes through it with
zlib (discarding the output) and afterwards says whether the last member ended
cleanly. `FrameDecoder` is the member (or zstd frame) walker it shares with the
JSON Lines reader. Its cost is one extra inflate of the bytes read, small beside parsing
and extraction. Non-gzip streams pass through unchecked.
"""
from __future__ import annotations

import zlib
from typing import Any, BinaryIO, Callable, Iterator

GZIP_MAGIC = b"\x1f\x8b"
_MAX_OUTPUT = 1 << 20   # resync inflates in bounded steps: a huge member must not fill memory


def new_gzip_decoder():
    return zlib.decompressobj(zlib.MAX_WBITS | 16)


class FrameDecoder:
    """Decodes concatenated frames (zstd) or members (gzip) fed in pieces, and knows
    whether the input so far stops inside one, and where that one began (bytes
    from the first fed)."""

    def __init__(self, new_decoder: Callable[[], Any]):
        self.new_decoder = new_decoder
        self.decoder = new_decoder()
        self.in_frame = False
        self.fed = 0            # bytes fed so far
        self.frame_start = 0    # where the current (or next) frame begins

    def feed(self, data: bytes) -> Iterator[bytes]:
        end = self.fed + len(data)
        self.fed = end
        while data:
            self.in_frame = True
            out = self.decoder.decompress(data)
            if out:
                yield out
            if self.decoder.eof:
                data, self.decoder, self.in_frame = self.decoder.unused_data, self.new_decoder(), False
                self.frame_start = end - len(data)
            else:
                data = b""


class GzipIntegrity:
    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.is_gzip: bool | None = None     # decided on the first bytes
        self._members = FrameDecoder(new_gzip_decoder)
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
            try:
                for _ in self._members.feed(data):   # inflate only to follow the members
                    pass
            except zlib.error:
                self.corrupt = True
        return data

    def ended_cleanly(self) -> bool:
        """True unless the stream is gzip and stopped inside a member or was not valid."""
        return not self.is_gzip or (not self.corrupt and not self._members.in_frame)

    @property
    def open_member_start(self) -> int:
        """Where the member the stream stopped inside begins, in bytes from where this
        wrapper started reading."""
        return self._members.frame_start

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
            while True:   # bounded steps; only the first bytes are kept
                if len(head) < 5:
                    head += out[:5 - len(head)]
                if not inflate.unconsumed_tail or inflate.eof:
                    break
                out = inflate.decompress(inflate.unconsumed_tail, _MAX_OUTPUT)
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
