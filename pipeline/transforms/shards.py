"""ExpandEpochs and WriteShards: the epoch rule applied, Megatron shards written.

ExpandEpochs gives each tokenized document its copies with their position keys
(pipeline/rules/epochs.py), counts the tokens in the stream to size the shard
count, and keys every copy by its shard. WriteShards groups copies per shard,
orders them by key (ties by id, then epoch), and writes `.bin` and `.idx` under
temporary names, renamed only when both are complete.

This version groups a shard's tokens on one worker: memory per shard is bounded by
`shard_tokens`, but the runner's shuffle carries the tokens.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from typing import Iterable, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from loader.indexed_dataset import encode_index
from pipeline.rules.epochs import epoch_copies, shard_count, shard_of
from pipeline.transforms.common import Counters


class ShardEntry(NamedTuple):
    key: float
    id: str
    epoch: int
    source: str
    tokens: np.ndarray


# .bin tokens, .idx Megatron's index, .bin.index datatrove's: the same .bin read by both
EXTENSIONS = ("bin", "idx", "bin.index")


def datatrove_index(lengths) -> bytes:
    """datatrove's .index for a token file: each document's end as a uint64 token offset,
    so DatatroveFolderDataset(folder, filename_pattern="shard-*.bin") reads our .bin files
    in place, with document positions (return_positions=True)."""
    return np.cumsum(np.asarray(lengths, dtype=np.uint64), dtype=np.uint64).astype("<u8").tobytes()


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def stream_order(entries: Iterable[ShardEntry]) -> list[ShardEntry]:
    return sorted(entries, key=lambda e: (e.key, e.id, e.epoch))


def write_shard(output: str, index: int, entries: Iterable[ShardEntry], dtype: str) -> dict:
    """Writes one shard and returns its manifest record."""
    name = shard_name(index)
    final = {ext: f"{output}/{name}.{ext}" for ext in EXTENSIONS}
    temp = {ext: f"{output}/.{name}.{ext}.inprogress" for ext in EXTENSIONS}
    digest, lengths = hashlib.sha256(), []
    by_source, by_epoch = Counter(), Counter()
    with FileSystems.create(temp["bin"]) as f:
        for e in stream_order(entries):
            data = np.asarray(e.tokens, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
            f.write(data)
            digest.update(data)
            lengths.append(len(e.tokens))
            by_source[e.source] += len(e.tokens)
            by_epoch[str(e.epoch)] += len(e.tokens)
    index_bytes = encode_index(np.asarray(lengths, dtype=np.int32), np.dtype(dtype))
    ds_index_bytes = datatrove_index(lengths)
    with FileSystems.create(temp["idx"]) as f:
        f.write(index_bytes)
    with FileSystems.create(temp["bin.index"]) as f:
        f.write(ds_index_bytes)
    FileSystems.rename([temp[ext] for ext in EXTENSIONS], [final[ext] for ext in EXTENSIONS])
    return {"index": index, "path": f"{name}.bin", "bytes": sum(lengths) * np.dtype(dtype).itemsize,
            "sha256": digest.hexdigest(), "tokens": int(sum(lengths)), "documents": len(lengths),
            "tokens_by_source": dict(sorted(by_source.items())),
            "tokens_by_epoch": dict(sorted(by_epoch.items(), key=lambda kv: int(kv[0]))),
            "idx": {"path": f"{name}.idx", "bytes": len(index_bytes),
                    "sha256": hashlib.sha256(index_bytes).hexdigest()},
            "ds_index": {"path": f"{name}.bin.index", "bytes": len(ds_index_bytes),
                         "sha256": hashlib.sha256(ds_index_bytes).hexdigest()}}


class ExpandEpochs(beam.PTransform):
    """TokenizedDoc -> (shard index, ShardEntry) for every epoch copy."""

    def __init__(self, epochs: dict[str, float], seed: int, shard_tokens: int):
        super().__init__()
        self.epochs, self.seed, self.shard_tokens = epochs, seed, shard_tokens

    def expand(self, tokens):
        epochs, seed, shard_tokens = self.epochs, self.seed, self.shard_tokens
        copies = tokens | "MakeCopies" >> beam.FlatMap(
            lambda td: [ShardEntry(c.key, td.id, c.epoch, td.source, td.tokens)
                        for c in epoch_copies(seed, td.id, epochs[td.source])])
        num_shards = (copies
                      | "CountStreamTokens" >> beam.Map(lambda e: len(e.tokens))
                      | "SumStreamTokens" >> beam.CombineGlobally(sum)
                      | "ChooseShardCount" >> beam.Map(shard_count, shard_tokens))
        keyed = copies | "AssignShards" >> beam.Map(
            lambda e, n: (shard_of(e.key, n), e), n=beam.pvalue.AsSingleton(num_shards))
        return keyed


class WriteShardFiles(beam.DoFn):
    def __init__(self, output: str):
        self.output = output

    def setup(self):
        self.counters = Counters()

    def process(self, shard, tokenizer: dict):
        index, entries = shard
        record = write_shard(self.output, index, entries, tokenizer["dtype"])
        self.counters.inc("write/shards")
        self.counters.inc("write/tokens", record["tokens"])
        yield record


class WriteShards(beam.PTransform):
    def __init__(self, output: str, tokenizer: beam.PCollection):
        super().__init__()
        self.output, self.tokenizer = output, tokenizer

    def expand(self, keyed_copies):
        return (keyed_copies
                | "GroupByShard" >> beam.GroupByKey()
                | "WriteShardFiles" >> beam.ParDo(WriteShardFiles(self.output),
                                                  tokenizer=beam.pvalue.AsSingleton(self.tokenizer)))
