"""Streaming HTTP(S) reads with retries and resumable range requests.

Common Crawl serves its files over HTTPS (`https://data.commoncrawl.org/crawl-data/...`);
a WARC is about 1 GB, and connections drop. `HttpStream` is a read-only file
object over one URL: it streams the body, and when a request fails (connection
error, 5xx, 429) or the body breaks off early, it waits (exponential backoff) and
asks again with `Range: bytes=<bytes already read>-`, so nothing is read twice
and nothing is skipped. A server that ignores the range (200 instead of 206) is
handled by skipping what was already read. The stream also seeks (a new range
request), so parquet files are read over HTTPS footer first, row group by row group,
never downloaded whole. Only the standard library is used.
"""
from __future__ import annotations

import http.client
import io
import time
import urllib.error
import urllib.request

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "corpusmill/0.1 (+https://github.com/corpusmill)"


class HttpReadError(OSError):
    """The URL could not be read, even after retries."""


def is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


class HttpStream(io.RawIOBase):
    def __init__(self, url: str, retries: int = 5, backoff_s: float = 0.5, timeout_s: float = 60.0):
        self.url, self.retries, self.backoff_s, self.timeout_s = url, retries, backoff_s, timeout_s
        self.position = 0
        self.length: int | None = None
        self.attempts = 0          # requests made, for tests and logs
        self._response = None
        self._done = False

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Moves the position; the next read asks for `Range: bytes=<position>-`. Parquet
        reads its footer first and then its row groups, each a seek."""
        if whence == io.SEEK_CUR:
            offset += self.position
        elif whence == io.SEEK_END:
            offset += self.size()
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        if offset != self.position:
            if self._response is not None:
                self._response.close()
                self._response = None
            self.position, self._done = offset, False
        return self.position

    def size(self) -> int:
        """The body's length, from the first response's headers (a request is made if none was)."""
        if self.length is None and self._response is None and not self._done:
            self._connect()
        if self.length is None:
            raise HttpReadError(f"{self.url}: the server does not say how long the file is")
        return self.length

    def _connect(self) -> None:
        failures = 0
        while True:
            self.attempts += 1
            request = urllib.request.Request(self.url, headers={"User-Agent": USER_AGENT})
            if self.position:
                request.add_header("Range", f"bytes={self.position}-")
            try:
                response = urllib.request.urlopen(request, timeout=self.timeout_s)
                if self.position and response.status == 200:      # range ignored: skip what we have
                    _skip(response, self.position)
                if self.length is None:
                    self.length = _total_length(response, self.position)
                self._response = response
                return
            except urllib.error.HTTPError as exc:
                if exc.code == 416 and self.length is not None and self.position >= self.length:
                    self._done = True
                    return
                if exc.code not in RETRYABLE_STATUS:
                    raise HttpReadError(f"{self.url}: HTTP {exc.code}") from exc
                error = exc
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                error = exc
            failures += 1
            if failures > self.retries:
                raise HttpReadError(f"{self.url}: giving up after {failures} attempts: {error}") from error
            time.sleep(self.backoff_s * 2 ** (failures - 1))

    def readinto(self, buffer) -> int:
        failures = 0
        while not self._done:
            if self._response is None:
                self._connect()
                continue
            try:
                n = self._response.readinto(buffer)
            except (OSError, http.client.HTTPException):
                n = -1
            if n > 0:
                self.position += n
                return n
            complete = n == 0 and (self.length is None or self.position >= self.length)
            self._response.close()
            self._response = None
            if complete:
                self._done = True
            else:                       # broke off early: resume from here
                failures += 1
                if failures > self.retries:
                    raise HttpReadError(f"{self.url}: body keeps breaking off at byte {self.position}")
                time.sleep(self.backoff_s * 2 ** (failures - 1))
        return 0

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        super().close()


def _skip(response, n: int) -> None:
    while n > 0:
        chunk = response.read(min(n, 1 << 20))
        if not chunk:
            raise http.client.IncompleteRead(b"")
        n -= len(chunk)


def _total_length(response, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range")   # bytes a-b/total
    if content_range and "/" in content_range and not content_range.endswith("*"):
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return int(length) + (offset if response.status == 206 else 0) if length else None


def url_size(url: str, **kwargs) -> int:
    """The length of the file at `url` (HttpReadError when it cannot be read)."""
    stream = HttpStream(url, **kwargs)
    try:
        return stream.size()
    finally:
        stream.close()


def open_url(url: str, **kwargs) -> io.BufferedReader:
    return io.BufferedReader(HttpStream(url, **kwargs), buffer_size=1 << 20)
