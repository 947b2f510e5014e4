"""The reader registry: recipe `type:` to a function (stream, ReadContext) -> records.

A reader is a plain generator over an open binary stream; it yields Documents,
Rejected (counted drops) and DeadLetters (unparseable input). It knows nothing of
Beam, so it is tested directly on files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator, Mapping

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
