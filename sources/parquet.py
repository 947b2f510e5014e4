"""Parquet reader for RefinedWeb-style text and Stack-style code shards (pyarrow).

`ctx.columns` maps our fields to the file's columns: `text` (required: `content`
for RefinedWeb and The Stack), `url` and `path`. Every other column is kept as
metadata, converted to JSON-safe values. Row groups are streamed in batches, so a
large shard is never held in memory whole.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, BinaryIO, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from sources.document import DeadLetter, Document, Rejected, document_id
from sources.readers import ReadContext

BATCH_ROWS = 512


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


def read_parquet(stream: BinaryIO, ctx: ReadContext) -> Iterator[Document | Rejected | DeadLetter]:
    text_col = ctx.columns.get("text", "content")
    url_col = ctx.columns.get("url") or ctx.columns.get("path") or "url"
    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as exc:
        yield DeadLetter(ctx.source, f"{ctx.path}@0", "read/corrupt_parquet", repr(exc))
        return
    if text_col not in parquet.schema_arrow.names:
        yield DeadLetter(ctx.source, f"{ctx.path}@0", "read/missing_column",
                         f"column {text_col!r} not in {parquet.schema_arrow.names}")
        return
    renamed = {v: k for k, v in ctx.columns.items() if k not in ("text",)}
    row = 0
    try:
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            for record in batch.to_pylist():
                yield _row_document(record, row, ctx, text_col, url_col, renamed)
                row += 1
    except (pa.ArrowException, OSError) as exc:
        yield DeadLetter(ctx.source, f"{ctx.path}@{row}", "read/corrupt_parquet", repr(exc))


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
