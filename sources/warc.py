"""CommonCrawl WARC reader (FastWARC): HTTP response records with HTML become Documents.

Common Crawl ships one gzip member per record; FastWARC detects and streams that.
Non-HTML and non-200 responses are rejected with a reason; request, metadata and
warcinfo records are not documents and are not read. If the stream breaks off
(corrupt record, or a gzip member cut short, which FastWARC alone would pass over
in silence: see sources/integrity.py), the rest of the file goes to the dead
letters with the offset of the last good record, and the job goes on.
"""
from __future__ import annotations

from typing import BinaryIO, Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

from sources.document import DeadLetter, Document, Rejected, document_id
from sources.integrity import GzipIntegrity
from sources.readers import ReadContext

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def decode_html(payload: bytes, declared_charset: str | None) -> tuple[str, str]:
    """Bytes to str: the HTTP charset if it is given, else resiliparse's detection."""
    charset = (declared_charset or "").strip().lower() or detect_encoding(payload)
    return bytes_to_str(payload, charset), charset


def read_warc(stream: BinaryIO, ctx: ReadContext) -> Iterator[Document | Rejected | DeadLetter]:
    checked = GzipIntegrity(stream)
    records = ArchiveIterator(checked, record_types=WarcRecordType.response, parse_http=True,
                              auto_decode="all")
    last_pos = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            if not checked.ended_cleanly():
                yield DeadLetter(ctx.source, f"{ctx.path}@{last_pos}", "read/truncated_warc",
                                 "gzip stream ends inside a member: records after this offset are lost")
            return
        except (OSError, ValueError, RuntimeError) as exc:  # corrupt member or header
            yield DeadLetter(ctx.source, f"{ctx.path}@{last_pos}", "read/corrupt_warc", repr(exc))
            return
        last_pos = record.stream_pos
        doc_id = document_id(ctx.source, ctx.relpath, record.stream_pos)
        status = record.http_headers.status_code if record.is_http else None
        if status != 200:
            yield Rejected(ctx.source, doc_id, "read/http_status")
            continue
        mime = (record.http_content_type or "").split(";")[0].strip().lower()
        if mime not in HTML_TYPES:
            yield Rejected(ctx.source, doc_id, "read/non_html")
            continue
        try:
            payload = record.reader.read()
            html, charset = decode_html(payload, record.http_charset)
        except (OSError, ValueError, LookupError) as exc:
            yield DeadLetter(ctx.source, f"{ctx.path}@{record.stream_pos}", "read/undecodable", repr(exc))
            continue
        yield Document(
            id=doc_id, text=html, kind=ctx.kind, source=ctx.source,
            url=record.headers.get("WARC-Target-URI") or "",
            meta={"format": "html", "charset": charset,
                  "warc_date": record.headers.get("WARC-Date") or "",
                  "warc_record_id": record.record_id or ""},
        )
