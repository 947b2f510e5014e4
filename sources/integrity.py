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
