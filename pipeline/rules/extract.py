"""HTML to text. resiliparse is the default (fast, main-content aware); trafilatura
is the slower, precision-oriented alternative a recipe can select.

Two limits keep one pathological page from stalling a worker: pages over
`max_bytes` are dropped before parsing (`extract/too_large`), and with a
`timeout_s` the extraction runs in a child process that is killed when the time
is up (`extract/timeout`); a crash of the extractor is `extract/failed`. The
child process costs a pickle round trip per page, so it is used only when a
timeout is set (the recipe default sets one for trafilatura, whose run time on
adversarial HTML is unbounded; resiliparse is linear C).
"""
from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass

from sources.document import Document

EXTRACTORS = ("resiliparse", "trafilatura")


def html_to_text(html: str, method: str = "resiliparse") -> str:
    if method == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text
        return extract_plain_text(html, main_content=True, alt_texts=False, links=False)
    if method == "trafilatura":
        import trafilatura
        return trafilatura.extract(html, include_comments=False, include_tables=True) or ""
    raise ValueError(f"unknown extractor {method!r}; choose one of {EXTRACTORS}")


@dataclass(frozen=True)
class ExtractLimits:
    max_bytes: int = 10_000_000
    timeout_s: float | None = None


class Extractor:
    """`extract_document` with limits; holds the child process when a timeout is set."""

    def __init__(self, method: str = "resiliparse", limits: ExtractLimits = ExtractLimits()):
        self.method, self.limits = method, limits
        self._pool: cf.ProcessPoolExecutor | None = None

    def _run(self, html: str) -> str:
        if self.limits.timeout_s is None:
            return html_to_text(html, self.method)
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(max_workers=1)
        future = self._pool.submit(html_to_text, html, self.method)
        try:
            return future.result(timeout=self.limits.timeout_s)
        except cf.TimeoutError:
            self.close()   # kill the stuck child; the next page gets a fresh one
            raise

    def close(self) -> None:
        if self._pool is not None:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __call__(self, doc: Document) -> Document | str:
        """HTML documents become plain text; text and code pass through untouched."""
        if doc.meta.get("format") != "html":
            return doc
        if len(doc.text.encode("utf-8", "surrogatepass")) > self.limits.max_bytes:
            return "too_large"
        try:
            text = self._run(doc.text)
        except cf.TimeoutError:
            return "timeout"
        except (cf.process.BrokenProcessPool, ValueError, RuntimeError, RecursionError):
            self.close()
            return "failed"
        if not text.strip():
            return "empty"
        return doc.with_text(text, format="text", extractor=self.method)


def extract_document(doc: Document, method: str = "resiliparse") -> Document | str:
    return Extractor(method)(doc)
