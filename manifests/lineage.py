"""Lineage: beside each shard, a parquet map of its documents, and `locate`.

`shard-00000.docs.parquet` has one row per document copy in the shard, in shard
order: its position, id, source, epoch, url (or path, for code), the token offset
where it starts in the .bin, its length in tokens (EOS included) and in UTF-8 bytes. When a training run
misbehaves at some step, the loader's state gives the shard and token offset, and
`python -m manifests locate OUT SHARD OFFSET` names the document there and prints
its text. The file is written in row groups as the shard is, so writing it holds
at most LINEAGE_ROWS rows, and reading one offset reads two columns.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from manifests.files import read_bytes
from manifests.io import read_manifest, split_shards
from manifests.shard_format import IndexedShard

LINEAGE_SUFFIX = ".docs.parquet"
LINEAGE_ROWS = 65536   # rows per row group, and all the writer buffers
LINEAGE_SCHEMA = pa.schema([("position", pa.int64()), ("id", pa.string()), ("source", pa.string()),
                            ("epoch", pa.int32()), ("url", pa.string()), ("token_offset", pa.int64()),
                            ("tokens", pa.int32()), ("bytes", pa.int64())])


class HashingSink:
    """A file-like sink that passes bytes on and keeps their sha256 and count, so a file
    is hashed as it is written rather than read back."""

    def __init__(self, f):
        self.f, self.sha256, self.bytes, self.closed = f, hashlib.sha256(), 0, False

    def write(self, data) -> int:
        data = bytes(data)
        self.f.write(data)
        self.sha256.update(data)
        self.bytes += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def tell(self) -> int:
        return self.bytes

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


class LineageWriter:
    """Rows in, a zstd parquet file out through `sink` (a HashingSink)."""

    def __init__(self, sink: HashingSink):
        self.writer = pq.ParquetWriter(sink, LINEAGE_SCHEMA, compression="zstd")
        self.rows = {name: [] for name in LINEAGE_SCHEMA.names}
        self.count = 0

    def add(self, doc_id: str, source: str, epoch: int, url: str, token_offset: int, tokens: int,
            n_bytes: int) -> None:
        values = (self.count, doc_id, source, epoch, url, token_offset, tokens, n_bytes)
        for name, value in zip(LINEAGE_SCHEMA.names, values):
            self.rows[name].append(value)
        self.count += 1
        if len(self.rows["id"]) >= LINEAGE_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows["id"]:
            self.writer.write_batch(pa.record_batch(self.rows, schema=LINEAGE_SCHEMA))
            self.rows = {name: [] for name in LINEAGE_SCHEMA.names}

    def close(self) -> None:
        self.flush()
        self.writer.close()


def read_lineage(path: str, columns: list[str] | None = None) -> pa.Table:
    """The map as a table. Read without Arrow's thread pool: with Beam loaded, a CLI that
    had used the pool aborted at exit ("terminate called without an active exception")
    in about 1 run in 10 here; the maps are small enough for one thread."""
    return pq.read_table(pa.BufferReader(read_bytes(path)), columns=columns, use_threads=False)


def find_shard(manifest: dict, shard: str) -> tuple[str, dict]:
    """A shard named by its index (training split), its name or its .bin path -> (split, record)."""
    for split, record in split_shards(manifest):
        stem = record["path"].removesuffix(".bin")
        if shard in (stem, record["path"]) or (split == "train" and shard == str(record["index"])):
            return split, record
    raise KeyError(f"no shard {shard!r} in the manifest")


def locate_row(table: pa.Table, token_offset: int) -> int:
    """The row of the document covering `token_offset` (the table's offsets ascend)."""
    offsets = table.column("token_offset").to_numpy()
    lengths = table.column("tokens").to_numpy()
    row = int(np.searchsorted(offsets, token_offset, side="right")) - 1
    if row < 0 or token_offset >= offsets[row] + lengths[row]:
        raise IndexError(f"token offset {token_offset} is outside the shard ({int(offsets[-1] + lengths[-1])} "
                         "tokens)" if len(offsets) else "the shard is empty")
    return row


def locate(output: str, shard: str, token_offset: int) -> dict:
    """The document at `token_offset` of `shard`: its lineage row, the offset inside it,
    and its text decoded with the corpus's tokenizer (EOS left out)."""
    from tokenizers import Tokenizer
    output = output.rstrip("/")
    manifest = read_manifest(output)
    split, record = find_shard(manifest, shard)
    table = read_lineage(f"{output}/{record['lineage']['path']}")
    row = locate_row(table, token_offset)
    doc = {name: table.column(name)[row].as_py() for name in LINEAGE_SCHEMA.names}
    tokens = IndexedShard(f"{output}/{record['path'].removesuffix('.bin')}")[doc["position"]]
    tokenizer = Tokenizer.from_file(f"{output}/{manifest['tokenizer']['path']}")
    eos = manifest["tokenizer"]["eos_id"]
    ids = tokens[:-1] if len(tokens) and tokens[-1] == eos else tokens
    return {"split": split, "shard": record["path"], **doc, "offset_in_document": token_offset - doc["token_offset"],
            "text": tokenizer.decode(ids.tolist(), skip_special_tokens=False)}
