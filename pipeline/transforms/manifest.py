"""CountFunnel, WriteDeadLetters and WriteManifest: the run's accounting, written last.

WriteManifest takes the shard records as its main input's side, so it runs only
after every shard is renamed into place; the manifest's appearance is what marks
the corpus complete.
"""
from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from manifests.build import (SCHEMA_VERSION, UnbalancedFunnel, build_funnel, corpus_stats,
                             dedup_figures, funnel_problems, source_totals)
from manifests.io import write_manifest
from tokenizer.bpe import SPECIAL_TOKENS

DEAD_LETTER_FILE = "dead_letters.jsonl"


class CountFunnel(beam.PTransform):
    """(source, reason) drops and errors, (source, n) reads -> sorted (source, reason, n) rows."""

    def expand(self, pcolls):
        return (pcolls
                | "FlattenEvents" >> beam.Flatten()
                | "CountEvents" >> beam.combiners.Count.PerElement()
                | "FormatRows" >> beam.MapTuple(lambda key, n: (*key, n)))


class WriteDeadLetters(beam.PTransform):
    """One JSON line per unparseable record, sorted, so the file is deterministic.
    No file when there are none: object stores (S3) refuse an empty multipart upload."""

    def __init__(self, output: str):
        super().__init__()
        self.path = f"{output}/{DEAD_LETTER_FILE}"

    def expand(self, dead):
        path = self.path

        def write(records):
            if not records:
                return 0
            with FileSystems.create(path) as f:
                for r in sorted(records, key=lambda r: (r["source"], r["location"])):
                    f.write((json.dumps(r, sort_keys=True) + "\n").encode("utf-8"))
            return len(records)

        return dead | "CollectDeadLetters" >> beam.combiners.ToList() | "WriteJsonl" >> beam.Map(write)


def assemble_manifest(config, shards, tokenizer, reads, drops, errors, docs_tokens, clusters, code) -> dict:
    recipe = config.recipe
    shards = sorted(shards, key=lambda s: s["index"])
    specs = {s.name: {"kind": s.kind, "epochs": s.epochs} for s in recipe.sources}
    sources = source_totals(specs, docs_tokens, shards)
    funnel = build_funnel(specs, reads, drops, errors, {n: s["documents"] for n, s in sources.items()})
    problems = funnel_problems(funnel)
    if problems:
        raise UnbalancedFunnel("; ".join(problems))
    token_ids = {t["content"]: t["id"] for t in json.loads(tokenizer["json"])["added_tokens"]}
    return {
        "schema_version": SCHEMA_VERSION,
        "name": recipe.name,
        "recipe": recipe.raw,
        "options": {"recipe_path": config.recipe_path, "strict": config.strict},
        "code_version": code,
        "tokenizer": {k: tokenizer[k] for k in ("path", "sha256", "vocab_size", "eos_id", "dtype")}
        | {"special_tokens": {t: token_ids[t] for t in SPECIAL_TOKENS if t in token_ids}},
        "sources": sources,
        "shards": shards,
        "funnel": funnel,
        "dedup": dedup_figures(recipe.dedup_exact, drops, clusters),
        "stats": corpus_stats(shards, sources, sum(n for _, _, n in errors)),
    }


class WriteManifest(beam.PTransform):
    def __init__(self, config, code: dict, *, tokenizer, reads, drops, errors, docs_tokens, clusters):
        super().__init__()
        self.config, self.code = config, code
        self.sides = dict(tokenizer=beam.pvalue.AsSingleton(tokenizer), reads=beam.pvalue.AsList(reads),
                          drops=beam.pvalue.AsList(drops), errors=beam.pvalue.AsList(errors),
                          docs_tokens=beam.pvalue.AsList(docs_tokens), clusters=beam.pvalue.AsList(clusters))

    def expand(self, shards):
        config, code = self.config, self.code

        def write(_, shards, **sides):
            manifest = assemble_manifest(config, shards, code=code, **sides)
            return write_manifest(config.output, manifest)

        return (shards.pipeline
                | "CreateTrigger" >> beam.Create([None])
                | "WriteJson" >> beam.Map(write, shards=beam.pvalue.AsList(shards), **self.sides))
