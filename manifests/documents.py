"""The documents dataset: every kept training document once, with what was known of it.

With the recipe's `output.documents: true`, beside each shard the build writes
`documents/<split>/part-<i>-<k>.parquet` (zstd): the documents whose first copy is in
shard i of that split, in stream order, one row each, with their text, so that the
cleaned corpus can be loaded, audited and tokenized again without the crawl:

    datasets.load_dataset("parquet", data_files="out/sample/documents/train/*.parquet")

Columns (one schema for every file, so the files load as one table):
- id, text, source, kind ("text" | "code"), url (the page, or the file's path for code);
- what the readers knew: warc_record_id, warc_date (the capture), dump (the crawl:
  the WARC's `isPartOf`, or a crawl name in its path), title (a source's own, or the
  page title from a WAT companion, `wat: true`); and the language and its score from the language filter ("" and null where
  a source or rule did not say);
- tokens: the document's length in the corpus's tokenizer, EOS included; copies: how
  many times it is in its split's stream (the epoch rule's copies; 1 in validation);
- per dedup method that ran (exact, url, near): `<method>_group`, the id of the document
  its group kept (this one: a kept document is its group's survivor), and
  `<method>_group_size`, how many documents the group had (1: no duplicates); null
  where the method did not run;
- the signals the filters computed on it, one float column each (SIGNAL_COLUMNS:
  Gopher quality and repetition, FineWeb, C4, the code rules, the quality
  classifier's `quality_score`; four significant
  digits), null where a rule did not run or stopped before that figure. The Gopher
  duplicated n-gram figures (`..._frac_max`) are upper bounds: the rule stops counting
  once it knows the document passes. Signals of rules outside this list stay in `meta`;
- meta: every other field the reader and the rules attached, as sorted JSON.

A shard's rows go to `documents/<split>/part-<shard>-<k>.parquet`, k = 0, 1, ...: a
file is closed once its rows' text reaches the recipe's `output.documents.file_mb`
(DEFAULT_FILE_MB; zstd makes the file 3 to 4 times smaller than that).

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
DEDUP_METHODS = ("exact", "url", "near")
SIGNAL_COLUMNS = (
    "gopher_words", "gopher_mean_word_length", "gopher_hash_ratio", "gopher_ellipsis_ratio",
    "gopher_bullet_lines_ratio", "gopher_end_ellipsis_lines_ratio", "gopher_alpha_words_ratio", "gopher_stop_words",
    "gopher_dup_para_frac", "gopher_dup_para_char_frac", "gopher_dup_line_frac", "gopher_dup_line_char_frac",
    *(f"gopher_top_{n}_gram_frac" for n in (2, 3, 4)), *(f"gopher_dup_{n}_gram_frac_max" for n in range(5, 11)),
    "fineweb_line_punct_ratio", "fineweb_short_line_ratio", "fineweb_char_dup_ratio", "fineweb_list_ratio",
    "c4_lines", "c4_lines_kept",
    "code_max_line_length", "code_mean_line_length", "code_alnum_fraction", "code_literal_fraction",
    "code_whitespace_fraction", "quality_score")
DOCUMENTS_SCHEMA = pa.schema([
    ("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("kind", pa.string()),
    ("url", pa.string()), ("warc_record_id", pa.string()), ("warc_date", pa.string()), ("dump", pa.string()),
    ("title", pa.string()), ("language", pa.string()), ("language_score", pa.float64()),
    ("tokens", pa.int64()), ("copies", pa.int32()),
    *((f"{m}_group{suffix}", kind) for m in DEDUP_METHODS for suffix, kind in (("", pa.string()),
                                                                             ("_size", pa.int64()))),
    *((name, pa.float64()) for name in SIGNAL_COLUMNS),
    ("meta", pa.string())])


DEFAULT_FILE_MB = 256        # a dataset file is closed once its rows' text reaches this many MB


def documents_path(split: str, index: int, part: int = 0) -> str:
    """The `part`-th dataset file of a split's shard `index`, relative to the output."""
    return f"{DOCUMENTS_DIR}/{split}/part-{index:05d}-{part:03d}.parquet"


def shard_dataset_files(shard: dict) -> list[dict]:
    """A shard record's dataset files, in stream order: a list since manifest v5, one
    file record in v4, none when the shard holds no first copy or the dataset is off."""
    files = shard.get("dataset")
    return [] if files is None else files if isinstance(files, list) else [files]


def document_row(doc_id: str, text: str, source: str, kind: str, url: str, meta: dict[str, Any],
                 tokens: int, copies: int) -> dict:
    """One row of the dataset from a document's fields and metadata (its `dedup` groups
    and filter `signals` become columns)."""
    rest = {k: v for k, v in meta.items() if k not in META_COLUMNS and k not in ("language_score", "dedup",
                                                                                 "signals")}
    signals = dict(meta.get("signals") or {})
    if other := {k: v for k, v in signals.items() if k not in SIGNAL_COLUMNS}:
        rest["signals"] = other
    groups = meta.get("dedup") or {}
    score = meta.get("language_score")
    wat = meta.get("wat") if isinstance(meta.get("wat"), dict) else {}
    return {"id": doc_id, "text": text, "source": source, "kind": kind, "url": url,
            **{column: str(meta.get(key) or "") for column, key in META_COLUMNS.items()},
            "title": str(meta.get("title") or wat.get("title") or ""),   # a WAT companion's page title
            "language_score": float(score) if isinstance(score, (int, float)) else None,
            "tokens": int(tokens), "copies": int(copies),
            **{f"{m}_group": groups[m][0] if m in groups else None for m in DEDUP_METHODS},
            **{f"{m}_group_size": int(groups[m][1]) if m in groups else None for m in DEDUP_METHODS},
            **{name: float(signals[name]) if name in signals else None for name in SIGNAL_COLUMNS},
            "meta": json.dumps(rest, sort_keys=True, ensure_ascii=False, default=str)}


def row_meta(row: dict) -> dict[str, Any]:
    """A row's metadata as the document carried it (the inverse of document_row's split)."""
    meta = json.loads(row["meta"])
    for column, key in META_COLUMNS.items():
        if row.get(column):
            meta[key] = row[column]
    if row.get("language_score") is not None:
        meta["language_score"] = row["language_score"]
    groups = {m: [row[f"{m}_group"], row[f"{m}_group_size"]] for m in DEDUP_METHODS
              if row.get(f"{m}_group") is not None}
    if groups:
        meta["dedup"] = groups
    signals = {name: row[name] for name in SIGNAL_COLUMNS if row.get(name) is not None}
    if signals:
        meta["signals"] = {**meta.get("signals", {}), **signals}
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
