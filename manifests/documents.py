"""The documents dataset: every kept training document once, with what was known of it.

With the recipe's `output.documents: true`, beside each shard the build writes
`documents/<split>/part-<i>.parquet` (zstd): the documents whose first copy is in
shard i of that split, in stream order, one row each, with their text, so that the
cleaned corpus can be loaded, audited and tokenized again without the crawl:

    datasets.load_dataset("parquet", data_files="out/sample/documents/train/*.parquet")

Columns (one schema for every file, so the files load as one table):
- id, text, source, kind ("text" | "code"), url (the page, or the file's path for code);
- what the readers knew: warc_record_id, warc_date (the capture), dump (the crawl),
  title; and the language and its score from the language filter ("" and null where
  a source or rule did not say);
- tokens: the document's length in the corpus's tokenizer, EOS included; copies: how
  many times it is in its split's stream (the epoch rule's copies; 1 in validation);
- meta: every other field the reader and the rules attached, as sorted JSON.

Pure format: the pipeline writes it (pipeline/transforms/shards.py), verify checks it
against the lineage maps (the ids of a shard's first copies, in order).
"""
from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from manifests.files import read_bytes

DOCUMENTS_DIR = "documents"
DOCUMENTS_ROWS = 1024        # rows per row group
# the columns lifted out of a document's metadata, each with its name there
META_COLUMNS = {"warc_record_id": "warc_record_id", "warc_date": "warc_date", "dump": "dump", "title": "title",
                "language": "language"}
DOCUMENTS_SCHEMA = pa.schema([
    ("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("kind", pa.string()),
    ("url", pa.string()), ("warc_record_id", pa.string()), ("warc_date", pa.string()), ("dump", pa.string()),
    ("title", pa.string()), ("language", pa.string()), ("language_score", pa.float64()),
    ("tokens", pa.int64()), ("copies", pa.int32()), ("meta", pa.string())])


def documents_path(split: str, index: int) -> str:
    """The dataset file of a split's shard `index`, relative to the output."""
    return f"{DOCUMENTS_DIR}/{split}/part-{index:05d}.parquet"


def document_row(doc_id: str, text: str, source: str, kind: str, url: str, meta: dict[str, Any],
                 tokens: int, copies: int) -> dict:
    """One row of the dataset from a document's fields and metadata."""
    rest = {k: v for k, v in meta.items() if k not in META_COLUMNS and k != "language_score"}
    score = meta.get("language_score")
    return {"id": doc_id, "text": text, "source": source, "kind": kind, "url": url,
            **{column: str(meta.get(key) or "") for column, key in META_COLUMNS.items()},
            "language_score": float(score) if isinstance(score, (int, float)) else None,
            "tokens": int(tokens), "copies": int(copies),
            "meta": json.dumps(rest, sort_keys=True, ensure_ascii=False, default=str)}


def row_meta(row: dict) -> dict[str, Any]:
    """A row's metadata as the document carried it (the inverse of document_row's split)."""
    meta = json.loads(row["meta"])
    for column, key in META_COLUMNS.items():
        if row.get(column):
            meta[key] = row[column]
    if row.get("language_score") is not None:
        meta["language_score"] = row["language_score"]
    return meta


class DocumentsWriter:
    """Rows in, a zstd parquet file out through `sink` (a manifests.lineage.HashingSink),
    DOCUMENTS_ROWS rows per row group: writing holds one row group of text at most."""

    def __init__(self, sink):
        self.writer = pq.ParquetWriter(sink, DOCUMENTS_SCHEMA, compression="zstd")
        self.rows, self.count = [], 0

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= DOCUMENTS_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=DOCUMENTS_SCHEMA))
            self.rows = []

    def close(self) -> None:
        self.flush()
        self.writer.close()


def read_documents(path: str, columns: list[str] | None = None) -> pa.Table:
    """A dataset file as a table (without Arrow's thread pool, as manifests.lineage reads)."""
    return pq.read_table(pa.BufferReader(read_bytes(path)), columns=columns, use_threads=False)
