"""The reader registry: recipe `type:` to the module that lists, splits and reads it.

A reader is a plain generator over an open binary stream; it yields Documents,
Rejected (counted drops) and DeadLetters (unparseable input). It knows nothing of
Beam pipelines, so it is tested directly on files; `file_records` opens a file
(sources/files.open_input: local, gs://, s3://, http) and runs the right reader
on it. Each reader module also says how its source's inputs are listed (a
cc-listing's lines, a dataset's shards, a code tree's files less .gitignore'd
ones) and, where it can, how one file is split for parallel reads. Reader
modules import only sources/files.py and sources/document.py, so this registry
is the one module that knows them all, and nothing imports back into it.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from itertools import repeat
from typing import Any, BinaryIO, Callable, Iterator, Mapping

from sources.document import DeadLetter, Document, Rejected, document_position, unencodable
from sources.files import InputFile, ReadContext, glob_inputs, open_input

Reader = Callable[[BinaryIO, ReadContext], Iterator[Document | Rejected | DeadLetter]]


@dataclass(frozen=True)
class ReaderSpec:
    module: str
    function: str                               # (stream, ReadContext) -> records
    options: frozenset[str] = frozenset()       # source options the recipe may give
    inputs: str | None = None                   # (paths, options) -> (inputs, ignored); None: the globs' files
    splitter: str | None = None                 # (stream, options) -> [split]: parts of one file
    opens_itself: bool = False                  # the reader gets no stream (it opens ctx.path)


# Modules are imported on use, so a recipe with one format needs no other format's extras.
READERS: dict[str, ReaderSpec] = {
    "warc": ReaderSpec("sources.warc", "read_warc", frozenset({"wat"})),
    "wet": ReaderSpec("sources.warc", "read_wet"),
    "parquet": ReaderSpec("sources.parquet", "read_parquet", frozenset({"split_bytes"}), splitter="parquet_splits"),
    "jsonl": ReaderSpec("sources.jsonl", "read_jsonl"),
    "chat-jsonl": ReaderSpec("sources.jsonl", "read_chat", frozenset({"template"})),
    "hf": ReaderSpec("sources.hf", "read_hf", frozenset({"dataset", "split"}), inputs="hf_inputs",
                     opens_itself=True),
    "cc-listing": ReaderSpec("sources.listing", "read_listed",
                             frozenset({"base_url", "limit", "wat", "retries", "backoff_s"}), inputs="listing_inputs"),
    "code-tree": ReaderSpec("sources.code", "read_code_tree", frozenset({"exclude", "max_bytes"}),
                            inputs="code_tree_inputs"),
}
SOURCE_TYPES = frozenset(READERS)


def _load(source_type: str, attribute: str):
    if source_type not in READERS:
        raise ValueError(f"unknown source type {source_type!r}; supported: {sorted(READERS)}")
    spec = READERS[source_type]
    name = getattr(spec, attribute)
    return getattr(importlib.import_module(spec.module), name) if name else None


def get_reader(source_type: str) -> Reader:
    return _load(source_type, "function")


def source_inputs(source_type: str, paths: list[str], options: Mapping[str, Any]) -> tuple[list[InputFile],
                                                                                             list[InputFile]]:
    """(inputs, ignored inputs) of one source, as its reader module lists them: by
    default its globs' files; ignored inputs count as dropped."""
    return (_load(source_type, "inputs") or glob_inputs)(paths, options)


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
        logging.getLogger(__name__).warning("cannot split %s (%s): read whole", path, exc)
        return [None]


def file_records(source_type: str, ctx: ReadContext) -> Iterator[Document | Rejected | DeadLetter]:
    """The reader's records for one file. A file that cannot be opened, or stops being
    readable (I/O error), ends in one dead letter instead of failing the job; a
    document that cannot be written as UTF-8 is a dead letter of its own."""
    reader = get_reader(source_type)
    position = 0
    if READERS[source_type].opens_itself:
        yield from map(writable, reader(None, ctx), repeat(ctx))
        return
    try:
        with open_input(ctx.path, ctx.options) as stream:
            for position, record in enumerate(reader(stream, ctx), 1):
                yield writable(record, ctx)
    except OSError as exc:
        yield DeadLetter(ctx.source, f"{ctx.path}@record{position}", "read/io_error", repr(exc))


def writable(record: Document | Rejected | DeadLetter, ctx: ReadContext) -> Document | Rejected | DeadLetter:
    """The record, or for a Document holding text no UTF-8 writer accepts, its DeadLetter."""
    why = unencodable(record) if isinstance(record, Document) else None
    if why is None:
        return record
    return DeadLetter(ctx.source, f"{ctx.path}@{document_position(record.id)}", "read/invalid_unicode", why[:200])
