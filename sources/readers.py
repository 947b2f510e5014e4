"""The reader registry: recipe `type:` to a function (stream, ReadContext) -> records.

A reader is a plain generator over an open binary stream; it yields Documents,
Rejected (counted drops) and DeadLetters (unparseable input). It knows nothing of
Beam pipelines, so it is tested directly on files; `file_records` opens a file
through Beam's FileSystems (local, gs://, s3://) and runs the right reader on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator, Mapping

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


Reader = Callable[[BinaryIO, ReadContext], Iterator[Document | Rejected | DeadLetter]]


def get_reader(source_type: str) -> Reader:
    # Imported here so a recipe using one format does not need another's extras.
    if source_type == "warc":
        from sources.warc import read_warc
        return read_warc
    if source_type == "parquet":
        from sources.parquet import read_parquet
        return read_parquet
    raise ValueError(f"unknown source type {source_type!r}; supported: {sorted(SOURCE_TYPES)}")


SOURCE_TYPES = frozenset({"warc", "parquet"})


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
