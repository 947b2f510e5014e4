"""Hugging Face datasets on disk, read through the `datasets` library (`type: hf`).

`paths` globs the dataset's data files: the `data-*.arrow` files `save_to_disk`
writes, or the parquet / JSON Lines files of a dataset directory. Each data file
is one input, so Beam spreads a dataset over workers file by file, and each file
is read with `datasets.load_dataset(<packaged builder>, data_files=..., streaming=True)`:
streamed, never loaded whole. `columns: {text: ...}` names the text column
(default `text`); the other columns become metadata. No hub access is needed or
made: the packaged builders read local (or fsspec) files.
"""
from __future__ import annotations

from typing import BinaryIO, Iterator

from sources.document import DeadLetter, Document, Rejected, document_id
from sources.parquet import json_safe
from sources.readers import ReadContext

BUILDERS = {".arrow": "arrow", ".parquet": "parquet", ".jsonl": "json", ".json": "json"}


def builder_for(path: str) -> str | None:
    return next((b for suffix, b in BUILDERS.items() if path.endswith(suffix)), None)


def read_hf(stream: BinaryIO, ctx: ReadContext) -> Iterator[Document | Rejected | DeadLetter]:
    import datasets
    builder = builder_for(ctx.path)
    if builder is None:
        yield DeadLetter(ctx.source, f"{ctx.path}@0", "read/unknown_format", "not an arrow/parquet/json data file")
        return
    text_col = ctx.columns.get("text", "text")
    url_col = ctx.columns.get("url", "url")
    row = 0
    try:
        rows = datasets.load_dataset(builder, data_files={"train": [ctx.path]}, split="train", streaming=True)
        for row, record in enumerate(rows):
            text = record.pop(text_col, None)
            doc_id = document_id(ctx.source, ctx.relpath, row)
            if not isinstance(text, str):
                yield DeadLetter(ctx.source, f"{ctx.path}@{row}", "read/no_text", f"no string {text_col!r}")
            elif not text.strip():
                yield Rejected(ctx.source, doc_id, "read/empty")
            else:
                yield Document(id=doc_id, text=text, kind=ctx.kind, source=ctx.source,
                               url=str(record.get(url_col) or ""),
                               meta={"format": "text", **{k: json_safe(v) for k, v in record.items()}})
    except (ValueError, OSError, datasets.exceptions.DatasetGenerationError) as exc:
        yield DeadLetter(ctx.source, f"{ctx.path}@{row}", "read/corrupt_dataset", repr(exc)[:500])
