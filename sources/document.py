"""The records that flow between stages.

`Document` is what every reader produces and every stage consumes. `Rejected` and
`DeadLetter` are how a reader or stage says what happened to a record it did not
pass on, so the manifest's funnel can account for every record read.

Ids are stable: built from the source name and the record's location inside its
file (path relative to the recipe glob's fixed prefix, plus offset or row), never
from a counter or the clock, so two runs and any number of workers agree.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

KINDS = ("text", "code")


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    kind: str            # "text" | "code": decides the default epochs
    source: str          # the recipe's source name
    url: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Document.kind must be one of {KINDS}, got {self.kind!r}")

    def with_text(self, text: str, **meta: Any) -> "Document":
        """A copy with new text (and extra metadata): stages never mutate."""
        return dataclasses.replace(self, text=text, meta={**self.meta, **meta})

    def with_meta(self, **meta: Any) -> "Document":
        """A copy with extra metadata (a language label, a contamination mark)."""
        return dataclasses.replace(self, meta={**self.meta, **meta})


@dataclass(frozen=True)
class Rejected:
    """A record that was read but removed on purpose; `reason` is '<stage>/<why>'."""
    source: str
    id: str
    reason: str


@dataclass(frozen=True)
class DeadLetter:
    """A record that could not be parsed: where it was and what went wrong."""
    source: str
    location: str        # path plus offset/row
    reason: str          # '<stage>/<why>', counted in the funnel's errors
    error: str           # the exception text, for a human


def document_id(source: str, relpath: str, position: int | str) -> str:
    """`<source>/<relpath>@<position>`: unique within a run and stable across runs."""
    return f"{source}/{relpath}@{position}"


def document_position(doc_id: str) -> str:
    """The position part of a `document_id`: where in its file the record was."""
    return doc_id.rpartition("@")[2]


def unencodable(doc: Document) -> str | None:
    """Why the document's text, url or metadata cannot be written as UTF-8, or None. JSON
    allows a lone surrogate (`"\\ud800"`), and Python decodes it into a str that no
    UTF-8 writer (parquet, the tokenizer) accepts; such a record must be stopped where
    it is read, not crash a later stage."""
    try:
        doc.text.encode("utf-8")
        doc.url.encode("utf-8")
        json.dumps(doc.meta, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError as exc:
        return str(exc)
    return None
