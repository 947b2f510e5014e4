"""`manifests verify`: re-check a corpus on disk against its manifest.

Checks the schema, the funnel's balance, the tokenizer's hash, and for every
shard of both splits: its files present (.bin, .idx, datatrove's .bin.index and
the lineage parquet when recorded), sizes and sha256 as recorded, the .idx
parses as MMIDIDX, its lengths and pointers agree with the .bin, its document
count and token count match the manifest, the lineage map's offsets and lengths
agree with the .idx, and every document ends with EOS. Then the totals: the
training shards add up to the stream, the validation shards to the split. Then
the epochs against the recipe, from the lineage maps: every whole epoch of a
source holds each of its training documents once (its documents and tokens
exactly), a fractional last epoch at most that, no epoch beyond; each document
sits in the split its id's hash assigns; per-shard token counts per source match.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

from manifests.build import funnel_problems
from manifests.files import exists, open_file, read_bytes
from manifests.io import read_manifest, split_shards, validation_errors
from manifests.lineage import read_lineage
from manifests.shard_format import IndexedShard, stream_sha256
from manifests.splits import TRAIN, VALIDATION, in_validation


def sha256_of(path: str) -> tuple[str, int]:
    with open_file(path) as f:
        return stream_sha256(f)


def check_shard(output: str, shard: dict, dtype: str, eos_id: int) -> list[str]:
    problems = []
    for rec in (shard, shard["idx"], *(shard[k] for k in ("ds_index", "lineage") if k in shard)):
        path = f"{output}/{rec['path']}"
        if not exists(path):
            return [f"{rec['path']}: missing"]
        digest, size = sha256_of(path)
        if size != rec["bytes"]:
            problems.append(f"{rec['path']}: {size} bytes, manifest says {rec['bytes']}")
        if digest != rec["sha256"]:
            problems.append(f"{rec['path']}: sha256 mismatch")
    if problems:
        return problems
    try:
        idx = IndexedShard(f"{output}/{shard['path'][:-4]}")
    except (ValueError, KeyError, OSError) as exc:
        return [f"{shard['idx']['path']}: unreadable index: {exc}"]
    name = shard["path"]
    lengths = idx.lengths.astype(np.int64)
    expected_pointers = np.concatenate([[0], np.cumsum(lengths)[:-1]]) * idx.dtype.itemsize
    checks = [
        (idx.dtype.name == dtype, f"{name}: dtype {idx.dtype.name}, tokenizer says {dtype}"),
        (idx.index_bytes_used == idx.index_bytes_total, f"{name}: index has trailing bytes"),
        (len(idx) == shard["documents"], f"{name}: {len(idx)} documents in index, manifest says {shard['documents']}"),
        (int(lengths.sum()) == shard["tokens"], f"{name}: index sums to {int(lengths.sum())} tokens, manifest says {shard['tokens']}"),
        (int(lengths.sum()) * idx.dtype.itemsize == shard["bytes"], f"{name}: index and .bin sizes disagree"),
        (np.array_equal(idx.pointers, expected_pointers), f"{name}: pointers are not contiguous"),
        (np.array_equal(idx.document_index, np.arange(len(idx) + 1)), f"{name}: unexpected document index"),
        (bool((lengths > 0).all()), f"{name}: empty document"),
    ]
    if "ds_index" in shard:
        ends = np.frombuffer(read_bytes(f"{output}/{shard['ds_index']['path']}"), dtype="<u8")
        checks.append((np.array_equal(ends, np.cumsum(lengths)), f"{shard['ds_index']['path']}: document ends "
                                                                  f"disagree with {shard['idx']['path']}"))
    if "lineage" in shard:
        checks.append((lineage_agrees(f"{output}/{shard['lineage']['path']}", lengths),
                       f"{shard['lineage']['path']}: offsets or lengths disagree with {shard['idx']['path']}"))
    problems = [msg for ok, msg in checks if not ok]
    if not problems and len(idx):
        ends = idx.tokens[(idx.pointers // idx.dtype.itemsize) + lengths - 1]
        if not bool((ends == eos_id).all()):
            problems.append(f"{name}: {int((ends != eos_id).sum())} documents do not end with EOS")
    return problems


def verify(output: str) -> list[str]:
    """All problems found; an empty list means the corpus is intact."""
    output = output.rstrip("/")
    manifest = read_manifest(output)
    problems = validation_errors(manifest)
    if problems:   # the checks below read the manifest's structure: trust it only once valid
        return problems + ["manifest.json does not match its schema: files not checked"]
    problems = funnel_problems(manifest["funnel"])
    tok = manifest["tokenizer"]
    digest, _ = sha256_of(f"{output}/{tok['path']}")
    if digest != tok["sha256"]:
        problems.append(f"{tok['path']}: sha256 mismatch")
    shards = split_shards(manifest)
    for _, shard in shards:
        problems += check_shard(output, shard, tok["dtype"], tok["eos_id"])
    total = sum(s["tokens"] for s in manifest["shards"])
    if total != manifest["stats"]["stream_tokens"]:
        problems.append(f"shards hold {total} tokens, stats say {manifest['stats']['stream_tokens']}")
    held_out = manifest.get("validation", {})
    held = sum(s["tokens"] for split, s in shards if split == "validation")
    if "tokens" in held_out and held != held_out["tokens"]:
        problems.append(f"validation shards hold {held} tokens, the manifest says {held_out['tokens']}")
    if not problems and all("lineage" in s for _, s in shards):
        problems += epoch_problems(output, manifest)
    return problems


def epoch_problems(output: str, manifest: dict) -> list[str]:
    """The stream's epochs and splits against the recipe, one lineage map at a time."""
    sources = manifest["sources"]
    fractions = manifest["validation"]["fractions"]
    seen = {split: {name: defaultdict(lambda: [0, 0]) for name in sources} for split in (TRAIN, VALIDATION)}
    problems = []
    for split, shard in split_shards(manifest):
        table = read_lineage(f"{output}/{shard['lineage']['path']}", ["id", "source", "epoch", "tokens"])
        by_source = Counter()
        misplaced = 0
        for doc_id, source, epoch, tokens in zip(*(table.column(c).to_pylist() for c in table.column_names)):
            row = seen[split][source][epoch]
            row[0], row[1] = row[0] + 1, row[1] + tokens
            by_source[source] += tokens
            misplaced += (split == VALIDATION) != in_validation(doc_id, fractions.get(source, 0.0))
        if dict(by_source) != shard["tokens_by_source"]:
            problems.append(f"{shard['path']}: lineage tokens per source {dict(sorted(by_source.items()))} "
                            f"!= manifest {shard['tokens_by_source']}")
        if misplaced:
            problems.append(f"{shard['path']}: {misplaced} documents whose id hash puts them in the other split")
    for name, spec in sources.items():
        held = spec["validation"]
        trained = (spec["documents"] - held["documents"], spec["tokens"] - held["tokens"])
        epochs = spec["epochs"]
        for epoch, (docs, tokens) in sorted(seen[TRAIN][name].items()):
            whole = epoch < math.floor(epochs)
            if epoch >= math.ceil(epochs):
                problems.append(f"{name}: epoch {epoch} in the stream, the recipe gives {epochs:g} epochs")
            elif whole and (docs, tokens) != trained:
                problems.append(f"{name}: epoch {epoch} holds {docs} documents / {tokens} tokens, "
                                f"expected each training document once: {trained[0]} / {trained[1]}")
            elif not whole and (docs > trained[0] or tokens > trained[1]):
                problems.append(f"{name}: partial epoch {epoch} holds more than the source")
        missing = [e for e in range(math.floor(epochs)) if e not in seen[TRAIN][name] and trained[0]]
        if missing:
            problems.append(f"{name}: epochs {missing} missing from the stream")
        validation = tuple(map(sum, zip(*seen[VALIDATION][name].values()))) or (0, 0)
        if set(seen[VALIDATION][name]) - {0} or validation != (held["documents"], held["tokens"]):
            problems.append(f"{name}: validation shards hold {validation[0]} documents / {validation[1]} tokens, "
                            f"the manifest says {held['documents']} / {held['tokens']}, each once")
    return problems


def lineage_agrees(path: str, lengths: np.ndarray) -> bool:
    table = read_lineage(path, ["position", "token_offset", "tokens"])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return (np.array_equal(table.column("position").to_numpy(), np.arange(len(lengths)))
            and np.array_equal(table.column("token_offset").to_numpy(), offsets)
            and np.array_equal(table.column("tokens").to_numpy(), lengths))
