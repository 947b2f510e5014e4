"""Boilerplate repeated across pages: CCNet's paragraph dedup, as pure functions.

CCNet (Wenzek et al. 2020) hashes every paragraph of a crawl shard and removes the
ones seen before: cookie banners, navigation, legal footers, which page-level rules
and main-content extraction leave in (dolma and C4 do the same with lines and
three-sentence spans). Here a paragraph is a line (`unit: line`, CCNet's and C4's
unit) or a block between blank lines (`unit: paragraph`); it is normalised as CCNet
normalises (lower-cased, accents stripped, digits made 0, punctuation and runs of
whitespace dropped), and an 8-byte hash of that is its key. A paragraph whose key
occurs in at least `min_documents` documents is removed from every document but the
first, in the order of their references (a hash of the id: an order that does not
depend on the epochs, so the clean stage stays the same when they change); paragraphs that normalise to nothing
are never keys. A document left shorter than `min_chars` is dropped
(`dedup/paragraphs`); the others are rewritten without those paragraphs.

What crosses the shuffle per paragraph is small and fixed: its key and an Occurrence
packed into 20 bytes (the document's 12-byte reference, a hash of its id, then the
paragraph's position and length). A Common Crawl id is over 100 characters, and
carrying it per line made the shuffle larger than the text; the id, source and
length travel once per document (DocInfo) to where the removals are judged. The
first document of a key is therefore the one of smallest reference.
"""
from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from dataclasses import dataclass
from typing import Iterable, NamedTuple

_DIGITS = re.compile(r"\d")
_PUNCTUATION = re.compile(r"[^\w\s]|_")
BLANK_LINES = re.compile(r"\n[ \t]*\n")
REF_BYTES = 12        # 10 billion documents give one collision in about 10**9 such corpora
_OCCURRENCE = struct.Struct(f">{REF_BYTES}sII")
_REMOVAL = struct.Struct(">II")


@dataclass(frozen=True)
class ParagraphSpec:
    min_documents: int = 3         # a paragraph in this many documents is boilerplate
    unit: str = "line"             # "line" (CCNet, C4) | "paragraph" (blocks between blank lines)
    min_chars: int = 200           # a document left shorter than this is dropped
    scope: str = "all"             # "all" | "source": count within each source only


def split_units(text: str, unit: str) -> list[str]:
    """The text's paragraphs: its lines, or its blocks between blank lines. Joining them
    back with the separator gives the text again."""
    return text.split("\n") if unit == "line" else BLANK_LINES.split(text)


def separator(unit: str) -> str:
    return "\n" if unit == "line" else "\n\n"


def normalize(paragraph: str) -> str:
    """CCNet's normalisation: lower-case, no accents, digits 0, no punctuation, one space."""
    text = unicodedata.normalize("NFD", paragraph.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = _PUNCTUATION.sub(" ", _DIGITS.sub("0", text))
    return " ".join(text.split())


def paragraph_key(paragraph: str) -> bytes | None:
    """8 bytes of the normalised paragraph, or None when nothing is left of it."""
    normal = normalize(paragraph)
    return hashlib.blake2b(normal.encode("utf-8"), digest_size=8).digest() if normal else None


def document_ref(doc_id: str) -> bytes:
    """A document's reference in the shuffles: REF_BYTES of a hash of its id."""
    return hashlib.blake2b(doc_id.encode("utf-8"), digest_size=REF_BYTES).digest()


class Occurrence(NamedTuple):
    """One keyed paragraph of a document: what the shuffle carries per paragraph."""
    ref: bytes          # the document's reference (document_ref)
    index: int          # the paragraph's position in the document
    chars: int          # its length, separator included

    def pack(self) -> bytes:
        return _OCCURRENCE.pack(*self)

    @classmethod
    def unpack(cls, packed: bytes) -> "Occurrence":
        return cls._make(_OCCURRENCE.unpack(packed))

    def removal(self) -> bytes:
        """The occurrence without its reference, which keys it in the second shuffle."""
        return _REMOVAL.pack(self.index, self.chars)


def removal(ref: bytes, packed: bytes) -> Occurrence:
    return Occurrence(ref, *_REMOVAL.unpack(packed))


class DocInfo(NamedTuple):
    """What the judge needs of a document besides its removals; sent once per document."""
    doc_id: str
    source: str
    doc_chars: int      # the document's length


def occurrences(ref: bytes, text: str, unit: str) -> Iterable[tuple[bytes, Occurrence]]:
    """(key, occurrence) per paragraph of a document that has a key; a key repeated inside
    the document is one occurrence (the first): its document counts once."""
    seen = set()
    sep = len(separator(unit))
    for i, paragraph in enumerate(split_units(text, unit)):
        key = paragraph_key(paragraph)
        if key is not None and key not in seen:
            seen.add(key)
            yield key, Occurrence(ref, i, len(paragraph) + sep)


def repeated(group: Iterable[Occurrence], min_documents: int) -> list[Occurrence]:
    """The occurrences of one key to remove: all but the first document's, when the key is
    in at least `min_documents` documents."""
    ranked = sorted(set(group))
    return ranked[1:] if len(ranked) >= min_documents else []


class Verdict(NamedTuple):
    doc_id: str
    source: str
    removed: tuple[int, ...]     # paragraph indexes to remove, ascending
    removed_chars: int
    doc_chars: int
    drop: bool                   # what is left is shorter than min_chars


def judge(info: DocInfo, removals: Iterable[Occurrence], min_chars: int) -> Verdict:
    """A document and its removals -> what becomes of it."""
    removals = sorted(removals, key=lambda o: o.index)
    removed_chars = sum(o.chars for o in removals)
    indexes = tuple(o.index for o in removals)   # distinct: one key per paragraph
    return Verdict(info.doc_id, info.source, indexes, removed_chars, info.doc_chars,
                   info.doc_chars - removed_chars < min_chars)


def without(text: str, removed: Iterable[int], unit: str) -> str:
    """The text less the paragraphs at `removed` (a repeat inside the document stays: that
    is the Gopher repetition rule's to judge)."""
    gone = set(removed)
    return separator(unit).join(u for i, u in enumerate(split_units(text, unit)) if i not in gone)


def reference(docs: list[tuple[str, str, str]], spec: ParagraphSpec) -> dict[str, Verdict]:
    """doc id -> Verdict for (id, source, text) documents, in one process: the Beam stage's
    reference in tests and bench."""
    groups: dict = {}
    infos: dict[bytes, DocInfo] = {}
    for doc_id, source, text in docs:
        ref = document_ref(doc_id)
        infos[ref] = DocInfo(doc_id, source, len(text))
        for key, occurrence in occurrences(ref, text, spec.unit):
            scope = (source,) if spec.scope == "source" else ()
            groups.setdefault((*scope, key), []).append(occurrence)
    by_doc: dict[bytes, list[Occurrence]] = {}
    for group in groups.values():
        for occurrence in repeated(group, spec.min_documents):
            by_doc.setdefault(occurrence.ref, []).append(occurrence)
    return {infos[ref].doc_id: judge(infos[ref], found, spec.min_chars) for ref, found in by_doc.items()}
