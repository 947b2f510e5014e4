"""URL filtering with the blocklists datatrove ships, offline.

datatrove's URLFilter (the reference) takes the UT1 blocklist (4.5M domains,
20k URLs, in `datatrove/assets/url_filterblacklistsv0_3_0.tar.gz`) and its banned,
soft-banned and sub-word lists, and splits the host with tldextract. Two things
differ here, both for running on a cluster: its `TLDExtract()` fetches the
public-suffix list from the web on first use, while ours reads the snapshot
bundled in the tldextract package (`suffix_list_urls=()`, no cache directory);
and the 4.5M domains are held as a sorted array of 64-bit hashes (36 MB) instead
of a set of strings (several hundred MB per worker). Reasons keep datatrove's
order, prefixed `url_`. Documents without a URL are kept: the rule has nothing
to judge.
"""
from __future__ import annotations

import os
import re
import tarfile
from typing import Iterable

import numpy as np

from pipeline.rules.arrays import contains, sorted_unique
from sources.document import Document

_NON_ALNUM = re.compile(r"[^a-zA-Z0-9]+")
_lists: dict | None = None
_extract = None      # the process's TLDExtract, built on first use


def _normalize(text: str) -> str:
    return _NON_ALNUM.sub("", text).lower()


def _words(path: str) -> set[str]:
    with open(path, encoding="utf-8") as f:
        return {_normalize(line) for line in f if line[0] != "#"}


def _hashes(items: Iterable[bytes]) -> np.ndarray:
    """Sorted process-local hashes: membership needs only the same process's hash()."""
    return sorted_unique(np.fromiter((hash(x) for x in items if x), dtype=np.int64))


def integrated_lists() -> dict:
    """datatrove's packaged lists, read once per process (about 3 s)."""
    global _lists
    if _lists is None:
        from datatrove.utils._import_utils import ASSETS_PATH
        with tarfile.open(os.path.join(ASSETS_PATH, "url_filterblacklistsv0_3_0.tar.gz"), "r:gz") as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        _lists = {"domains": _hashes(line.strip() for line in files["domains"].split(b"\n")),
                  "urls": frozenset(u.strip() for u in files["urls"].decode("utf-8").split("\n") if u.strip()),
                  **{name: _words(os.path.join(ASSETS_PATH, f"{name}.txt"))
                     for name in ("banned_words", "soft_banned_words", "banned_subwords")}}
    return _lists


def domain_parts(url: str) -> tuple[str, str]:
    """(registered domain, fully qualified host) from the bundled public-suffix snapshot."""
    global _extract
    if _extract is None:
        from tldextract import TLDExtract
        _extract = TLDExtract(suffix_list_urls=(), cache_dir=None)
    parts = _extract(url)
    return parts.top_domain_under_public_suffix, parts.fqdn


class UrlBlocklist:
    def __init__(self, soft_word_threshold: int = 2, extra_domains: Iterable[str] = (),
                 extra_urls: Iterable[str] = (), banned_words: Iterable[str] = (),
                 banned_subwords: Iterable[str] = (), soft_banned_words: Iterable[str] = (),
                 use_integrated_lists: bool = True):
        self.soft_word_threshold = soft_word_threshold
        self.extra = {"domains": frozenset(extra_domains), "urls": frozenset(extra_urls),
                      "banned_words": {_normalize(w) for w in banned_words},
                      "soft_banned_words": {_normalize(w) for w in soft_banned_words},
                      "banned_subwords": {_normalize(w) for w in banned_subwords}}
        self.use_integrated_lists = use_integrated_lists
        self._ready = False

    def _load(self) -> None:
        lists = integrated_lists() if self.use_integrated_lists else {
            "domains": np.empty(0, np.int64), "urls": frozenset(),
            "banned_words": set(), "soft_banned_words": set(), "banned_subwords": set()}
        self.domain_hashes = lists["domains"]
        self.domains = self.extra["domains"]
        self.urls = lists["urls"] | self.extra["urls"]
        self.banned = lists["banned_words"] | self.extra["banned_words"]
        self.soft = lists["soft_banned_words"] | self.extra["soft_banned_words"]
        subwords = sorted(lists["banned_subwords"] | self.extra["banned_subwords"])
        self.subwords = re.compile("|".join(map(re.escape, subwords))) if subwords else None
        self._ready = True

    def _listed(self, domain: str) -> bool:
        return bool(domain) and (domain in self.domains or
                                  bool(contains(self.domain_hashes, np.array([hash(domain.encode("utf-8"))]))[0]))

    def __call__(self, doc: Document) -> str | None:
        url = doc.url
        if not url:
            return None
        if not self._ready:
            self._load()
        registered, fqdn = domain_parts(url)
        if self._listed(registered):
            return "url_domain"
        if self._listed(fqdn):
            return "url_subdomain"
        if url in self.urls:
            return "url_listed"
        words = set(_NON_ALNUM.split(url))
        if not words.isdisjoint(self.banned):
            return "url_banned_word"
        if len(words & self.soft) >= self.soft_word_threshold:
            return "url_soft_banned_words"
        if self.subwords is not None and self.subwords.search(_normalize(url)):
            return "url_banned_subword"
        return None
