"""Common Crawl WARC, WET and WAT readers (FastWARC).

WARC: HTTP response records with HTML become Documents; the `metadata` record CC
writes after each response adds the CLD2 language guess (`languages-cld2`).
Non-200, non-HTML, empty and binary-bodied responses are rejected with a reason;
request and warcinfo records are not documents. With `wat: true` the source also
reads each WARC's companion WAT file (`.../wat/...warc.wat.gz`) and attaches its
per-URL metadata (title, meta tags, server IP). Charset: the HTTP header's, else
resiliparse's detection; a declared charset that cannot decode the bytes falls
back to detection (meta `charset_repaired`).

WET: conversion records, text already extracted by Common Crawl, with its
language identification (`WARC-Identified-Content-Language`).

Broken input (a corrupt record, or a gzip member cut short, which FastWARC alone
would pass over in silence: sources/integrity.py) dead-letters the rest of the
file with the offset of the last good record; the job goes on.
"""
from __future__ import annotations

import json
from typing import Any, BinaryIO, Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

from sources.document import DeadLetter, Document, Rejected, document_id
from sources.integrity import GzipIntegrity, first_bad_member, member_end, next_member
from sources.files import ReadContext

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


def iter_records(stream: BinaryIO, ctx: ReadContext, record_types) -> Iterator[tuple[int, Any] | DeadLetter]:
    """(file offset, FastWARC record) pairs. A corrupt gzip member becomes a DeadLetter
    and, where the stream can seek, reading resumes at the next clean member, so
    the records after the damage are read too. A stream cut short ends in a DeadLetter."""
    segment = 0        # offset where the current ArchiveIterator started
    while True:
        checked = GzipIntegrity(stream)
        records = ArchiveIterator(checked, record_types=record_types, parse_http=True, auto_decode="all")
        last = None    # offset of the last record read in this segment
        while True:
            try:
                record = next(records)
            except StopIteration:
                if not checked.ended_cleanly():
                    yield DeadLetter(ctx.source, f"{ctx.path}@{segment if last is None else last}",
                                     "read/truncated_warc",
                                     "gzip stream ends inside a member: records after this offset are lost")
                return
            except (OSError, ValueError, RuntimeError) as exc:  # corrupt member or header
                if checked.io_error is not None:   # the storage failed, not the data: file_records reports it
                    raise checked.io_error from exc
                error = exc
                break
            last = record.stream_pos   # FastWARC counts from the stream's tell(): file offsets
            yield last, record
        resume = yield from _skip_damage(stream, ctx, segment, last, error, bool(checked.is_gzip))
        if resume is None:
            return
        stream.seek(resume)
        segment = resume


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


def response_document(record, pos: int, ctx: ReadContext) -> Record:
    doc_id = document_id(ctx.source, ctx.relpath, pos)
    status = record.http_headers.status_code if record.is_http else None
    if status != 200:
        return Rejected(ctx.source, doc_id, "read/http_status")
    mime = (record.http_content_type or "").split(";")[0].strip().lower()
    if mime not in HTML_TYPES:
        return Rejected(ctx.source, doc_id, "read/non_html")
    try:
        payload = record.reader.read()
    except (OSError, ValueError) as exc:
        return DeadLetter(ctx.source, f"{ctx.path}@{pos}", "read/corrupt_record", repr(exc))
    if not payload.strip():
        return Rejected(ctx.source, doc_id, "read/empty")
    if looks_binary(payload):
        return Rejected(ctx.source, doc_id, "read/binary_body")
    html, charset, repaired = decode_html(payload, record.http_charset)
    meta = {"format": "html", "charset": charset, "warc_date": record.headers.get("WARC-Date") or "",
            "warc_record_id": record.record_id or ""}
    if repaired:
        meta["charset_repaired"] = True
    return Document(id=doc_id, text=html, kind=ctx.kind, source=ctx.source,
                    url=record.headers.get("WARC-Target-URI") or "", meta=meta)


def with_languages(doc: Record, languages: list[dict] | None) -> Record:
    if not isinstance(doc, Document) or not languages:
        return doc
    return doc.with_text(doc.text, language=languages[0].get("code", ""), languages_cld2=languages)


def read_warc(stream: BinaryIO, ctx: ReadContext) -> Iterator[Record]:
    wat = load_companion_wat(ctx) if ctx.options.get("wat") else {}
    pending: Record | None = None     # a response waits for the metadata record after it
    for item in iter_records(stream, ctx, WarcRecordType.response | WarcRecordType.metadata):
        record = item if isinstance(item, DeadLetter) else item[1]
        if isinstance(record, DeadLetter) or record.record_type != WarcRecordType.metadata:
            if pending is not None:
                yield pending
            pending = record if isinstance(record, DeadLetter) else \
                attach_wat(response_document(record, item[0], ctx), wat)
        elif isinstance(pending, Document) and \
                record.headers.get("WARC-Concurrent-To") == pending.meta["warc_record_id"]:
            pending = with_languages(pending, cld2_languages(record.reader.read()))
    if pending is not None:
        yield pending


def read_wet(stream: BinaryIO, ctx: ReadContext) -> Iterator[Record]:
    for item in iter_records(stream, ctx, WarcRecordType.conversion):
        if isinstance(item, DeadLetter):
            yield item
            continue
        pos, record = item
        doc_id = document_id(ctx.source, ctx.relpath, pos)
        payload = record.reader.read()
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield DeadLetter(ctx.source, f"{ctx.path}@{pos}", "read/invalid_utf8", str(exc))
            continue
        if not text.strip():
            yield Rejected(ctx.source, doc_id, "read/empty")
            continue
        language = (record.headers.get("WARC-Identified-Content-Language") or "").split(",")[0]
        yield Document(id=doc_id, text=text, kind=ctx.kind, source=ctx.source,
                       url=record.headers.get("WARC-Target-URI") or "",
                       meta={"format": "text", "language": language,
                             "warc_date": record.headers.get("WARC-Date") or "",
                             "warc_refers_to": record.headers.get("WARC-Refers-To") or ""})


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
        record = item[1]
        try:
            envelope = json.loads(record.reader.read()).get("Envelope", {})
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        uri = envelope.get("WARC-Header-Metadata", {}).get("WARC-Target-URI")
        if uri:
            by_uri.setdefault(uri, {}).update(wat_summary(envelope))
    return by_uri


def load_companion_wat(ctx: ReadContext) -> dict[str, dict]:
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
    path = wat_path(ctx.path)
    if not FileSystems.exists(path):
        return {}
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return read_wat_metadata(f, ctx)


def attach_wat(doc: Record, wat: dict[str, dict]) -> Record:
    if isinstance(doc, Document) and wat.get(doc.url):
        return doc.with_text(doc.text, wat=wat[doc.url])
    return doc
