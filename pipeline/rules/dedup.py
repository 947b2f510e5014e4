"""Exact deduplication keys and the survivor rule.

Only the small key crosses the shuffle: (kind, content hash) -> (length, id, source).
Text and code are deduplicated separately. In a group of identical documents the
survivor is the longest, then the smallest id: a pure function of the group, so
any runner and any bundle order choose the same document.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, NamedTuple

from sources.document import Document


class DedupCandidate(NamedTuple):
    length: int
    id: str
    source: str


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def exact_key(doc: Document) -> tuple[str, str]:
    return doc.kind, content_hash(doc.text)


def survivor_order(c: DedupCandidate) -> tuple[int, str]:
    return -c.length, c.id


def split_duplicates(group: Iterable[DedupCandidate]) -> tuple[DedupCandidate, list[DedupCandidate]]:
    """(survivor, the rest): the rest are dropped as duplicates of the survivor."""
    ranked = sorted(group, key=survivor_order)
    return ranked[0], ranked[1:]
