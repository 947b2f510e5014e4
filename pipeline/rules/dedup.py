"""Dedup keys and survivor rules for exact and URL dedup (MinHash: minhash.py).

Only small keys cross the shuffle: (kind, 16-byte digest of the content or of
the normalised URL) -> (length, id, source). Text and code are deduplicated separately. In a group of
identical documents the survivor is the longest, then the smallest id; among
captures of one URL the newest, then the longest, then the smallest id: pure
functions of the group, so any runner and any bundle order choose the same one.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, NamedTuple


class DedupCandidate(NamedTuple):
    length: int
    id: str
    source: str


def scope_of(doc, scope: str) -> tuple:
    """What a dedup key starts with: the kind (text and code never meet) and, with
    `scope: source`, the source."""
    return key_scope(doc.kind, doc.source, scope)


def key_scope(kind: str, source: str, scope: str) -> tuple:
    """scope_of for a document known by its kind and source (a dedup index row)."""
    return (kind, source) if scope == "source" else (kind,)


def content_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def url_key(url: str) -> bytes:
    """16-byte digest of the normalised URL (the URL dedup key)."""
    return hashlib.blake2b(normalize_url(url).encode("utf-8"), digest_size=16).digest()


def survivor_order(c: DedupCandidate) -> tuple[int, str]:
    return -c.length, c.id


def split_duplicates(group: Iterable, order=None) -> tuple:
    """(survivor, the rest) of a group ranked by `order` (survivor_order by default;
    url_survivor_order for captures of one URL): the rest are dropped as duplicates of
    the survivor, or, in a MinHash bucket, rank below documents they may be near-identical to."""
    ranked = sorted(set(group), key=order or survivor_order)
    return ranked[0], ranked[1:]


def normalize_url(url: str) -> str:
    """The URL a crawl would fetch again as the same page: scheme and host lower-cased,
    `www.` and default ports dropped, fragment and tracking parameters (utm_*, fbclid,
    gclid) removed, the remaining query parameters sorted, a trailing slash cut."""
    from urllib.parse import parse_qsl, urlencode, urlsplit
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = parts.port if parts.port not in (None, 80, 443) else None
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not k.lower().startswith("utm_") and k.lower() not in ("fbclid", "gclid"))
    path = parts.path.rstrip("/") or "/"
    return f"{host}{f':{port}' if port else ''}{path}" + (f"?{urlencode(query)}" if query else "")


def crawl_time(meta: dict) -> int:
    """The capture time in UTC seconds (0 when unknown): WARC-Date, or a
    RefinedWeb/FineWeb `timestamp` / `date` column."""
    from datetime import datetime, timezone
    for key in ("warc_date", "timestamp", "date"):
        value = meta.get(key)
        if value:
            try:
                when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return int(when.timestamp())
    return 0


class UrlCandidate(NamedTuple):
    crawled: int
    length: int
    id: str
    source: str


def url_survivor_order(c: UrlCandidate) -> tuple:
    """Newest capture first (unknown times last), then the longest text, then the smallest id."""
    return -c.crawled, -c.length, c.id
