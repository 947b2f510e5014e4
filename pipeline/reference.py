"""The recipe's document rules composed in plain Python, with no Beam.

`clean_documents` returns what the pipeline keeps before tokenisation: read,
extract, normalise, filter, decontaminate and exact dedup, in the same order and with the same
pure rules as pipeline/graph.py. Tests hold the Beam graph to it, benchmarks use
it for their inputs, and a user can try a recipe's rules on a few files in a REPL.
It holds everything in memory: for small inputs only.
"""
from __future__ import annotations

from pipeline.recipe import Recipe
from pipeline.rules.dedup import DedupCandidate, exact_key, split_duplicates
from pipeline.rules.decontaminate import MatchEvalSets
from pipeline.rules.extract import Extractor
from pipeline.rules.normalize import Normalizer
from pipeline.rules.quality import QualityRules
from pipeline.rules.verdict import Edited, apply_rules
from sources.document import Document
from sources.readers import ReadContext, file_records, source_inputs


def filtered_documents(recipe: Recipe) -> list[Document]:
    extract = Extractor(recipe.extract_html, recipe.extract_limits)
    chain = [extract, Normalizer(recipe.fix_mojibake), QualityRules(recipe.filters)]   # the graph's order
    if recipe.decontaminate is not None:
        spec = recipe.decontaminate
        chain.append(MatchEvalSets(spec.sets, spec.ngram, spec.mode))
    kept = []
    try:
        _read_and_filter(recipe, chain, kept)
    finally:
        extract.close()
    return kept


def _read_and_filter(recipe: Recipe, chain: list, kept: list[Document]) -> None:
    for spec in recipe.sources:
        files, _ = source_inputs(spec.type, list(spec.paths), spec.options)
        for file in files:
            ctx = ReadContext(spec.name, spec.kind, file.path, file.relpath, spec.columns, spec.options)
            for record in file_records(spec.type, ctx):
                if not isinstance(record, Document):
                    continue
                verdict = apply_rules(record, chain)
                if isinstance(verdict, Edited):
                    verdict = verdict.doc
                if isinstance(verdict, Document):
                    kept.append(verdict)


def clean_documents(recipe: Recipe) -> list[Document]:
    """The documents the pipeline tokenizes, sorted by id."""
    docs = filtered_documents(recipe)
    if recipe.dedup_exact:
        groups: dict = {}
        for doc in docs:
            groups.setdefault(exact_key(doc), []).append(DedupCandidate(len(doc.text), doc.id, doc.source))
        survivors = {split_duplicates(g)[0].id for g in groups.values()}
        docs = [d for d in docs if d.id in survivors]
    return sorted(docs, key=lambda d: d.id)
