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


Reader = Callable[[BinaryIO, ReadContext], Iterator[Document | Rejected | DeadLetter]]


# type -> (module, reader function, source options it accepts). Modules are imported
# on use, so a recipe with one format does not need another format's extras.
READERS: dict[str, tuple[str, str, frozenset[str]]] = {
    "warc": ("sources.warc", "read_warc", frozenset({"wat"})),
    "wet": ("sources.warc", "read_wet", frozenset()),
    "parquet": ("sources.parquet", "read_parquet", frozenset()),
    "jsonl": ("sources.jsonl", "read_jsonl", frozenset()),
    "chat-jsonl": ("sources.jsonl", "read_chat", frozenset({"template"})),
    "code-tree": ("sources.code", "read_code_tree", frozenset({"exclude", "max_bytes"})),
}


def get_reader(source_type: str) -> Reader:
    import importlib
    if source_type not in READERS:
        raise ValueError(f"unknown source type {source_type!r}; supported: {sorted(READERS)}")
    module, function, _ = READERS[source_type]
    return getattr(importlib.import_module(module), function)


SOURCE_TYPES = frozenset(READERS)


def file_records(source_type: str, ctx: ReadContext) -> Iterator[Document | Rejected | DeadLetter]:
    """The reader's records for one file. A file that cannot be opened, or stops being
    readable (I/O error), ends in one dead letter instead of failing the job."""
    reader = get_reader(source_type)
    position = 0
    try:
        with FileSystems.open(ctx.path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            for position, record in enumerate(reader(stream, ctx), 1):
                yield record
    except OSError as exc:
        yield DeadLetter(ctx.source, f"{ctx.path}@record{position}", "read/io_error", repr(exc))
