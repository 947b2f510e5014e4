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

SCHEMA_VERSION = 5   # manifests/schemas/manifest-v5.json
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


def source_totals(sources: Mapping[str, Mapping[str, Any]], documents: Iterable[tuple],
                  shards: list[Mapping[str, Any]], words: Mapping[str, dict] | None = None) -> dict:
    """Per source: documents, tokens and bytes (one copy each, both splits), per language
    and in the validation split; tokens in the training stream and its share of it; the
    word statistics when measured. `documents` rows: (source, split, language, documents,
    tokens, bytes)."""
    totals = {name: Counter() for name in sources}
    languages = {name: defaultdict(Counter) for name in sources}
    for name, split, language, docs, tokens, n_bytes in documents:
        totals[name].update({"documents": docs, "tokens": tokens, "bytes": n_bytes})
        languages[name][language].update({"documents": docs, "tokens": tokens})
        if split != "train":
            totals[name].update({"validation_documents": docs, "validation_tokens": tokens})
    stream = Counter()
    for shard in shards:
        stream.update(shard["tokens_by_source"])
    total = sum(stream.values()) or 1
    out = {}
    for name, spec in sorted(sources.items()):
        t = totals[name]
        out[name] = {"kind": spec["kind"], "epochs": spec["epochs"], "documents": t["documents"],
                     "tokens": t["tokens"], "bytes": t["bytes"],
                     "bytes_per_token": bytes_per_token(t["bytes"], t["tokens"], t["documents"]),
                     "stream_tokens": stream[name], "share": round(stream[name] / total, 6),
                     "validation": {"fraction": spec.get("validation", 0.0), "documents": t["validation_documents"],
                                    "tokens": t["validation_tokens"]},
                     "languages": {lang: dict(sorted(c.items())) for lang, c in sorted(languages[name].items())}}
        if words and name in words:
            out[name]["words"] = words[name]
    return out


def bytes_per_token(n_bytes: int, tokens: int, documents: int) -> float | None:
    """UTF-8 bytes per token, the EOS ending each document not counted."""
    return round(n_bytes / (tokens - documents), 4) if tokens > documents else None


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
    "paragraphs": {"key": "blake2b-64 of each line or paragraph, normalised as CCNet (lower-case, no accents, "
                          "digits 0, no punctuation)",
                   "survivor": "the first document by id keeps a paragraph found in min_documents or more; the "
                               "others lose it, and a document left under min_chars is removed"},
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


def dedup_figures(spec, drops: Iterable[tuple[str, str, int]], groups: Iterable[tuple[str, int, int]]) -> dict:
    """Per method: whether it ran, its parameters, documents removed per source, group sizes
    (`groups`: method, size, number of groups of that size)."""
    removed = defaultdict(lambda: defaultdict(int))
    for name, reason, n in drops:
        if reason.startswith("dedup/"):
            removed[reason.split("/", 1)[1]][name] += n
    sizes = defaultdict(Counter)
    for method, size, n in groups:
        sizes[method][size] += n
    enabled = {"exact": spec.exact, "url": spec.url, "near": spec.near is not None,
               "paragraphs": getattr(spec, "paragraphs", None) is not None}
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
                 target: int | None = None, words: Mapping[str, Any] | None = None) -> dict:
    """Totals; the training shards' sizes against the recipe's target (min, mean, max and
    the largest relative deviation of any shard from it); bytes per token; documents and
    tokens per language; bits per word over all sources."""
    tokens = [s["tokens"] for s in shards]
    sizes = {"min": min(tokens, default=0), "max": max(tokens, default=0),
             "mean": round(sum(tokens) / max(len(tokens), 1), 1)}
    if target:
        sizes |= {"target": target, "max_deviation": round(max((abs(t - target) / target for t in tokens),
                                                                default=0.0), 4)}
    by_kind, languages = Counter(), defaultdict(Counter)
    for spec in sources.values():
        by_kind[spec["kind"]] += spec["stream_tokens"]
        for lang, figures in spec["languages"].items():
            languages[lang].update(figures)
    total = {key: sum(s[key] for s in sources.values()) for key in ("documents", "tokens", "bytes")}
    return {**total,
            "bytes_per_token": bytes_per_token(total["bytes"], total["tokens"], total["documents"]),
            "languages": {lang: dict(sorted(c.items())) for lang, c in sorted(languages.items())},
            **({"words": words} if words else {}),
            "stream_documents": sum(s["documents"] for s in shards),
            "stream_tokens": sum(tokens),
            "stream_tokens_by_kind": dict(sorted(by_kind.items())),
            "shards": len(shards),
            "shard_tokens": sizes,
            "dead_letters": dead_letters}


def validation_split(sources: Mapping[str, Any], shards: list[Mapping[str, Any]]) -> dict:
    """The held-out split: its share per source, its size, and its shards (written once)."""
    return {"fractions": {name: s["validation"]["fraction"] for name, s in sources.items()},
            "documents": sum(s["validation"]["documents"] for s in sources.values()),
            "tokens": sum(s["validation"]["tokens"] for s in sources.values()),
            "shards": shards}


def megatron_args(shards: list[Mapping[str, Any]], dtype: str, validation: list[Mapping[str, Any]] = ()) -> dict:
    """What Megatron-LM needs to read the shards where they lie, paths relative to the
    corpus directory: a `--data-path` blend (each shard weighted by its tokens, so the
    blend keeps the stream's mixture), the JSON for `--per-dataset-sequences-path`
    (prefix -> [sequences, document index entries], which spares Megatron reading every
    .idx header at start-up), the validation shards' blend for `--valid-data-path` (with
    `--train-data-path` for the training blend), and the shards' token dtype code (Megatron derives its own
    from the tokenizer's vocabulary size when it skips the headers)."""
    from manifests.shard_format import CODE_OF

    def blend(records):
        return [str(x) for s in sorted(records, key=lambda s: s["index"])
                for x in (s["tokens"], s["path"].removesuffix(".bin"))]

    return {"data_path": blend(shards),
            **({"valid_data_path": blend(validation)} if validation else {}),
            "sequences_per_dataset": {s["path"].removesuffix(".bin"): [s["documents"], s["documents"] + 1]
                                      for s in [*shards, *validation]},
            "token_dtype_code": CODE_OF[np.dtype(dtype)]}


def phase_sections(specs: list[Mapping[str, Any]], plans: Mapping[str, dict], rows: Iterable[tuple],
                   pretrain_shards: list[Mapping[str, Any]], phase_shards: Mapping[str, list]) -> list[dict]:
    """The manifest's `phases` (manifests/phases.py): `specs` the recipe's phases (name,
    seq_len, and for continuation phases tokens, long_min_tokens, long_share, max_copies);
    `plans` PlanPhases' records; `rows` CountPhases' (phase, source, class, copies, length
    bucket, repository, documents, tokens, stream tokens); shards per phase."""
    from manifests.phases import PHASE_BINS, length_buckets
    rows = list(rows)

    def lengths(phase: str) -> dict:
        out = dict.fromkeys(length_buckets(), 0)
        for r in rows:
            if r[0] == phase:
                out[r[4]] += r[8]
        return out

    def shares(shards) -> tuple[Counter, int]:
        by = Counter()
        for shard in shards:
            by.update(shard["tokens_by_source"])
        return by, sum(by.values())

    first = specs[0]
    stream, total = shares(pretrain_shards)
    pretrain_sources = {}
    for name in sorted(stream):
        pretrain_sources[name] = {"tokens": stream[name], "share": round(stream[name] / (total or 1), 6)}
        repo = [r for r in rows if r[0] == first["name"] and r[1] == name and r[5]]
        if repo:
            pretrain_sources[name]["repository"] = {"documents": sum(r[6] for r in repo),
                                                    "tokens": sum(r[7] for r in repo)}
    out = [{"name": first["name"], "seq_len": first["seq_len"], "tokens": total,
            "documents": sum(s["documents"] for s in pretrain_shards), "sources": pretrain_sources,
            "lengths": lengths(first["name"])}]
    for spec in specs[1:]:
        name = spec["name"]
        shards = sorted(phase_shards.get(name, []), key=lambda r: r["index"])
        tokens, phase_total = shares(shards)
        sources = {}
        for source in sorted(plans[name]["plan"]):
            mine = [r for r in rows if r[0] == name and r[1] == source]
            if not mine:
                continue
            classes = {cls: {"documents": sum(r[6] for r in mine if r[2] == cls),
                             "unique_tokens": sum(r[7] for r in mine if r[2] == cls),
                             "tokens": sum(r[8] for r in mine if r[2] == cls)} for cls in ("long", "short")}
            copies = Counter()
            for r in mine:
                copies[str(r[3])] += r[6]
            sources[source] = {"tokens": tokens[source], "share": round(tokens[source] / (phase_total or 1), 6),
                               "pretrain_share": round(stream[source] / (total or 1), 6), **classes,
                               "copies": dict(sorted(copies.items(), key=lambda kv: int(kv[0]))),
                               "repository": any(r[5] for r in mine)}
        out.append({"name": name, "seq_len": spec["seq_len"], "target_tokens": spec["tokens"],
                    "long_min_tokens": spec["long_min_tokens"], "long_share": spec["long_share"],
                    "max_copies": spec["max_copies"], "tokens": phase_total,
                    "documents": sum(s["documents"] for s in shards), "shards": shards,
                    "plan": plans[name]["plan"], "phase_bins": PHASE_BINS, "sources": sources,
                    "lengths": lengths(name)})
    return out
