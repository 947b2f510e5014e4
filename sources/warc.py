"""Common Crawl WARC, WET and WAT readers (FastWARC).

WARC: HTTP response records with HTML (and `resource` records that hold an HTML
page) become Documents; the `metadata` record CC writes after each response adds
the CLD2 language guess (`languages-cld2`). Non-200, non-HTML, empty and
binary-bodied responses are rejected with a reason; request and warcinfo records
are not documents. HTTP headers with bare LF line ends (old crawls) are read
(FastWARC's quirks mode). ARC files are counted as `read/arc_format`, not read. With `wat: true` the source also
reads each WARC's companion WAT file (`.../wat/...warc.wat.gz`) and attaches its
per-URL metadata (title, meta tags, server IP). Charset: the HTTP header's, else
resiliparse's detection; a declared charset that cannot decode the bytes falls
back to detection (meta `charset_repaired`).

WET: conversion records, text already extracted by Common Crawl, with its
language identification (`WARC-Identified-Content-Language`). Language codes
from either are ISO 639-1 where one exists (sources/languages.py).

Broken input dead-letters with its offset and the job goes on: a corrupt gzip
member (skipped to the next clean one where the stream can seek), and a record
the file stops inside (a partial download; FastWARC alone would pass a gzip
member cut short over in silence, sources/integrity.py, and hand on the partial
body of a plain WARC): such a record is never a document, `read/truncated_warc`.
"""
from __future__ import annotations

import json
import re
import zlib
from typing import Any, BinaryIO, Iterator, NamedTuple

from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

from sources.document import DeadLetter, Document, Rejected, document_id
from sources.files import ReadContext, open_input
from sources.integrity import GZIP_MAGIC, GzipIntegrity, first_bad_member, member_end, new_gzip_decoder, next_member
from sources.languages import iso639_1

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
Record = Document | Rejected | DeadLetter


def decode_html(payload: bytes, declared: str | None) -> tuple[str, str, bool]:
    """(text, charset, repaired): the declared charset if it decodes the bytes,
    else resiliparse's detection (repaired=True when a declared one was wrong)."""
    declared = (declared or "").strip().lower()
    if declared:
        try:
            return payload.decode(declared), declared, False
        except (LookupError, UnicodeDecodeError):
            pass
    detected = detect_encoding(payload)
    return bytes_to_str(payload, detected), detected, bool(declared)


def looks_binary(payload: bytes) -> bool:
    """NUL bytes or mostly control characters in the first 4 KB: not text, whatever the label."""
    head = payload[:4096]
    if b"\x00" in head:
        return True
    controls = sum(b < 9 or 13 < b < 32 for b in head)
    return controls > len(head) * 0.1


def cld2_languages(block: bytes) -> list[dict] | None:
    for line in block.decode("utf-8", "replace").splitlines():
        if line.startswith("languages-cld2:"):
            try:
                return json.loads(line.split(":", 1)[1]).get("languages") or None
            except json.JSONDecodeError:
                return None
    return None


class WarcItem(NamedTuple):
    """One whole record: its file offset, the FastWARC record (headers) and its body."""
    pos: int
    record: Any
    body: bytes


def iter_records(stream: BinaryIO, ctx: ReadContext, record_types) -> Iterator[WarcItem | DeadLetter]:
    """Every whole record, with its body read. A record is held back until the next one
    begins or the stream ends cleanly, so a record the file stops inside (a partial
    download, a full disk) is never passed on: it becomes a DeadLetter
    `read/truncated_warc` at its offset, and so do bytes after the last whole record
    of a plain WARC. A corrupt gzip member becomes a DeadLetter and, where the stream
    can seek, reading resumes at the next clean member, so the records after the
    damage are read too."""
    if is_arc(stream):
        yield DeadLetter(ctx.source, f"{ctx.path}@0", "read/arc_format",
                         "an ARC file (the Internet Archive's format before WARC), not read: convert it to WARC "
                         "first (for example with warcio's ArchiveIterator(arc2warc=True))")
        return
    def wanted(item: WarcItem | None) -> list[WarcItem]:
        return [item] if item is not None and item.record.record_type & record_types else []

    segment = 0        # offset where the current ArchiveIterator started
    while True:
        checked = GzipIntegrity(stream)
        # every record type is read, the unwanted ones dropped here, so that the end of the
        # last whole record is known whatever its type
        records = ArchiveIterator(checked, record_types=WarcRecordType.any_type, parse_http=True,
                                  auto_decode="all", quirks_mode=True)   # quirks: LF-only HTTP headers
        held: WarcItem | None = None
        last = None    # offset of the last record read in this segment
        while True:
            try:
                record = next(records)
            except StopIteration:
                for item in _stream_end(stream, ctx, checked, segment, last, held):
                    yield from wanted(item) if isinstance(item, WarcItem) else [item]
                return
            except (OSError, ValueError, RuntimeError) as exc:  # corrupt member or header
                if checked.io_error is not None:   # the storage failed, not the data: file_records reports it
                    raise checked.io_error from exc
                error = exc
                break
            yield from wanted(held)
            held = None
            last = record.stream_pos   # FastWARC counts from the stream's tell(): file offsets
            try:
                body = record.reader.read()
            except (OSError, ValueError) as exc:   # a body that does not decode (Content-Encoding)
                if checked.io_error is not None:
                    raise checked.io_error from exc
                yield DeadLetter(ctx.source, f"{ctx.path}@{last}", "read/corrupt_record", repr(exc))
                continue
            if _short(record, body):
                yield _truncated(ctx, last, f"body of {len(body)} bytes, Content-Length {record.content_length}")
            else:
                held = WarcItem(last, record, body)
        yield from wanted(held)
        resume = yield from _skip_damage(stream, ctx, segment, last, error, bool(checked.is_gzip))
        if resume is None:
            return
        stream.seek(resume)
        segment = resume


def is_arc(stream: BinaryIO) -> bool:
    """Whether a seekable stream holds an ARC file: its first record is `filedesc://...`
    (gzip-compressed or not). A stream that cannot seek is read as WARC."""
    if not getattr(stream, "seekable", lambda: False)():
        return False
    start = stream.tell()
    head = stream.read(1024)
    stream.seek(start)
    if head.startswith(GZIP_MAGIC):
        try:
            head = new_gzip_decoder().decompress(head)
        except zlib.error:
            return False
    return head.startswith(b"filedesc://")


def _truncated(ctx: ReadContext, pos: int, why: str) -> DeadLetter:
    return DeadLetter(ctx.source, f"{ctx.path}@{pos}", "read/truncated_warc", f"{why}: not a whole record")


def _short(record, body: bytes) -> bool:
    """A body shorter than its Content-Length, where the two compare: an HTTP body that
    FastWARC decoded (gzip, chunked) has another length than the bytes stored."""
    if record.is_http and record.http_headers is not None and (
            record.http_headers.get("Content-Encoding") or record.http_headers.get("Transfer-Encoding")):
        return False
    return len(body) < record.content_length


def _stream_end(stream: BinaryIO, ctx: ReadContext, checked: GzipIntegrity, segment: int, last: int | None,
                held: WarcItem | None) -> Iterator[WarcItem | DeadLetter]:
    """At the end of the stream: the last record read (at `last`; `held` when it was whole,
    None when it was already dead-lettered), if the stream holds all of it, and a
    DeadLetter for anything the stream stopped inside."""
    if checked.is_gzip:
        open_member = segment + checked.open_member_start
        if checked.ended_cleanly() or open_member == last:
            if held is not None and not checked.ended_cleanly():
                yield _truncated(ctx, held.pos, "gzip stream ends inside this record's member")
            elif held is not None:
                yield held
            return
        yield from [held] if held is not None else []
        yield _truncated(ctx, open_member, "gzip stream ends inside a member: records from this offset are lost")
        return
    tail = _plain_tail(stream, segment if last is None else last, last is not None)
    if tail is None:        # cannot seek (HTTP): the body-length check is all there is
        yield from [held] if held is not None else []
        return
    body_end, size, trailing = tail
    if body_end > size:     # the file ends inside the last record
        if held is not None:
            yield _truncated(ctx, held.pos, f"the file ends at byte {size}, inside the record")
        return
    yield from [held] if held is not None else []
    if trailing >= 0:
        yield _truncated(ctx, trailing, f"{size - trailing} bytes after the last whole record")


HEADER_END = re.compile(rb"\r?\n\r?\n")
CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*(\d+)")


def _plain_tail(stream: BinaryIO, pos: int, has_record: bool) -> tuple[int, int, int] | None:
    """For a plain WARC that FastWARC read to its end, with its last whole record at `pos`
    (`has_record`; else `pos` is where reading began): (where that record's body ends by
    its own header, the file's size, where bytes other than blank lines begin after it,
    or -1). None where the stream cannot seek."""
    if not getattr(stream, "seekable", lambda: False)():
        return None
    size = stream.seek(0, 2)
    body_end = pos
    if has_record:
        stream.seek(pos)
        head = stream.read(1 << 16)
        end = HEADER_END.search(head)
        length = CONTENT_LENGTH.search(head, 0, end.start()) if end else None
        if length is None:
            return size + 1, size, -1
        body_end = pos + end.end() + int(length.group(1))
    stream.seek(min(body_end, size))
    rest = stream.read(1 << 16)
    blank = len(rest) - len(rest.lstrip(b"\r\n"))
    return body_end, size, (body_end + blank if blank < len(rest) else -1)


def _skip_damage(stream: BinaryIO, ctx: ReadContext, segment: int, last: int | None, exc: Exception,
                 is_gzip: bool):
    """Dead-letters the damaged member; returns the offset to resume at, or None
    (plain WARCs and streams that cannot seek, such as HTTP, stop at the damage)."""
    if not (is_gzip and getattr(stream, "seekable", lambda: False)()):
        yield DeadLetter(ctx.source, f"{ctx.path}@{segment if last is None else last}", "read/corrupt_warc", repr(exc))
        return None
    after_good = segment if last is None else (member_end(stream, last) or last)
    bad = first_bad_member(stream, after_good)
    resume = next_member(stream, bad)
    end = "end of file" if resume is None else f"offset {resume}"
    yield DeadLetter(ctx.source, f"{ctx.path}@{bad}", "read/corrupt_warc", f"{exc!r}; skipped to {end}")
    return resume


def response_document(item: WarcItem, ctx: ReadContext) -> Record:
    """A `response` record (HTTP, status 200) or a `resource` record (the page itself, as
    archives of single pages store it) whose content is HTML -> a Document."""
    record, pos, payload = item.record, item.pos, item.body
    doc_id = document_id(ctx.source, ctx.relpath, pos)
    if record.record_type == WarcRecordType.resource:
        content_type, charset = record.headers.get("Content-Type") or "", _charset(record.headers.get("Content-Type"))
    else:
        if (record.http_headers.status_code if record.is_http else None) != 200:
            return Rejected(ctx.source, doc_id, "read/http_status")
        content_type, charset = record.http_content_type or "", record.http_charset
    if content_type.split(";")[0].strip().lower() not in HTML_TYPES:
        return Rejected(ctx.source, doc_id, "read/non_html")
    if not payload.strip():
        return Rejected(ctx.source, doc_id, "read/empty")
    if looks_binary(payload):
        return Rejected(ctx.source, doc_id, "read/binary_body")
    html, charset, repaired = decode_html(payload, charset)
    meta = {"format": "html", "charset": charset, "warc_date": record.headers.get("WARC-Date") or "",
            "warc_record_id": record.record_id or ""}
    if repaired:
        meta["charset_repaired"] = True
    return Document(id=doc_id, text=html, kind=ctx.kind, source=ctx.source,
                    url=record.headers.get("WARC-Target-URI") or "", meta=meta)


def _charset(content_type: str | None) -> str | None:
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.I)
    return match.group(1) if match else None


def with_languages(doc: Record, languages: list[dict] | None) -> Record:
    if not isinstance(doc, Document) or not languages:
        return doc
    return doc.with_text(doc.text, language=iso639_1(languages[0].get("code", "")), languages_cld2=languages)


CRAWL_NAME = re.compile(r"CC-MAIN-\d{4}-\d{2}")


def crawl_of(path: str, warcinfo: bytes = b"") -> str:
    """The crawl a file belongs to (`dump`, as FineWeb names it): its warcinfo record's
    `isPartOf` (CC-MAIN-2024-22), else a crawl name in its path ("" if neither says)."""
    for line in warcinfo.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "ispartof" and value.strip():
            return value.strip()
    match = CRAWL_NAME.search(path)
    return match.group(0) if match else ""


def with_dump(doc: Record, dump: str) -> Record:
    return doc.with_text(doc.text, dump=dump) if isinstance(doc, Document) and dump else doc


def read_warc(stream: BinaryIO, ctx: ReadContext) -> Iterator[Record]:
    wat: dict[str, dict] = {}
    if ctx.options.get("wat"):
        wat, missing = load_companion_wat(ctx)
        if missing is not None:
            yield missing
    pending: Record | None = None     # a response waits for the metadata record after it
    dump = crawl_of(ctx.path)
    types = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.metadata | WarcRecordType.warcinfo
    for item in iter_records(stream, ctx, types):
        if not isinstance(item, DeadLetter) and item.record.record_type == WarcRecordType.warcinfo:
            dump = crawl_of(ctx.path, item.body)
        elif isinstance(item, DeadLetter) or item.record.record_type != WarcRecordType.metadata:
            if pending is not None:
                yield pending
            pending = item if isinstance(item, DeadLetter) else \
                with_dump(attach_wat(response_document(item, ctx), wat), dump)
        elif isinstance(pending, Document) and \
                item.record.headers.get("WARC-Concurrent-To") == pending.meta["warc_record_id"]:
            pending = with_languages(pending, cld2_languages(item.body))
    if pending is not None:
        yield pending


def read_wet(stream: BinaryIO, ctx: ReadContext) -> Iterator[Record]:
    dump = crawl_of(ctx.path)
    for item in iter_records(stream, ctx, WarcRecordType.conversion | WarcRecordType.warcinfo):
        if isinstance(item, DeadLetter):
            yield item
            continue
        if item.record.record_type == WarcRecordType.warcinfo:
            dump = crawl_of(ctx.path, item.body)
            continue
        pos, record, payload = item
        doc_id = document_id(ctx.source, ctx.relpath, pos)
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield DeadLetter(ctx.source, f"{ctx.path}@{pos}", "read/invalid_utf8", str(exc))
            continue
        if not text.strip():
            yield Rejected(ctx.source, doc_id, "read/empty")
            continue
        language = iso639_1((record.headers.get("WARC-Identified-Content-Language") or "").split(",")[0])
        yield Document(id=doc_id, text=text, kind=ctx.kind, source=ctx.source,
                       url=record.headers.get("WARC-Target-URI") or "",
                       meta={"format": "text", "language": language,
                             "warc_date": record.headers.get("WARC-Date") or "",
                             "warc_refers_to": record.headers.get("WARC-Refers-To") or "",
                             **({"dump": dump} if dump else {})})


# ----------------------------------------------------------------------------- WAT companion
def wat_path(warc_path: str) -> str:
    """Common Crawl's layout: .../warc/X.warc.gz has its WAT at .../wat/X.warc.wat.gz."""
    head, sep, name = warc_path.rpartition("/")
    if head.endswith("/warc"):
        head = head[: -len("warc")] + "wat"
    return f"{head}{sep}{name.removesuffix('.gz').removesuffix('.warc')}.warc.wat.gz"


def wat_summary(envelope: dict) -> dict:
    """The useful, small part of one WAT entry: server IP, page title, meta tags."""
    out = {}
    header = envelope.get("WARC-Header-Metadata", {})
    if header.get("WARC-IP-Address"):
        out["ip"] = header["WARC-IP-Address"]
    html = envelope.get("Payload-Metadata", {}).get("HTTP-Response-Metadata", {}).get("HTML-Metadata", {})
    head = html.get("Head", {})
    if head.get("Title"):
        out["title"] = head["Title"]
    metas = {m.get("name") or m.get("property"): m.get("content") for m in head.get("Metas", [])
             if (m.get("name") or m.get("property")) and m.get("content")}
    if metas:
        out["metas"] = dict(sorted(metas.items()))
    return out


def read_wat_metadata(stream: BinaryIO, ctx: ReadContext) -> dict[str, dict]:
    """Target URI -> merged summary of every WAT entry about it."""
    by_uri: dict[str, dict] = {}
    for item in iter_records(stream, ctx, WarcRecordType.metadata):
        if isinstance(item, DeadLetter):
            continue
        try:
            envelope = json.loads(item.body).get("Envelope", {})
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        uri = envelope.get("WARC-Header-Metadata", {}).get("WARC-Target-URI")
        if uri:
            by_uri.setdefault(uri, {}).update(wat_summary(envelope))
    return by_uri


def load_companion_wat(ctx: ReadContext) -> tuple[dict[str, dict], DeadLetter | None]:
    """The companion WAT's metadata by URI, from wherever the WARC is (local, object
    storage, HTTP); a WAT that is missing or unreadable is ({}, its DeadLetter
    `read/wat_missing`): the WARC's pages are read without it."""
    path = wat_path(ctx.path)
    try:
        with open_input(path, ctx.options) as f:
            return read_wat_metadata(f, ctx), None
    except OSError as exc:
        return {}, DeadLetter(ctx.source, f"{path}@0", "read/wat_missing", repr(exc)[:300])


def attach_wat(doc: Record, wat: dict[str, dict]) -> Record:
    if isinstance(doc, Document) and wat.get(doc.url):
        return doc.with_text(doc.text, wat=wat[doc.url])
    return doc
