"""Assembling manifest.json from the pipeline's small per-stage figures (pure).

The funnel is built from elements the stages emitted (not from Beam counters,
which some runners report inexactly), and must balance for every source:
read = kept + sum(dropped) + sum(errors). An unbalanced funnel is a bug in the
pipeline, so building the manifest refuses it.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import pathlib
from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping

import numpy as np

SCHEMA_VERSION = 1
PACKAGES = ("pipeline", "sources", "tokenizer", "manifests", "loader")


class UnbalancedFunnel(AssertionError):
    pass


def code_version() -> dict:
    """Package version plus a hash of every module's source: changes with the code, not the clock."""
    root = pathlib.Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    try:
        version = importlib.metadata.version("corpusmill")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"package": version, "source_sha256": digest.hexdigest()}


def build_funnel(source_names: Iterable[str], read: Iterable[tuple[str, int]],
                 dropped: Iterable[tuple[str, str, int]], errors: Iterable[tuple[str, str, int]],
                 kept: Mapping[str, int]) -> dict:
    funnel = {name: {"read": 0, "kept": int(kept.get(name, 0)), "dropped": {}, "errors": {}}
              for name in sorted(source_names)}
    for name, n in read:
        funnel[name]["read"] += int(n)
    for key, rows in (("dropped", dropped), ("errors", errors)):
        for name, reason, n in rows:
            bucket = funnel[name][key]
            bucket[reason] = bucket.get(reason, 0) + int(n)
    for entry in funnel.values():
        entry["dropped"] = dict(sorted(entry["dropped"].items()))
        entry["errors"] = dict(sorted(entry["errors"].items()))
    return funnel


def funnel_problems(funnel: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, f in funnel.items():
        out = f["kept"] + sum(f["dropped"].values()) + sum(f["errors"].values())
        if out != f["read"]:
            problems.append(f"{name}: read {f['read']} != kept {f['kept']} + dropped "
                            f"{sum(f['dropped'].values())} + errors {sum(f['errors'].values())}")
    return problems


def source_totals(sources: Mapping[str, Mapping[str, Any]], docs_tokens: Iterable[tuple[str, int, int]],
                  shards: list[Mapping[str, Any]]) -> dict:
    """Per source: documents and tokens (one copy each), tokens in the stream, share of it."""
    unique = {name: [0, 0] for name in sources}
    for name, docs, tokens in docs_tokens:
        unique[name][0] += docs
        unique[name][1] += tokens
    stream = Counter()
    for shard in shards:
        stream.update(shard["tokens_by_source"])
    total = sum(stream.values()) or 1
    return {name: {"kind": spec["kind"], "epochs": spec["epochs"], "documents": unique[name][0],
                   "tokens": unique[name][1], "stream_tokens": stream[name],
                   "share": round(stream[name] / total, 6)}
            for name, spec in sorted(sources.items())}


def tally_table(source_names: Iterable[str], tallies: Iterable[tuple[str, str, int]]) -> dict:
    """(source, "stage/what", n) rows -> {source: {"stage/what": total}}, every source listed."""
    table = {name: Counter() for name in sorted(source_names)}
    for name, what, n in tallies:
        table[name][what] += int(n)
    return {name: dict(sorted(c.items())) for name, c in table.items()}


def decontamination_report(spec, tallies: Mapping[str, Mapping[str, int]], index_report: Mapping[str, dict]) -> dict:
    """Per evaluation set: its size, and the documents that matched it, per source."""
    if spec is None:
        return {"enabled": False}
    sets = {}
    for name, figures in sorted(index_report.items()):
        by_source = {src: t[f"decontaminate/match/{name}"] for src, t in tallies.items()
                     if t.get(f"decontaminate/match/{name}")}
        sets[name] = {**figures, "documents_matched": sum(by_source.values()), "matched_by_source": by_source}
    return {"enabled": True, "ngram": spec.ngram, "mode": spec.mode, "sets": sets}


DEDUP_METHODS = {
    "exact": {"key": "blake2b-128 of the normalised text", "survivor": "longest text, then smallest id"},
    "url": {"key": "normalised URL (host lower-cased, www., default port, fragment and tracking parameters "
                   "dropped, query sorted)", "survivor": "newest capture, then longest text, then smallest id"},
    "near": {"key": "MinHash LSH band digests of word n-gram shingles (datatrove's simplify_text)",
             "survivor": "longest text, then smallest id",
             "semantics": "keep if best in every bucket: a document is removed when a better-ranked document "
                          "sharing one of its buckets is verified similar (b-bit sketches, min_similarity); no "
                          "iteration, no machine holds all pairs, and it removes a subset of what connected "
                          "components would",
             "groups": "each removed document counted with the best document that beat it"},
}


def dedup_figures(spec, drops: Iterable[tuple[str, str, int]], groups: Iterable[tuple[str, int]]) -> dict:
    """Per method: whether it ran, its parameters, documents removed per source, group sizes."""
    removed = defaultdict(lambda: defaultdict(int))
    for name, reason, n in drops:
        if reason.startswith("dedup/"):
            removed[reason.split("/", 1)[1]][name] += n
    sizes = defaultdict(Counter)
    for method, size in groups:
        sizes[method][size] += 1
    enabled = {"exact": spec.exact, "url": spec.url, "near": spec.near is not None}
    out = {"scope": spec.scope}
    for method, about in DEDUP_METHODS.items():
        by_source = dict(sorted(removed[method].items()))
        out[method] = {"enabled": enabled[method], **about, "removed": sum(by_source.values()),
                       "removed_by_source": by_source, "groups": sum(sizes[method].values()),
                       "group_sizes": {str(k): v for k, v in sorted(sizes[method].items())}}
    if spec.near is not None:
        p = spec.near
        out["near"]["params"] = {"ngram": p.ngram, "bands": p.bands, "rows": p.rows, "seed": p.seed,
                                 "min_similarity": p.min_similarity,
                                 "threshold_50pct": round(p.threshold(), 4),
                                 "hash": "64-bit; h -> a*h + b mod 2**64, a odd"}
    return out


def corpus_stats(shards: list[Mapping[str, Any]], sources: Mapping[str, Any], dead_letters: int,
                 target: int | None = None) -> dict:
    """Totals, and the shard sizes against the recipe's target: min, mean, max and the
    largest relative deviation of any shard from the target."""
    tokens = [s["tokens"] for s in shards]
    sizes = {"min": min(tokens, default=0), "max": max(tokens, default=0),
             "mean": round(sum(tokens) / max(len(tokens), 1), 1)}
    if target:
        sizes |= {"target": target, "max_deviation": round(max((abs(t - target) / target for t in tokens),
                                                                default=0.0), 4)}
    by_kind = Counter()
    for spec in sources.values():
        by_kind[spec["kind"]] += spec["stream_tokens"]
    return {"documents": sum(s["documents"] for s in sources.values()),
            "tokens": sum(s["tokens"] for s in sources.values()),
            "stream_documents": sum(s["documents"] for s in shards),
            "stream_tokens": sum(tokens),
            "stream_tokens_by_kind": dict(sorted(by_kind.items())),
            "shards": len(shards),
            "shard_tokens": sizes,
            "dead_letters": dead_letters}


def megatron_args(shards: list[Mapping[str, Any]], dtype: str) -> dict:
    """What Megatron-LM needs to read the shards where they lie, paths relative to the
    corpus directory: a `--data-path` blend (each shard weighted by its tokens, so the
    blend keeps the stream's mixture), the JSON for `--per-dataset-sequences-path`
    (prefix -> [sequences, document index entries], which spares Megatron reading every
    .idx header at start-up) and the shards' token dtype code (Megatron derives its own
    from the tokenizer's vocabulary size when it skips the headers)."""
    from loader.indexed_dataset import CODE_OF
    ordered = sorted(shards, key=lambda s: s["index"])
    prefixes = [s["path"].removesuffix(".bin") for s in ordered]
    return {"data_path": [str(x) for s, prefix in zip(ordered, prefixes) for x in (s["tokens"], prefix)],
            "sequences_per_dataset": {prefix: [s["documents"], s["documents"] + 1]
                                      for s, prefix in zip(ordered, prefixes)},
            "token_dtype_code": CODE_OF[np.dtype(dtype)]}
