"""Benchmark decontamination: which evaluation sets share an n-gram with a document.

As GPT-3 did (Brown et al. 2020, appendix C), text is lowercased and split into
words (`\\w+`, so punctuation and spacing do not hide a match), and a document
is contaminated by an evaluation set when they share any 13-gram (`ngram` in the
recipe). Evaluation texts shorter than n words cannot be matched this way; they
are counted in the report as `short_texts` rather than silently ignored.

N-grams are 64-bit polynomial hashes over per-word BLAKE2b hashes
(pipeline/rules/arrays.py, shared with MinHash), so the index is the same in every process; each set is a sorted NumPy array (8 bytes per
distinct n-gram) searched with `searchsorted`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np

from pipeline.rules.arrays import WordHashes, contains, sorted_unique, word_ngram_hashes
from pipeline.rules.verdict import Dropped, Edited


def words(text: str) -> list[str]:
    import regex
    return regex.findall(r"\w+", text.lower())


def ngram_hashes(text: str, n: int, hashes: WordHashes | None = None) -> np.ndarray:
    """The hash of every run of n consecutive words (empty under n words); `hashes`: a
    word-hash memo kept between calls."""
    return word_ngram_hashes(words(text), n, hashes)


@dataclass(frozen=True)
class EvalSetSpec:
    name: str
    paths: tuple[str, ...]
    fields: tuple[str, ...] = ("text",)    # JSONL keys / parquet columns joined into one text


@dataclass
class EvalIndex:
    name: str
    hashes: np.ndarray        # sorted, unique
    texts: int
    short_texts: int

    def matches(self, doc_hashes: np.ndarray) -> bool:
        return bool(contains(self.hashes, doc_hashes).any())

    def report(self) -> dict:
        return {"texts": self.texts, "short_texts": self.short_texts, "ngrams": int(len(self.hashes))}


def eval_texts(spec: EvalSetSpec) -> Iterator[str]:
    """Each evaluation item's fields joined by newlines, from JSONL(.gz/.zst) or parquet
    files, local, in object storage or over HTTP(S), opened as the sources open theirs."""
    from sources.files import expand_paths, open_input
    from sources.jsonl import decompressed_chunks, split_lines
    for path in (f.path for f in expand_paths(list(spec.paths))):
        with open_input(path) as f:
            if path.endswith(".parquet"):
                import pyarrow.parquet as pq
                table = pq.read_table(f, columns=list(spec.fields))
                yield from (_joined(row, spec.fields) for row in table.to_pylist())
                continue
            for line in split_lines(decompressed_chunks(f, path)):
                if line.strip():
                    yield _joined(json.loads(line.decode("utf-8")), spec.fields)


def _joined(row: dict, fields: Sequence[str]) -> str:
    return "\n".join(_flatten(row[k]) for k in fields if row.get(k) is not None)


def _flatten(value) -> str:
    """Answer choices come as lists in many evaluation sets; their items are text too."""
    if isinstance(value, (list, tuple)):
        return "\n".join(map(_flatten, value))
    return str(value)


def build_index(spec: EvalSetSpec, n: int) -> EvalIndex:
    parts, texts, short, hashes = [], 0, 0, WordHashes()
    for text in eval_texts(spec):
        texts += 1
        h = ngram_hashes(text, n, hashes)
        if not len(h):
            short += 1
        parts.append(h)
    hashes = sorted_unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)
    return EvalIndex(spec.name, hashes, texts, short)


class Contamination:
    """`Document -> sorted names of the evaluation sets it shares an n-gram with`."""

    def __init__(self, sets: Sequence[EvalSetSpec], ngram: int = 13):
        self.n, self.hashes = ngram, WordHashes()
        self.indexes = [build_index(s, ngram) for s in sets]

    def __call__(self, text: str) -> tuple[str, ...]:
        h = ngram_hashes(text, self.n, self.hashes)
        return tuple(sorted(ix.name for ix in self.indexes if ix.matches(h)))

    def report(self) -> Mapping[str, dict]:
        return {ix.name: ix.report() for ix in self.indexes}


class MatchEvalSets:
    """The decontamination rule: drops (`contaminated`) or marks documents sharing an
    n-gram with an evaluation set; counts a match per set either way, as the tally
    `match/<set>`, which the manifest's decontamination report reads."""

    def __init__(self, sets: tuple[EvalSetSpec, ...], ngram: int, mode: str):
        self.contamination = Contamination(sets, ngram)
        self.mode = mode

    def __call__(self, doc):
        matched = self.contamination(doc.text)
        if not matched:
            return None
        counts = {f"match/{name}": 1 for name in matched}
        if self.mode == "remove":
            return Dropped("contaminated", counts)
        return Edited(doc.with_meta(contaminated=list(matched)), counts)
