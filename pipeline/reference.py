"""The recipe's document rules composed in plain Python, with no Beam.

`clean_documents` returns what the pipeline keeps before tokenisation: read,
extract, normalise, filter, decontaminate and dedup (exact, URL, near), in the same order and with the same
pure rules as pipeline/graph.py. Tests hold the Beam graph to it, benchmarks use
it for their inputs, and a user can try a recipe's rules on a few files in a REPL.
It holds everything in memory: for small inputs only.
"""
from __future__ import annotations

from pipeline.recipe import Recipe
from pipeline.rules.dedup import (DedupCandidate, UrlCandidate, content_hash, crawl_time, normalize_url, scope_of,
                                  split_duplicates, survivor_order, url_survivor_order)
from pipeline.rules.minhash import NearCandidate, Signer, bucket_losers
from pipeline.rules.decontaminate import MatchEvalSets
from pipeline.rules.extract import Extractor
from pipeline.rules.normalize import Normalizer
from pipeline.rules.quality import QualityRules
from pipeline.rules.verdict import Edited, apply_rules
from sources.document import Document
from sources.readers import ReadContext, file_records, source_inputs


def document_rules(recipe: Recipe) -> list:
    """The per-document rules in the graph's order; the first, the extractor, holds a
    child process when a timeout is set: close() it when done."""
    chain = [Extractor(recipe.extract_html, recipe.extract_limits), Normalizer(recipe.fix_mojibake),
             QualityRules(recipe.filters)]
    if recipe.decontaminate is not None:
        spec = recipe.decontaminate
        chain.append(MatchEvalSets(spec.sets, spec.ngram, spec.mode))
    return chain


def kept_document(record, chain: list) -> Document | None:
    """A read record through the rules: the document they keep (edits applied), or None."""
    if not isinstance(record, Document):
        return None
    verdict = apply_rules(record, chain)
    if isinstance(verdict, Edited):
        verdict = verdict.doc
    return verdict if isinstance(verdict, Document) else None


def filtered_documents(recipe: Recipe) -> list[Document]:
    chain = document_rules(recipe)
    kept = []
    try:
        _read_and_filter(recipe, chain, kept)
    finally:
        chain[0].close()
    return kept


def _read_and_filter(recipe: Recipe, chain: list, kept: list[Document]) -> None:
    for spec in recipe.sources:
        files, _ = source_inputs(spec.type, list(spec.paths), spec.options)
        for file in files:
            ctx = ReadContext(spec.name, spec.kind, file.path, file.relpath, spec.columns, spec.options)
            for record in file_records(spec.type, ctx):
                doc = kept_document(record, chain)
                if doc is not None:
                    kept.append(doc)


def duplicate_ids(recipe: Recipe, docs: list[Document]) -> set[str]:
    """Ids the recipe's dedup removes, by the same keys and survivor rules as the Beam graph."""
    spec = recipe.dedup
    scope = lambda d: scope_of(d, spec.scope)   # noqa: E731
    groups: dict = {}
    if spec.exact:
        for d in docs:
            groups.setdefault(("exact", *scope(d), content_hash(d.text)), []).append(
                DedupCandidate(len(d.text), d.id, d.source))
    if spec.url:
        for d in docs:
            if d.url:
                groups.setdefault(("url", *scope(d), normalize_url(d.url)), []).append(
                    UrlCandidate(crawl_time(d.meta), len(d.text), d.id, d.source))
    dropped = set()
    for key, group in groups.items():
        _, losers = split_duplicates(group, url_survivor_order if key[0] == "url" else survivor_order)
        dropped.update(c.id for c in losers)
    if spec.near is not None:
        signer, buckets = Signer(spec.near), {}
        for d in docs:
            keys, sketch = signer.keys_and_sketch(d.text)
            for digest in keys:
                buckets.setdefault((*scope(d), digest), []).append(
                    NearCandidate(len(d.text), d.id, d.source, sketch))
        for bucket in buckets.values():
            dropped.update(loser.id for loser, _ in bucket_losers(bucket, spec.near.min_similarity))
    return dropped


def clean_documents(recipe: Recipe) -> list[Document]:
    """The documents the pipeline tokenizes, sorted by id."""
    docs = filtered_documents(recipe)
    dropped = duplicate_ids(recipe, docs)
    return sorted((d for d in docs if d.id not in dropped), key=lambda d: d.id)
