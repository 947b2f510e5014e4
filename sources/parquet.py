"""Parquet reader for RefinedWeb/FineWeb-style text and Stack-style code (pyarrow).

`ctx.columns` maps our fields to the file's columns: `text` (default: `content`
as in RefinedWeb and The Stack, else `text` as in FineWeb), `url` and `path`.
Every other column is kept as metadata, converted to JSON-safe values (FineWeb's
`id`, `language`, `language_score`, `token_count` ...). Row groups are read one by
one and streamed in batches, so a large shard is never held in memory whole and a
damaged row group costs only its own rows (one `read/corrupt_row_group` dead
letter saying how many); a row with invalid UTF-8 is `read/invalid_utf8` alone.
`parquet_splits`
cuts a file into runs of row groups (about `split_bytes`, default 128 MB
uncompressed) that different workers read; row numbers, and so document ids, are
the same however a file is split.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, BinaryIO, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from sources.document import DeadLetter, Document, Rejected, document_id
from sources.files import ReadContext

BATCH_ROWS = 512
SPLIT_BYTES = 128 << 20
TEXT_COLUMNS = ("content", "text")


def json_safe(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return value


def parquet_splits(stream: BinaryIO, options) -> list[dict]:
    """Runs of consecutive row groups of about `split_bytes` each, with their first row."""
    meta = pq.ParquetFile(stream).metadata
    target = int(options.get("split_bytes", SPLIT_BYTES))
    splits, start, first_row, size, row = [], 0, 0, 0, 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        size += group.total_byte_size
        row += group.num_rows
        if size >= target or i == meta.num_row_groups - 1:
            splits.append({"row_groups": [start, i + 1], "first_row": first_row})
            start, first_row, size = i + 1, row, 0
    return splits


def read_parquet(stream: BinaryIO, ctx: ReadContext) -> Iterator[Document | Rejected | DeadLetter]:
    url_col = ctx.columns.get("url") or ctx.columns.get("path") or "url"
    split = ctx.split or {}
    row = int(split.get("first_row", 0))
    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as exc:
        yield DeadLetter(ctx.source, f"{ctx.path}@{row}", "read/corrupt_parquet", repr(exc))
        return
    names = parquet.schema_arrow.names
    text_col = ctx.columns.get("text") or next((c for c in TEXT_COLUMNS if c in names), TEXT_COLUMNS[0])
    if text_col not in names:
        yield DeadLetter(ctx.source, f"{ctx.path}@0", "read/missing_column",
                         f"column {text_col!r} not in {parquet.schema_arrow.names}")
        return
    renamed = {v: k for k, v in ctx.columns.items() if k not in ("text",)}
    groups = range(*split["row_groups"]) if "row_groups" in split else range(parquet.metadata.num_row_groups)
    for group in groups:
        size, done = parquet.metadata.row_group(group).num_rows, 0
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[group]):
                for record in batch_rows(batch, row + done, ctx):
                    yield record if isinstance(record, DeadLetter) else \
                        _row_document(record, row + done, ctx, text_col, url_col, renamed)
                    done += 1
        except (pa.ArrowException, OSError) as exc:
            yield DeadLetter(ctx.source, f"{ctx.path}@{row + done}", "read/corrupt_row_group",
                             f"row group {group}: {size - done} of its {size} rows unreadable: {exc!r}")
        row += size


def batch_rows(batch: pa.RecordBatch, first_row: int, ctx: ReadContext) -> Iterator[dict | DeadLetter]:
    """The batch's rows as dicts; a row whose strings are not valid UTF-8 (Arrow checks
    only when converting) is a DeadLetter of its own, the rows around it read."""
    try:
        yield from batch.to_pylist()
        return
    except UnicodeDecodeError:
        pass
    for i in range(batch.num_rows):
        try:
            (record,) = batch.slice(i, 1).to_pylist()
        except UnicodeDecodeError as exc:
            yield DeadLetter(ctx.source, f"{ctx.path}@{first_row + i}", "read/invalid_utf8", str(exc)[:200])
            continue
        yield record


def _row_document(record: dict, row: int, ctx: ReadContext, text_col: str, url_col: str,
                  renamed: dict[str, str]) -> Document | Rejected | DeadLetter:
    text = record.pop(text_col)
    doc_id = document_id(ctx.source, ctx.relpath, row)
    if not isinstance(text, str):
        return DeadLetter(ctx.source, f"{ctx.path}@{row}", "read/no_text",
                          f"{text_col!r} is {type(text).__name__}")
    if not text.strip():
        return Rejected(ctx.source, doc_id, "read/empty")
    url = record.get(url_col) or ""
    meta = {renamed.get(k, k): json_safe(v) for k, v in record.items()}
    return Document(id=doc_id, text=text, kind=ctx.kind, source=ctx.source, url=str(url),
                    meta={"format": "text", **meta})
