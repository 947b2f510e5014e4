"""`manifests verify`: re-check a corpus on disk against its manifest.

Checks the schema, the funnel's balance, the tokenizer's hash, and for every
shard of both splits: its files present (.bin, .idx, datatrove's .bin.index and
the lineage parquet when recorded), sizes and sha256 as recorded, the .idx
parses as MMIDIDX, its lengths and pointers agree with the .bin, its document
count and token count match the manifest, the lineage map's offsets and lengths
agree with the .idx, and every document ends with EOS. Then the totals: the
training shards add up to the stream, the validation shards to the split.
"""
from __future__ import annotations

import hashlib

import numpy as np

from loader.indexed_dataset import IndexedShard
from manifests.build import funnel_problems
from manifests.io import read_manifest, validation_errors


def sha256_of(path: str) -> tuple[str, int]:
    from apache_beam.io.filesystems import FileSystems
    digest, size = hashlib.sha256(), 0
    with FileSystems.open(path) as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_shard(output: str, shard: dict, dtype: str, eos_id: int) -> list[str]:
    from apache_beam.io.filesystems import FileSystems
    problems = []
    for rec in (shard, shard["idx"], *(shard[k] for k in ("ds_index", "lineage") if k in shard)):
        path = f"{output}/{rec['path']}"
        if not FileSystems.exists(path):
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
        with FileSystems.open(f"{output}/{shard['ds_index']['path']}") as f:
            ends = np.frombuffer(f.read(), dtype="<u8")
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
    held_out = manifest.get("validation", {"shards": []})
    for shard in [*manifest["shards"], *held_out["shards"]]:
        problems += check_shard(output, shard, tok["dtype"], tok["eos_id"])
    total = sum(s["tokens"] for s in manifest["shards"])
    if total != manifest["stats"]["stream_tokens"]:
        problems.append(f"shards hold {total} tokens, stats say {manifest['stats']['stream_tokens']}")
    held = sum(s["tokens"] for s in held_out["shards"])
    if "tokens" in held_out and held != held_out["tokens"]:
        problems.append(f"validation shards hold {held} tokens, the manifest says {held_out['tokens']}")
    return problems


def lineage_agrees(path: str, lengths: np.ndarray) -> bool:
    from manifests.lineage import read_lineage
    table = read_lineage(path, ["position", "token_offset", "tokens"])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return (np.array_equal(table.column("position").to_numpy(), np.arange(len(lengths)))
            and np.array_equal(table.column("token_offset").to_numpy(), offsets)
            and np.array_equal(table.column("tokens").to_numpy(), lengths))
