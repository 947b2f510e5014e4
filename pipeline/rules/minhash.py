"""MinHash LSH near-duplicate keys, and the survivor rule for a bucket (pure).

Shingles are word 5-grams of the text as datatrove's `simplify_text` leaves it
(lowercase, punctuation to spaces, digits folded to 0, diacritics removed,
whitespace collapsed: FineWeb's settings), each a 64-bit hash
(arrays.word_ngram_hashes). A signature is the minimum of `bands * rows`
hash functions h -> a*h + b mod 2**64 (a odd, so each is a permutation of the
64-bit values; a and b from the recipe's seed), computed in NumPy a block of
shingles at a time. With 14 bands of 8 rows (datatrove's defaults) two
documents share a bucket with probability 1 - (1 - s**8)**14 at Jaccard
similarity s: the usual threshold estimate (1/14)**(1/8) is 0.72, and the
S-curve passes 50% at s = 0.685 (`MinHashParams.threshold`).

Verification: sharing a bucket happens by chance too (2 to 4% of pairs at
similarity 0.45 to 0.5 with 14x8), so each candidate carries a 112-byte sketch,
the low 8 bits of every signature value (b-bit MinHash, Li and Koenig 2010), and
a pair only counts when the sketches estimate a similarity of at least
`min_similarity` (0.7 by default; the estimate's standard error is about 0.045).

Semantics, and why: a document is removed when, in any bucket it falls in, a
document ranking above it (longer text, then smaller id) is verified similar. This is "keep if best
in every bucket": a fixed number of shuffles (transforms/dedup.py: band keys,
candidates joined to shared buckets, buckets, losers), no iteration and no
machine holding all pairs, and it removes a subset of what connected
components would (a chain A~B~C where A and C are not similar keeps A and C if B
ranks below both, where components keep one of the three).
"""
from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from pipeline.rules.arrays import WordHashes, sorted_unique, word_ngram_hashes
from pipeline.rules.dedup import split_duplicates

BLOCK = 1024   # shingles per NumPy block: the buffer is rows*bands*BLOCK*8 bytes (917 kB at 14x8)


@dataclass(frozen=True)
class MinHashParams:
    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 1
    min_similarity: float | None = 0.7   # verify bucket pairs by their sketches; None trusts the buckets

    def coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        n = self.bands * self.rows
        a = rng.integers(0, 2 ** 63, n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)   # odd
        b = rng.integers(0, 2 ** 63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)
        return a, b

    def threshold(self) -> float:
        """The similarity at which two documents share a bucket half of the time."""
        return float((1 - 0.5 ** (1 / self.bands)) ** (1 / self.rows))


# datatrove's number pattern, \p{Nd}+([.,،٫⎖⎗⎘]{1}\p{Nd}+)?, as it reads on ASCII text: the only
# ASCII decimal digits are 0-9 and the only ASCII separators . and ,
_ASCII_NUMBERS = re.compile(r"[0-9]+(?:[.,][0-9]+)?")


@lru_cache(maxsize=1)
def _ascii_punctuation() -> bytes:
    """datatrove's punctuation table (each mark to a space), its ASCII part, for bytes.translate."""
    from datatrove.utils.text import PUNCTUATION_TRANS
    table = bytearray(range(256))
    for code, to in PUNCTUATION_TRANS.items():
        if code < 128:
            table[code] = to if isinstance(to, int) else ord(to)
    return bytes(table)


@lru_cache(maxsize=1)
def _unicode_patterns():
    """datatrove's number pattern; its punctuation table's marks as one character class
    (a run of them to one space: the words are the same); the combining marks (category
    Mn in this interpreter's unicodedata, as datatrove tests them: the `regex` module's
    \p{Mn} follows a newer Unicode and would also remove marks unassigned here)."""
    import unicodedata

    from datatrove.utils.text import NUMBERS_PATTERN, PUNCTUATION_TRANS
    punctuation = "".join(re.escape(chr(code)) for code in sorted(PUNCTUATION_TRANS))
    ranges, first, last = [], None, None
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) == "Mn":
            if last is not None and code == last + 1:
                last = code
                continue
            if first is not None:
                ranges.append((first, last))
            first = last = code
    ranges.append((first, last))
    marks = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
    return NUMBERS_PATTERN, re.compile(f"[{punctuation}]+"), re.compile(f"[{marks}]+")


def shingle_words(text: str) -> list[str]:
    """The words of datatrove's `simplify_text(text)` (FineWeb's settings: lower case,
    numbers to 0, punctuation to spaces, whitespace collapsed, diacritics removed).

    The same steps in the same order, each done faster, and only the words kept (so
    how many spaces stand between two words does not matter):
    - ASCII text (nearly all code, most web text): `str.lower`, the number pattern in
      `re` over 0-9, the punctuation table's ASCII part by `bytes.translate`, and
      `str.split`, which splits on every character that datatrove's whitespace pattern
      or its strip would turn to a space;
    - other text: datatrove's number pattern; its punctuation table as one regular
      expression (its `str.translate` with a dict looks up every character: 2x slower);
      NFD and one regular expression for the combining marks (its per-character
      category test in Python was 60% of signing time).
    Together 3x faster than datatrove's function (4.3 s against 1.4 s on the 2,641 code and
    reST documents of bench.versus's 100 MB corpus); tests/test_dedup.py compares both
    roads with it."""
    if text.isascii():
        text = _ASCII_NUMBERS.sub("0", text.lower())
        return text.encode("ascii").translate(_ascii_punctuation()).decode("ascii").split()
    numbers, punctuation, marks = _unicode_patterns()
    text = punctuation.sub(" ", numbers.sub("0", text.lower()))
    if not text.isascii():
        import unicodedata
        text = marks.sub("", unicodedata.normalize("NFD", text))
    return text.split()


def shingles(text: str, n: int = 5, hashes: WordHashes | None = None) -> np.ndarray:
    """Distinct shingle hashes; a text under n words is one shingle of all its words.
    `hashes`: a word-hash memo kept between calls."""
    words = shingle_words(text)
    if not words:
        return np.empty(0, dtype=np.uint64)
    h = word_ngram_hashes(words, min(n, len(words)), hashes)
    return sorted_unique(h)


class Signer:
    def __init__(self, params: MinHashParams = MinHashParams()):
        self.params = params
        self.a, self.b = params.coefficients()
        self.word_hashes = WordHashes()

    def signature(self, hashes: np.ndarray) -> np.ndarray | None:
        """The minimum of each hash function over the shingles, a block at a time into one
        buffer (in place: no temporaries; a block of 1,024 keeps the buffer in cache)."""
        if not len(hashes):
            return None
        sig = np.full(len(self.a), np.iinfo(np.uint64).max, dtype=np.uint64)
        a, b = self.a[:, None], self.b[:, None]
        buffer = np.empty((len(self.a), min(BLOCK, len(hashes))), dtype=np.uint64)
        for start in range(0, len(hashes), BLOCK):
            block = hashes[start:start + BLOCK]
            values = buffer[:, :len(block)]
            np.multiply(a, block[None, :], out=values)
            values += b
            np.minimum(sig, values.min(axis=1), out=sig)
        return sig

    def band_keys(self, sig: np.ndarray) -> list[bytes]:
        """An 8-byte digest of each band's rows, with the band's number folded in (so a key
        alone says which band it is, and the same rows in two bands are two keys). At 10
        billion documents about 3 pairs per band share a key by chance; the sketch
        verification turns them away like any other dissimilar pair."""
        rows = self.params.rows
        return [hashlib.blake2b(sig[i * rows:(i + 1) * rows].tobytes(), digest_size=8,
                                person=b"band%d" % i).digest()
                for i in range(self.params.bands)]

    def keys_and_sketch(self, text: str) -> tuple[list[bytes], bytes]:
        sig = self.signature(shingles(text, self.params.ngram, self.word_hashes))
        return ([], b"") if sig is None else (self.band_keys(sig), sketch(sig))


def sketch(sig: np.ndarray) -> bytes:
    """The low 8 bits of each signature value."""
    return (sig & np.uint64(0xFF)).astype(np.uint8).tobytes()


def estimated_similarity(a: bytes, b: bytes) -> float:
    """Jaccard similarity from two b-bit sketches: matches, less the 1/256 chance ones."""
    if not a or len(a) != len(b):
        return 0.0
    same = float(np.mean(np.frombuffer(a, np.uint8) == np.frombuffer(b, np.uint8)))
    return min(max((same - 1 / 256) / (1 - 1 / 256), 0.0), 1.0)


def doc_ref(doc_id: str) -> bytes:
    """8-byte digest of a document id: what a band record carries instead of the id. Two
    ids sharing one (about 3 pairs at 10 billion documents) only add candidates to each
    other's buckets, which the sketch verification still judges one by one."""
    return hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()


class NearCandidate(NamedTuple):
    length: int
    id: str
    source: str
    sketch: bytes


def bucket_losers(members, min_similarity: float | None) -> list[tuple[NearCandidate, NearCandidate]]:
    """(loser, the best-ranked document verified similar to it) for each member of a bucket
    that ranks below one it is verified similar to."""
    best, rest = split_duplicates(members)
    ranked = [best, *rest]
    out = []
    for i, member in enumerate(ranked[1:], 1):
        for better in ranked[:i]:
            if min_similarity is None or estimated_similarity(member.sketch, better.sketch) >= min_similarity:
                out.append((member, better))
                break
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """True Jaccard similarity of two distinct-shingle arrays (for measuring, not for deciding)."""
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
