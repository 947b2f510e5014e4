"""The dedup index: what a build keeps of its documents so that a later build can drop
their duplicates without their text (dedup across builds, one crawl at a time).

Per kept document, one row: its id, kind, source and length, the exact-dedup content
hash (16 bytes), the normalised URL's hash (16 bytes, when it has a URL), and, when
the build ran near dedup, its MinHash band keys (8 bytes each) and its 112-byte
sketch, so that a later build verifies a near match as it verifies one within a
build. Rows are spread over `partitions` files by a hash of the id, sorted by id in
each (the same bytes on any runner), beside an `index.json` that records the format,
the parameters the keys depend on, the document count and each file's size and
sha256. A later build names the folder in `dedup.against`; `check_compatible` refuses
an index whose keys were made otherwise (another MinHash ngram, bands, rows or seed,
or another scope), since its band keys would never meet this build's.
"""
from __future__ import annotations

import hashlib
from typing import Any, Mapping

import pyarrow as pa

INDEX_DIR = "dedup-index"
INDEX_FILE = "index.json"
INDEX_FORMAT = 1
DEFAULT_PARTITIONS = 16

SCHEMA = pa.schema([("id", pa.string()), ("kind", pa.string()), ("source", pa.string()),
                    ("length", pa.int64()), ("exact", pa.binary(16)), ("url", pa.binary(16)),
                    ("bands", pa.list_(pa.binary(8))), ("sketch", pa.binary())])


class IndexMismatch(ValueError):
    """An earlier build's index cannot be used by this recipe; the message says why."""


def index_params(exact: bool, url: bool, near, scope: str) -> dict[str, Any]:
    """What an index's keys depend on (min_similarity is the using build's own choice)."""
    return {"format": INDEX_FORMAT, "scope": scope, "exact": bool(exact), "url": bool(url),
            "minhash": None if near is None else {"ngram": near.ngram, "bands": near.bands, "rows": near.rows,
                                                   "seed": near.seed}}


def check_compatible(path: str, found: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    """Raises IndexMismatch, naming the setting, when the index at `path` (its index.json's
    params `found`) was built in a way this build (`wanted`) cannot match against."""
    if found.get("format") != INDEX_FORMAT:
        raise IndexMismatch(f"dedup.against: {path} has index format {found.get('format')!r}, "
                            f"this version reads {INDEX_FORMAT}")
    if found.get("scope") != wanted["scope"]:
        raise IndexMismatch(f"dedup.against: {path} was built with dedup.scope {found.get('scope')!r}, "
                            f"this recipe has {wanted['scope']!r}")
    if wanted["minhash"] is not None and found.get("minhash") not in (None, wanted["minhash"]):
        raise IndexMismatch(f"dedup.against: {path} was built with MinHash {found['minhash']}, this recipe uses "
                            f"{wanted['minhash']}: its band keys cannot meet this build's (rebuild the index "
                            "or use the same dedup.near settings)")


def partition_of(doc_id: str, partitions: int) -> int:
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=4).digest(), "big") % partitions


def index_row(doc_id: str, kind: str, source: str, length: int, exact: bytes, url: bytes | None,
              bands: list[bytes], sketch: bytes) -> dict[str, Any]:
    return {"id": doc_id, "kind": kind, "source": source, "length": length, "exact": exact, "url": url,
            "bands": list(bands), "sketch": sketch}


def best_prior(matches) -> tuple[str, float | None]:
    """Of the earlier builds' documents a new document matched, the one named as kept
    instead: the most similar, then the smallest id."""
    return min(matches, key=lambda m: (-(m[1] if m[1] is not None else 1.0), m[0]))
