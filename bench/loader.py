"""The loader against Megatron-core's GPTDataset: start-up time and tokens/s per worker.

    python -m bench.loader [--docs 1000000] [--big-docs 100000000] [--work /tmp/corpusmill-loader]

Two synthetic corpora in our format (Megatron MMIDIDX shards + a manifest with
what the loader reads): `--docs` documents of random tokens (lengths
log-normal around 64 tokens, each ending with EOS) in 8 shards, and a
`--big-docs` one whose .idx is real and whose .bin is a sparse file (start-up
reads the index, never the tokens). Both readers run in this process, one
worker, on the same files:

- start-up: ours opens the manifest and builds the first sample; Megatron opens
  the IndexedDataset and builds GPTDataset's document, sample and shuffle
  indices (what its rank 0 does before training, cached to disk afterwards;
  timed without the cache);
- throughput: samples/s and tokens/s over the first --samples samples at
  seq_len 8192 and 32768. Both give tokens, position ids reset at documents and
  a loss mask after EOS; ours also gives cu_seqlens. Megatron shuffles, so its
  reads are random; ours reads in stream order.
- litdata (when installed): the 1e6-document corpus exported with optimize()
  for its TokensLoader, then StreamingDataset's start-up and blocks/s against
  our tokens alone (copied out of the memory map, no boundaries computed),
  since litdata gives no document boundaries.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import time

import numpy as np

from manifests.shard_format import encode_index

EOS, PAD, VOCAB = 32763, 32764, 32768


def write_corpus(root: pathlib.Path, docs: int, shards: int, sparse: bool = False, seed: int = 0) -> pathlib.Path:
    """Synthetic shards and a manifest. `sparse`: every document 64 tokens, the .bin a hole."""
    root.mkdir(parents=True, exist_ok=True)
    if (root / "manifest.json").exists():
        return root
    rng = np.random.default_rng(seed)
    records = []
    per_shard = -(-docs // shards)
    for index in range(shards):
        n = min(per_shard, docs - index * per_shard)
        lengths = np.full(n, 64, np.int32) if sparse else \
            np.clip(rng.lognormal(4.0, 0.8, n), 2, 4096).astype(np.int32)
        prefix = f"shard-{index:05d}"
        total = int(lengths.sum())
        if sparse:
            with open(root / f"{prefix}.bin", "wb") as f:
                f.truncate(total * 2)
            digest = "0" * 64
        else:
            tokens = rng.integers(0, EOS, total, dtype=np.uint16)
            tokens[np.cumsum(lengths) - 1] = EOS
            data = tokens.tobytes()
            (root / f"{prefix}.bin").write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
        (root / f"{prefix}.idx").write_bytes(encode_index(lengths, np.dtype(np.uint16)))
        records.append({"index": index, "path": f"{prefix}.bin", "tokens": total, "documents": n, "sha256": digest,
                        "idx": {"path": f"{prefix}.idx", "sha256": "0" * 64}})
    manifest = {"shards": records, "validation": {"shards": []},
                "tokenizer": {"eos_id": EOS, "dtype": "uint16", "special_tokens": {"<|pad|>": PAD}}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def ours_startup(root: pathlib.Path, seq_len: int) -> float:
    from loader.batches import sample_arrays
    from loader.stream import TokenStream
    start = time.perf_counter()
    stream = TokenStream.open(str(root))
    sample_arrays(stream, 0, seq_len)
    return time.perf_counter() - start


class _Tokenizer:   # what GPTDataset reads from a tokenizer
    eod, pad, vocab_size = EOS, PAD, VOCAB
    unique_identifiers = {"class": "bench"}


def megatron_datasets(root: pathlib.Path, seq_len: int, cache: pathlib.Path):
    """(seconds to open and build, the GPTDatasets) over every shard, as a blend of shards."""
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.datasets.indexed_dataset import IndexedDataset
    from megatron.core.datasets.utils import Split
    config = GPTDatasetConfig(random_seed=1, sequence_length=seq_len, split="1,0,0", tokenizer=_Tokenizer(),
                              reset_position_ids=True, reset_attention_mask=False, eod_mask_loss=True,
                              create_attention_mask=False, path_to_cache=str(cache))
    start = time.perf_counter()
    datasets = []
    for prefix in sorted(p.with_suffix("") for p in root.glob("shard-*.idx")):
        indexed = IndexedDataset(str(prefix))
        datasets.append(GPTDataset(indexed, str(prefix), np.arange(len(indexed), dtype=np.int32), None,
                                   Split.train, config))
    return time.perf_counter() - start, datasets


def litdata_export(root: pathlib.Path, out: pathlib.Path) -> float:
    """Our shards' documents written with litdata's optimize() for its TokensLoader (the
    export a litdata user runs once); returns the seconds it took."""
    import functools

    import litdata
    from litdata.streaming.item_loader import TokensLoader

    from loader.stream import TokenStream
    shards = len(TokenStream.open(str(root)).shards)
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    litdata.optimize(fn=functools.partial(shard_documents, str(root)), inputs=list(range(shards)), output_dir=str(out),
                     chunk_bytes="64MB", item_loader=TokensLoader(), num_workers=1, verbose=False,
                     keep_data_ordered=True)
    return time.perf_counter() - start


def shard_documents(root: str, shard_index: int):
    """One shard's documents as int32 tensors (litdata's optimize() pickles this to a worker)."""
    import torch

    from loader.stream import TokenStream
    shard = TokenStream.open(root).shard(shard_index)
    for i in range(len(shard)):
        yield torch.from_numpy(np.asarray(shard[i], dtype=np.int32))


def litdata_dataset(out: pathlib.Path, seq_len: int):
    import litdata
    from litdata.streaming.item_loader import TokensLoader
    return litdata.StreamingDataset(str(out), item_loader=TokensLoader(block_size=seq_len + 1), shuffle=False,
                                    drop_last=True)


def rate(fn, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--big-docs", type=int, default=100_000_000)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--work", default="/tmp/corpusmill-loader")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    import warnings
    warnings.filterwarnings("ignore")

    small = write_corpus(work / f"docs-{args.docs}", args.docs, 8)
    big = write_corpus(work / f"docs-{args.big_docs}-sparse", args.big_docs, 1, sparse=True)

    print("start-up (s), one process; Megatron: IndexedDataset + GPTDataset indices, built (no cache) "
          "and loaded from its cache")
    print(f"{'corpus':<28}{'ours':>10}{'megatron built':>16}{'megatron cached':>17}{'built / ours':>14}")
    for name, root, docs in (("small", small, args.docs), ("big", big, args.big_docs)):
        cache = work / "megatron-cache"
        shutil.rmtree(cache, ignore_errors=True)
        ours = min(ours_startup(root, 8192) for _ in range(3))
        built, _ = megatron_datasets(root, 8192, cache)
        cached, _ = megatron_datasets(root, 8192, cache)
        print(f"{f'{docs:,} documents':<28}{ours:>10.4f}{built:>16.2f}{cached:>17.2f}{built / ours:>13.0f}x")

    print(f"\nthroughput, one worker, first {args.samples} samples of the {args.docs:,}-document corpus")
    print(f"{'seq_len':<9}{'ours samples/s':>16}{'ours Mtok/s':>13}{'megatron samples/s':>20}{'megatron Mtok/s':>17}"
          f"{'ours / megatron':>17}")
    from loader.batches import sample_arrays
    from loader.stream import TokenStream
    for seq_len in (8192, 32768):
        stream = TokenStream.open(str(small))
        count = min(args.samples, stream.total_tokens // seq_len - 1)
        ours = rate(lambda i: sample_arrays(stream, i, seq_len), count)
        _, datasets = megatron_datasets(small, seq_len, work / "megatron-cache")
        dataset = datasets[0]
        count_m = min(count, len(dataset))
        theirs = rate(lambda i: dataset[i], count_m)
        print(f"{seq_len:<9}{ours:>16.1f}{ours * seq_len / 1e6:>13.1f}{theirs:>20.1f}{theirs * seq_len / 1e6:>17.1f}"
              f"{ours / theirs:>16.2f}x")
    try:
        import litdata  # noqa: F401
    except ImportError:
        print("\nlitdata is not installed (make bench installs it): skipped")
        return
    out = work / f"litdata-{args.docs}"
    exported = litdata_export(small, out)
    print(f"\nlitdata (StreamingDataset + TokensLoader, blocks of seq_len + 1 tokens, no document boundaries); "
          f"export of the {args.docs:,}-document corpus took {exported:.1f} s")
    print(f"{'seq_len':<9}{'ours start-up s':>16}{'litdata start-up s':>20}{'ours tokens-only Mtok/s':>25}"
          f"{'litdata Mtok/s':>16}{'ours / litdata':>16}")
    for seq_len in (8192, 32768):
        stream = TokenStream.open(str(small))
        count = min(args.samples, stream.total_tokens // seq_len - 1)
        ours_start = min(ours_startup(small, seq_len) for _ in range(3))
        start = time.perf_counter()
        dataset = litdata_dataset(out, seq_len)
        items = iter(dataset)
        next(items)
        lit_start = time.perf_counter() - start
        ours = rate(lambda i: np.array(stream.read(i * seq_len, i * seq_len + seq_len + 1)), count)   # a copy
        theirs = rate(lambda i: next(items), count - 1)
        print(f"{seq_len:<9}{ours_start:>16.4f}{lit_start:>20.3f}{ours * seq_len / 1e6:>25.1f}"
              f"{theirs * seq_len / 1e6:>16.1f}{ours / theirs:>15.1f}x")
    print(f"\n(cpu count {os.cpu_count()}; synthetic corpora under {work})")


if __name__ == "__main__":
    main()
