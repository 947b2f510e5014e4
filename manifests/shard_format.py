"""The token shard files: Megatron-LM's MMIDIDX pair, datatrove's `.bin.index`, their names.

This module owns the shard format: the pipeline writes through it, `verify` and
the loader read through it, and nothing here imports Beam.

Megatron-LM's indexed-dataset format (MMIDIDX version 1):

`<name>.bin` holds the tokens of every document back to back (little-endian,
uint16 when the vocabulary is under 65,500, else int32). `<name>.idx` is:

    b"MMIDIDX\\x00\\x00"                 9-byte magic
    <Q  version = 1
    <B  dtype code (Megatron's DType: 4 int32, 8 uint16, ...)
    <Q  sequence count S
    <Q  document-index count D (= documents + 1)
    int32[S]  sequence lengths in tokens
    int64[S]  sequence byte offsets into .bin
    int64[D]  document boundaries as sequence indices: 0, 1, ..., S

We write one sequence per document, so the document index is 0..S. Megatron,
NeMo and our loader all read this without conversion. Beside them,
`<name>.bin.index` is datatrove's index of the same `.bin` (each document's end
as a uint64 token offset), so DatatroveFolderDataset reads our shards in place.
Shards are named `shard-00000` in the training stream and `validation-00000`
in the held-out split (manifests/splits.py).
"""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np

from manifests.splits import TRAIN

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64,
               6: np.float64, 7: np.float32, 8: np.uint16}
CODE_OF = {np.dtype(v): k for k, v in DTYPE_CODES.items()}


def stream_sha256(f) -> tuple[str, int]:
    """sha256 hex digest and size of what a binary file object holds, read in 4 MB pieces:
    how `manifests verify` and the loader's lazy check both hash a shard's files."""
    digest, size = hashlib.sha256(), 0
    while chunk := f.read(1 << 22):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def token_dtype(vocab_size: int) -> np.dtype:
    """Megatron's best_fitting_dtype: uint16 below 65,500 tokens, else int32."""
    return np.dtype(np.uint16 if vocab_size < 65500 else np.int32)


# .bin tokens, .idx Megatron's index, .bin.index datatrove's: the same .bin read by both
EXTENSIONS = ("bin", "idx", "bin.index")


def shard_name(split: str, index: int) -> str:
    """`shard-00000` for the training stream, `validation-00000` for the held-out split."""
    return f"{'shard' if split == TRAIN else split}-{index:05d}"


def datatrove_index(lengths) -> bytes:
    """datatrove's .index for a token file: each document's end as a uint64 token offset,
    so DatatroveFolderDataset(folder, filename_pattern="shard-*.bin") reads our .bin files
    in place, with document positions (return_positions=True)."""
    return np.cumsum(np.asarray(lengths, dtype=np.uint64), dtype=np.uint64).astype("<u8").tobytes()


def encode_index(lengths: np.ndarray, dtype: np.dtype) -> bytes:
    lengths = np.asarray(lengths, dtype=np.int32)
    pointers = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1].astype(np.int64) * np.dtype(dtype).itemsize, out=pointers[1:])
    doc_index = np.arange(len(lengths) + 1, dtype=np.int64)
    header = MAGIC + struct.pack("<Q", VERSION) + struct.pack("<B", CODE_OF[np.dtype(dtype)]) \
        + struct.pack("<Q", len(lengths)) + struct.pack("<Q", len(doc_index))
    return header + lengths.tobytes() + pointers.tobytes() + doc_index.tobytes()


class IndexedShard:
    """A memory-mapped shard: `len(shard)` documents, `shard[i]` a token array."""

    def __init__(self, prefix: str | Path, bin_path: str | None = None, idx_path: str | None = None):
        """`prefix`.bin and `prefix`.idx, or the two paths given (a cache may name them apart)."""
        prefix = str(prefix)
        self.idx_path, self.bin_path = idx_path or prefix + ".idx", bin_path or prefix + ".bin"
        buf = np.memmap(self.idx_path, mode="r", dtype=np.uint8)
        if bytes(buf[:9]) != MAGIC:
            raise ValueError(f"{self.idx_path}: not an MMIDIDX index")
        version, = struct.unpack("<Q", bytes(buf[9:17]))
        if version != VERSION:
            raise ValueError(f"{self.idx_path}: index version {version}, expected {VERSION}")
        self.dtype = np.dtype(DTYPE_CODES[buf[17]])
        count, doc_count = struct.unpack("<QQ", bytes(buf[18:34]))
        offset = 34
        self.lengths = np.frombuffer(buf, np.int32, count, offset)
        offset += 4 * count
        self.pointers = np.frombuffer(buf, np.int64, count, offset)
        offset += 8 * count
        self.document_index = np.frombuffer(buf, np.int64, doc_count, offset)
        self.index_bytes_used = offset + 8 * doc_count
        self.index_bytes_total = len(buf)
        self.tokens = np.memmap(self.bin_path, mode="r", dtype=self.dtype) \
            if Path(self.bin_path).stat().st_size else np.zeros(0, self.dtype)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        start = self.pointers[i] // self.dtype.itemsize
        return self.tokens[start:start + self.lengths[i]]
