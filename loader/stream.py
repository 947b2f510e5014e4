"""TokenStream: a corpus's shards as one token stream, opened from its manifest.

Shard index order is training order (DESIGN.md's epoch rule), so the stream is
the shards' tokens back to back. Opening reads only the manifest: each shard's
token count is there, so where a shard starts in the stream is a prefix sum over
shards, never a pass over documents. A shard's .bin and .idx are memory-mapped
the first time a read touches it, with an optional sha256 check then (not at
start-up). Document starts come straight from the .idx's byte pointers, so
finding the documents inside a window is a binary search, with nothing built.

Remote corpora (s3://, gs://, https://, any fsspec URL) are read through
fsspec's file cache: each shard file is copied to `cache_dir` when first
touched and memory-mapped from there.
"""
from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np

from manifests.files import is_remote, local_path
from manifests.io import corpus_root, phase_shards, read_manifest
from manifests.shard_format import IndexedShard, stream_sha256


@dataclass
class TokenStream:
    """The stream of one split ("train": the shards in order; "validation": its own) or of
    one training phase by name (the first phase is "train"'s stream; a continuation phase,
    manifests/phases.py, has shards of its own)."""
    root: str
    manifest: dict
    split: str = "train"
    cache_dir: str | None = None
    verify: bool = False
    _open: dict = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str, split: str = "train", cache_dir: str | None = None, verify: bool = False):
        """`path`: the corpus directory (or its manifest.json), local or an fsspec URL."""
        root = corpus_root(path)
        root = root if is_remote(root) else local_path(root)
        return cls(root, read_manifest(root), split, cache_dir, verify)

    def __post_init__(self):
        self.shards = sorted(phase_shards(self.manifest, self.split), key=lambda r: r["index"])
        sizes = np.array([r["tokens"] for r in self.shards], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])   # shard i spans offsets[i]:offsets[i+1]
        self.eos_id = int(self.manifest["tokenizer"]["eos_id"])
        self.dtype = np.dtype(self.manifest["tokenizer"]["dtype"])
        self.fingerprint = hashlib.sha256(json.dumps(
            [self.split, [r["sha256"] for r in self.shards]]).encode()).hexdigest()

    @property
    def phase(self) -> str | None:
        """The training phase this stream is: the first phase's name for "train" ("pretrain"
        when the corpus names no phases), a continuation phase's name; None for validation."""
        phases = self.manifest.get("phases", [])
        if self.split == "train":
            return phases[0]["name"] if phases else "pretrain"
        return None if self.split == "validation" else self.split

    def phase_seq_len(self) -> int | None:
        """The context length the recipe gives this phase, if it names phases."""
        return next((p["seq_len"] for p in self.manifest.get("phases", []) if p["name"] == self.phase), None)

    @property
    def total_tokens(self) -> int:
        return int(self.offsets[-1])

    def _local(self, relpath: str) -> str:
        if not is_remote(self.root):
            return f"{self.root}/{relpath}"
        import fsspec
        cache = {"cache_storage": self.cache_dir} if self.cache_dir else {}
        return fsspec.open_local(f"filecache::{self.root}/{relpath}", filecache=cache)

    def shard(self, i: int) -> IndexedShard:
        """Shard i, memory-mapped on first use."""
        if i not in self._open:
            record = self.shards[i]
            prefix = record["path"].removesuffix(".bin")
            paths = {ext: self._local(f"{prefix}.{ext}") for ext in ("bin", "idx")}
            if self.verify:
                for ext, rec in (("bin", record), ("idx", record["idx"])):
                    with open(paths[ext], "rb") as f:
                        digest, _ = stream_sha256(f)
                    if digest != rec["sha256"]:
                        raise ValueError(f"{rec['path']}: sha256 does not match the manifest")
            shard = IndexedShard(prefix, bin_path=paths["bin"], idx_path=paths["idx"])
            self._open[i] = shard
        return self._open[i]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Tokens [start, stop) of the stream, across shard boundaries."""
        stop = min(stop, self.total_tokens)
        parts = []
        i = int(np.searchsorted(self.offsets, start, side="right")) - 1
        while start < stop:
            shard = self.shard(i)
            lo, hi = start - self.offsets[i], min(stop, self.offsets[i + 1]) - self.offsets[i]
            parts.append(shard.tokens[lo:hi])
            start = int(self.offsets[i + 1])
            i += 1
        if not parts:
            return np.zeros(0, self.dtype)
        return np.concatenate(parts) if len(parts) > 1 else np.asarray(parts[0])

    def document_starts(self, start: int, stop: int) -> np.ndarray:
        """Stream offsets in [start, stop) where a document begins: a binary search in the
        memory-mapped .idx byte pointers, touching only the pages it reads."""
        stop = min(stop, self.total_tokens)
        out = []
        i = int(np.searchsorted(self.offsets, start, side="right")) - 1
        while start < stop:
            shard = self.shard(i)
            base, size = int(self.offsets[i]), shard.dtype.itemsize
            # bisect, not np.searchsorted: the .idx puts the int64 pointers after 34 + 4n bytes,
            # unaligned for odd n, and NumPy then copies the whole array before searching
            # (0.2 s a call at 1e8 documents); bisect reads ~log2(n) entries in place
            lo = bisect_left(shard.pointers, (start - base) * size)
            hi = bisect_left(shard.pointers, (min(stop, self.offsets[i + 1]) - base) * size, lo)
            out.append(shard.pointers[lo:hi] // size + base)
            start = int(self.offsets[i + 1])
            i += 1
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)

