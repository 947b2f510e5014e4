"""WriteManifest: the corpus job's figures assembled into manifest.json, written last.

The clean job's counts come back from its work folder (transforms/accounting.py);
the corpus job adds the tokenizer, the shard records and the corpus statistics.
WriteManifest takes the shard records as its main input's side, so it runs only
after every shard is renamed into place; the manifest's appearance is what marks
the corpus complete.
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from manifests.build import (SCHEMA_VERSION, UnbalancedFunnel, build_funnel, corpus_stats,
                             decontamination_report, dedup_figures, funnel_problems, megatron_args,
                             phase_sections, source_totals, tally_table, validation_split)
from manifests.io import MANIFEST_FILE, encode_manifest, manifest_path
from manifests.splits import TRAIN, VALIDATION
from pipeline.recipe import resolved_recipe
from pipeline.transforms import faults
from pipeline.transforms.accounting import DEAD_LETTER_FILE, REJECTS_DIR
from pipeline.rules.dedup_index import INDEX_DIR, INDEX_FILE
from pipeline.transforms.classify import CLASSIFIERS_DIR


def assemble_manifest(config, shards, tokenizer, reads, drops, errors, documents, groups, code,
                      tallies=(), rejects=(), tokenizer_quality=None, entropy=(), shard_plans=None,
                      published=(), rehydrated=(), phase_plans=None, phase_rows=()) -> dict:
    """`shards`: (split, record) pairs from WriteShards; `published`: the dead letters' and
    rejects' file records (resume.publish); the rest, the stages' small figures."""
    from pipeline.transforms.stats import ALL_SOURCES
    recipe = config.recipe
    phase_names = [p.name for p in recipe.continuation]
    by_split = {split: sorted((r for s, r in shards if s == split), key=lambda r: r["index"])
                for split in (TRAIN, VALIDATION, *phase_names)}
    shards, held_out = by_split[TRAIN], by_split[VALIDATION]
    specs = {s.name: {"kind": s.kind, "epochs": s.epochs, "validation": s.validation} for s in recipe.sources}
    words = dict(entropy)
    sources = source_totals(specs, documents, shards, words)
    for spec in recipe.sources:
        if spec.rehydrate:
            sources[spec.name]["rehydrate"] = rehydration_report(spec, rehydrated)
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
        "resolved_recipe": config.resolved_recipe or resolved_recipe(recipe),
        "options": {"recipe_path": config.recipe_path, "strict": config.strict}
        | ({"from_documents": config.from_documents} if config.from_documents else {}),
        "code_version": code,
        "tokenizer": tokenizer.manifest_record()
        | ({"quality": tokenizer_report(tokenizer_quality, tokenizer.vocab_size)} if tokenizer_quality else {}),
        "sources": sources,
        "shards": shards,
        "funnel": funnel,
        "tallies": tally,
        "decontamination": decontamination_report(recipe.decontaminate, tally, eval_sets),
        "dedup": dedup_figures(recipe.dedup, drops, groups),
        "validation": validation_split(sources, held_out),
        "stats": corpus_stats(shards, sources, sum(n for _, _, n in errors), recipe.shard_tokens,
                              words.get(ALL_SOURCES)) | {"words_sample": recipe.stats_sample}
        | ({"shard_cuts": shard_cuts(shard_plans)} if shard_plans else {}),
        "megatron": megatron_args(shards, tokenizer.dtype, held_out),
    }
    if recipe.phases:
        manifest["phases"] = phase_sections([dataclasses.asdict(p) for p in recipe.phases], phase_plans or {},
                                            phase_rows, shards, {name: by_split[name] for name in phase_names})
    files = {f["path"]: dict(f) for f in published}
    if DEAD_LETTER_FILE in files:
        manifest["dead_letters"] = files[DEAD_LETTER_FILE]
    classifiers = classifier_records(files, config.output)
    if classifiers:
        manifest["classifiers"] = classifiers
    index = dedup_index_record(files, config.output)
    if index:
        manifest["dedup_index"] = index
    if config.prior_indexes:
        manifest["dedup"]["against"] = [{k: index[k] for k in ("path", "sha256", "documents")}
                                        for index in config.prior_indexes]
        prior = Counter()
        for _, reason, n in drops:
            if reason.startswith("dedup/") and reason.endswith("_prior"):
                prior[reason.split("/", 1)[1]] += n
        manifest["dedup"]["removed_as_prior"] = {m: prior[m] for m in ("exact_prior", "url_prior", "near_prior")}
    if recipe.rejects:
        manifest["rejects"] = {"path": f"{REJECTS_DIR}/", "records": sum(rejects),
                               "files": [f for path, f in sorted(files.items()) if path.startswith(f"{REJECTS_DIR}/")]}
    return manifest


def rehydration_report(spec, rehydrated) -> dict:
    """A rehydrating source's table, and per multiplier its training documents, their tokens,
    their tokens in the stream (times their copies) and that share of the source's stream."""
    rows = [r for r in rehydrated if r[0] == spec.name]
    stream = sum(r[4] for r in rows) or 1
    return {"table": [list(pair) for pair in spec.rehydrate],
            "by_multiplier": {f"{multiplier:g}": {"documents": docs, "tokens": tokens, "stream_tokens": copies,
                                                  "stream_share": round(copies / stream, 4)}
                              for _, multiplier, docs, tokens, copies in sorted(rows, key=lambda r: r[1])}}


def dedup_index_record(files: dict, output: str) -> dict:
    """The build's dedup index (published from the clean job's folder): its parameters,
    document count and bytes, and every file's record; {} when it wrote none."""
    from apache_beam.io.filesystems import FileSystems
    listing = files.get(f"{INDEX_DIR}/{INDEX_FILE}")
    if listing is None:
        return {}
    with FileSystems.open(f"{output}/{listing['path']}") as f:
        info = json.loads(f.read())
    return {"path": f"{INDEX_DIR}/", **{k: v for k, v in info.items() if k != "files"},
            "bytes_per_document": round(info["bytes"] / max(info["documents"], 1), 1),
            "files": [{k: record[k] for k in ("path", "bytes", "sha256")}
                      for path, record in sorted(files.items()) if path.startswith(f"{INDEX_DIR}/")]}


def classifier_records(files: dict, output: str) -> dict:
    """The quality classifiers the build trained (published from the clean job's folder):
    per kind, the model file's record and what it was trained on, with its thresholds."""
    from apache_beam.io.filesystems import FileSystems
    out = {}
    for path, record in sorted(files.items()):
        if path.startswith(f"{CLASSIFIERS_DIR}/") and path.endswith(".json"):
            kind = path[len(CLASSIFIERS_DIR) + 1:-len(".json")]
            with FileSystems.open(f"{output}/{path}") as f:
                info = json.loads(f.read())
            model = files[f"{CLASSIFIERS_DIR}/{kind}.bin"]
            out[kind] = {**info, "model": {k: model[k] for k in ("path", "bytes", "sha256")},
                         "info": {k: record[k] for k in ("path", "bytes", "sha256")}}
    return out


def shard_cuts(shard_plans: dict) -> dict:
    """Where each split's shards begin, as key bins (rules/epochs.ShardPlan): with these,
    anyone can place a copy from its key without reading the shards."""
    from pipeline.rules.epochs import KEY_BINS
    return {"key_bins": KEY_BINS, **{split: list(plan.cuts) for split, plan in sorted(shard_plans.items())}}


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
    def __init__(self, config, code: dict, published=(), *, tokenizer, tokenizer_quality, shard_plans,
                 phase_plans, **lists):
        """`lists`: reads, drops, errors, documents, entropy, groups, tallies, rejects PCollections."""
        super().__init__()
        self.config, self.code, self.published = config, code, list(published)
        self.sides = dict(tokenizer=beam.pvalue.AsSingleton(tokenizer),
                          tokenizer_quality=beam.pvalue.AsSingleton(tokenizer_quality),
                          shard_plans=beam.pvalue.AsSingleton(shard_plans),
                          phase_plans=beam.pvalue.AsSingleton(phase_plans),
                          **{name: beam.pvalue.AsList(pcoll) for name, pcoll in lists.items()})

    def expand(self, shards):
        config, code, published = self.config, self.code, self.published

        def write(_, shards, **sides):
            if not any(split == TRAIN for split, _ in shards):
                return None   # no training stream, no corpus: the driver says so (pipeline/build.py)
            manifest = assemble_manifest(config, shards, code=code, published=published, **sides)
            return write_manifest(config.output, manifest)

        written = (shards.pipeline
                   | "CreateTrigger" >> beam.Create([None])
                   | "WriteJson" >> beam.Map(write, shards=beam.pvalue.AsList(shards), **self.sides))
        return faults.after(written, "WriteManifest")
