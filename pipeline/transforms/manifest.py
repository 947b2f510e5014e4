"""CountFunnel, WriteDeadLetters, WriteAccounting and WriteManifest: the run's accounting.

The clean job counts what it read, dropped and dead-lettered into its stage folder
(WriteAccounting); the corpus job reads those counts back (ReadAccounting) for the
manifest. WriteManifest takes the shard records as its main input's side, so it
runs only after every shard is renamed into place; the manifest's appearance is
what marks the corpus complete.
"""
from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from manifests.build import (SCHEMA_VERSION, UnbalancedFunnel, build_funnel, corpus_stats,
                             decontamination_report, dedup_figures, funnel_problems, megatron_args,
                             source_totals, tally_table, validation_split)
from manifests.io import MANIFEST_FILE, encode_manifest, manifest_path
from manifests.splits import TRAIN, VALIDATION

DEAD_LETTER_FILE = "dead_letters.jsonl"
ACCOUNTING_FILE = "accounting.json"
# The clean job's figures, each a list of tuples: (source, n) reads; (source, reason, n)
# drops and errors; (source, what, n) tallies; (method, group size, groups); rejects written.
ACCOUNTS = ("reads", "drops", "errors", "tallies", "groups", "rejects")
REJECTS_DIR = "rejects"
REJECT_BUCKETS = 16


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


class WriteRejects(beam.PTransform):
    """Audit records of dropped documents -> rejects/<source>-<bucket>.jsonl, sorted by id.
    Records are spread over a fixed number of buckets per source by a hash of the id,
    so no one worker holds a whole source's rejects and the files are the same on
    every runner. Returns the number of records written."""

    def __init__(self, output: str):
        super().__init__()
        self.output = output

    def expand(self, records):
        import zlib
        output = self.output

        def write(key, rows):
            source, bucket = key
            rows = sorted(rows, key=lambda r: (r["id"], r["reason"]))
            with FileSystems.create(f"{output}/{REJECTS_DIR}/{source}-{bucket:02d}.jsonl") as f:
                for r in rows:
                    f.write((json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
            return len(rows)

        return (records
                | "KeyByBucket" >> beam.Map(lambda r: ((r["source"], zlib.crc32(r["id"].encode()) % REJECT_BUCKETS), r))
                | "GroupByBucket" >> beam.GroupByKey()
                | "WriteJsonl" >> beam.MapTuple(write)
                | "CountRecords" >> beam.CombineGlobally(sum))


class WriteAccounting(beam.PTransform):
    """The clean job's small figures -> one sorted JSON file in its stage folder."""

    def __init__(self, stage: str, **figures: beam.PCollection):
        super().__init__()
        assert set(figures) == set(ACCOUNTS), sorted(figures)
        self.path = f"{stage}/{ACCOUNTING_FILE}"
        self.sides = {name: beam.pvalue.AsList(pcoll) for name, pcoll in figures.items()}

    def expand(self, pbegin):
        path = self.path

        def write(_, **figures):
            doc = {name: sorted(list(row) if isinstance(row, tuple) else row for row in rows)
                   for name, rows in figures.items()}
            with FileSystems.create(path) as f:
                f.write(json.dumps(doc, sort_keys=True).encode("utf-8"))
            return path

        return pbegin | "CreateTrigger" >> beam.Create([None]) | "WriteJson" >> beam.Map(write, **self.sides)


def read_accounting(stage: str) -> dict:
    """A finished clean stage's figures (accounting.json): small, per source and reason."""
    with FileSystems.open(f"{stage}/{ACCOUNTING_FILE}") as f:
        return json.loads(f.read())


def kept_documents(figures: dict) -> int:
    """Documents the clean job kept: read, less dropped and dead-lettered (the funnel's rule)."""
    return (sum(n for _, n in figures["reads"]) - sum(n for _, _, n in figures["drops"])
            - sum(n for _, _, n in figures["errors"]))


class ReadAccounting(beam.PTransform):
    """A finished clean stage's figures (read_accounting, when the graph is built) ->
    {name: PCollection of tuples}."""

    def __init__(self, figures: dict):
        super().__init__()
        self.figures = figures

    def expand(self, pbegin):
        return {name: pbegin | f"Create{name.title()}" >> beam.Create(
                    [tuple(row) if isinstance(row, list) else row for row in self.figures[name]])
                for name in ACCOUNTS}


def assemble_manifest(config, shards, tokenizer, reads, drops, errors, documents, groups, code,
                      tallies=(), rejects=(), tokenizer_quality=None, entropy=(), plans=None) -> dict:
    """`shards`: (split, record) pairs from WriteShards; the rest, the stages' small figures."""
    from pipeline.transforms.stats import ALL_SOURCES
    recipe = config.recipe
    by_split = {split: sorted((r for s, r in shards if s == split), key=lambda r: r["index"])
                for split in (TRAIN, VALIDATION)}
    shards, held_out = by_split[TRAIN], by_split[VALIDATION]
    specs = {s.name: {"kind": s.kind, "epochs": s.epochs, "validation": s.validation} for s in recipe.sources}
    words = dict(entropy)
    sources = source_totals(specs, documents, shards, words)
    funnel = build_funnel(specs, reads, drops, errors, {n: s["documents"] for n, s in sources.items()})
    problems = funnel_problems(funnel)
    if problems:
        raise UnbalancedFunnel("; ".join(problems))
    tally = tally_table(specs, tallies)
    eval_sets = {}
    if recipe.decontaminate is not None:
        from pipeline.rules.decontaminate import Contamination
        eval_sets = Contamination(recipe.decontaminate.sets, recipe.decontaminate.ngram).report()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": recipe.name,
        "recipe": recipe.raw,
        "options": {"recipe_path": config.recipe_path, "strict": config.strict},
        "code_version": code,
        "tokenizer": {k: tokenizer[k] for k in ("path", "sha256", "vocab_size", "eos_id", "dtype")}
        | {"special_tokens": tokenizer["special_ids"]}
        | ({"quality": tokenizer_report(tokenizer_quality, tokenizer["vocab_size"])} if tokenizer_quality else {}),
        "sources": sources,
        "shards": shards,
        "funnel": funnel,
        "tallies": tally,
        "decontamination": decontamination_report(recipe.decontaminate, tally, eval_sets),
        "dedup": dedup_figures(recipe.dedup, drops, groups),
        "validation": validation_split(sources, held_out),
        "stats": corpus_stats(shards, sources, sum(n for _, _, n in errors), recipe.shard_tokens,
                              words.get(ALL_SOURCES)) | {"words_sample": recipe.stats_sample}
        | ({"shard_cuts": shard_cuts(plans)} if plans else {}),
        "megatron": megatron_args(shards, tokenizer["dtype"], held_out),
    }
    if recipe.rejects:
        manifest["rejects"] = {"path": f"{REJECTS_DIR}/", "records": sum(rejects)}
    return manifest


def shard_cuts(plans: dict) -> dict:
    """Where each split's shards begin, as key bins (rules/epochs.ShardPlan): with these,
    anyone can place a copy from its key without reading the shards."""
    from pipeline.rules.epochs import KEY_BINS
    return {"key_bins": KEY_BINS, **{split: list(plan.cuts) for split, plan in sorted(plans.items())}}


def tokenizer_report(quality: dict, vocab: int) -> dict:
    """Bytes per token on held-out documents per kind, and the vocabulary the corpus uses."""
    return {"held_out": quality["held_out"], "vocab_used": quality["tokens_used"],
            "vocab_used_share": round(quality["tokens_used"] / vocab, 4)}


def write_manifest(output: str, manifest: dict) -> str:
    """Validates (manifests/io.encode_manifest), writes to a temporary name, renames: the
    manifest appears whole or not at all. Returns its path."""
    data = encode_manifest(manifest)
    final = manifest_path(output)
    temp = f"{output.rstrip('/')}/.{MANIFEST_FILE}.inprogress"
    with FileSystems.create(temp) as f:
        f.write(data)
    FileSystems.rename([temp], [final])
    return final


class WriteManifest(beam.PTransform):
    def __init__(self, config, code: dict, *, tokenizer, tokenizer_quality, plans, **lists):
        """`lists`: reads, drops, errors, documents, entropy, groups, tallies, rejects PCollections."""
        super().__init__()
        self.config, self.code = config, code
        self.sides = dict(tokenizer=beam.pvalue.AsSingleton(tokenizer),
                          tokenizer_quality=beam.pvalue.AsSingleton(tokenizer_quality),
                          plans=beam.pvalue.AsSingleton(plans),
                          **{name: beam.pvalue.AsList(pcoll) for name, pcoll in lists.items()})

    def expand(self, shards):
        config, code = self.config, self.code

        def write(_, shards, **sides):
            manifest = assemble_manifest(config, shards, code=code, **sides)
            return write_manifest(config.output, manifest)

        return (shards.pipeline
                | "CreateTrigger" >> beam.Create([None])
                | "WriteJson" >> beam.Map(write, shards=beam.pvalue.AsList(shards), **self.sides))
