"""The reader registry: recipe `type:` to a function (stream, ReadContext) -> records.

A reader is a plain generator over an open binary stream; it yields Documents,
Rejected (counted drops) and DeadLetters (unparseable input). It knows nothing of
Beam pipelines, so it is tested directly on files; `file_records` opens a file
through Beam's FileSystems (local, gs://, s3://) and runs the right reader on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Iterator, Mapping

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from sources.document import DeadLetter, Document, Rejected


@dataclass(frozen=True)
class ReadContext:
    source: str                   # recipe source name
    kind: str                     # text | code
    path: str                     # full path, for dead-letter locations
    relpath: str                  # path used in document ids
    columns: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)   # per-type source options
    split: Mapping[str, Any] | None = None                     # the part of the file to read


Reader = Callable[[BinaryIO, ReadContext], Iterator[Document | Rejected | DeadLetter]]


@dataclass(frozen=True)
class ReaderSpec:
    module: str
    function: str                               # (stream, ReadContext) -> records
    options: frozenset[str] = frozenset()       # source options the recipe may give
    splitter: str | None = None                 # (stream, options) -> [split]: parts of one file
    opens_itself: bool = False                  # the reader gets no stream (it opens ctx.path)


# Modules are imported on use, so a recipe with one format needs no other format's extras.
READERS: dict[str, ReaderSpec] = {
    "warc": ReaderSpec("sources.warc", "read_warc", frozenset({"wat"})),
    "wet": ReaderSpec("sources.warc", "read_wet"),
    "parquet": ReaderSpec("sources.parquet", "read_parquet", frozenset({"split_bytes"}), "parquet_splits"),
    "jsonl": ReaderSpec("sources.jsonl", "read_jsonl"),
    "chat-jsonl": ReaderSpec("sources.jsonl", "read_chat", frozenset({"template"})),
    "hf": ReaderSpec("sources.hf", "read_hf", frozenset({"dataset", "split"}), opens_itself=True),
    "cc-listing": ReaderSpec("sources.listing", "read_listed",
                             frozenset({"base_url", "limit", "wat", "retries", "backoff_s"})),
    "code-tree": ReaderSpec("sources.code", "read_code_tree", frozenset({"exclude", "max_bytes"})),
}


def _load(source_type: str, attribute: str):
    import importlib
    if source_type not in READERS:
        raise ValueError(f"unknown source type {source_type!r}; supported: {sorted(READERS)}")
    spec = READERS[source_type]
    name = getattr(spec, attribute)
    return getattr(importlib.import_module(spec.module), name) if name else None


def get_reader(source_type: str) -> Reader:
    return _load(source_type, "function")


def source_inputs(source_type: str, paths: list[str], options: Mapping[str, Any]) -> tuple[list, list]:
    """(inputs, ignored inputs) of one source: globs expanded, a listing's lines for
    cc-listing, and a code tree's .gitignore'd files set apart (they count as dropped)."""
    from sources.files import expand_paths
    if source_type == "cc-listing":
        from sources.listing import listing_inputs
        return listing_inputs(paths, options), []
    if source_type == "hf" and options.get("dataset"):
        from sources.hf import dataset_inputs
        return dataset_inputs(str(options["dataset"]), str(options.get("split", "train"))), []
    inputs = expand_paths(paths)
    if source_type == "code-tree":
        from sources.code import split_ignored
        return split_ignored(inputs, options.get("exclude", ()))
    return inputs, []


def file_splits(source_type: str, path: str, options: Mapping[str, Any]) -> list[dict | None]:
    """The parts one file can be read in, in parallel: [None] (whole file) unless the
    format can split (parquet by row groups). An unreadable file is one whole part,
    so its reader reports it."""
    splitter = _load(source_type, "splitter")
    if splitter is None:
        return [None]
    try:
        with open_input(path, options) as stream:
            return splitter(stream, options) or [None]
    except (OSError, ValueError) as exc:
        import logging
        logging.getLogger(__name__).warning("cannot split %s (%s): read whole", path, exc)
        return [None]


SOURCE_TYPES = frozenset(READERS)


def open_input(path: str, options: Mapping[str, Any] | None = None) -> BinaryIO:
    """A binary stream over `path`: HTTP(S) with retries and range resumption, anything
    else through Beam's FileSystems (local, gs://, s3://, hdfs://), bytes as stored."""
    from sources.http import is_url, open_url
    options = options or {}
    if is_url(path):
        return open_url(path, retries=int(options.get("retries", 5)), backoff_s=float(options.get("backoff_s", 0.5)))
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def file_records(source_type: str, ctx: ReadContext) -> Iterator[Document | Rejected | DeadLetter]:
    """The reader's records for one file. A file that cannot be opened, or stops being
    readable (I/O error), ends in one dead letter instead of failing the job."""
    reader = get_reader(source_type)
    position = 0
    if READERS[source_type].opens_itself:
        yield from reader(None, ctx)
        return
    try:
        with open_input(ctx.path, ctx.options) as stream:
            for position, record in enumerate(reader(stream, ctx), 1):
                yield record
    except OSError as exc:
        yield DeadLetter(ctx.source, f"{ctx.path}@record{position}", "read/io_error", repr(exc))
