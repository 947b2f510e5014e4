"""Dedup across builds: the index's size per document, and what building against a large
index adds to a build.

    python -m bench.dedup_index [--index-docs 1000000] [--work /tmp/corpusmill-dedup-index]

1. The sample recipe is built once; its dedup index's bytes per document are read
   from the manifest (`dedup_index.bytes_per_document`).
2. An index of N documents is written in the index's own layout (rules/dedup_index.py:
   16 partition files sorted by id, index.json): ids as long as Common Crawl's, and
   random content hashes, URL hashes, 14 band keys and sketches, so none of the
   sample's documents matches it and every key of the join is real work.
3. The sample recipe is built again, without and with `dedup.against` that index, one
   after the other; each build's wall time and the CPU seconds of its whole process
   tree (pipeline/proctree.py: the local runner's worker processes included) are
   printed, and the difference is what the index costs. Both outputs must hold the same
   training stream (the index matches nothing).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def synthetic_index(folder: Path, documents: int, partitions: int = 16, seed: int = 0) -> dict:
    """An index of `documents` rows with random keys, in the layout builds write."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.rules.dedup_index import INDEX_FILE, SCHEMA, index_params, partition_of
    from pipeline.rules.minhash import MinHashParams
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"cc-2024-10/crawl-data/CC-MAIN-2024-10/segments/1707947473347.{i % 100}/warc/"
           f"CC-MAIN-20240220211055-20240221001055-{i // 25000:05d}.warc.gz@{i * 9973}" for i in range(documents)]
    by_partition: dict[int, list[int]] = {}
    for i, doc_id in enumerate(ids):
        by_partition.setdefault(partition_of(doc_id, partitions), []).append(i)
    files = []
    for k in sorted(by_partition):
        rows = sorted(by_partition[k], key=lambda i: ids[i])
        n = len(rows)
        keys = rng.bytes(n * (16 + 16 + 14 * 8 + 112))
        exact, url = keys[:16 * n], keys[16 * n:32 * n]
        bands, sketches = keys[32 * n:32 * n + 112 * n], keys[144 * n:]
        table = pa.table({
            "id": [ids[i] for i in rows], "kind": ["text"] * n, "source": ["cc"] * n,
            "length": rng.integers(500, 20000, n),
            "exact": pa.array([exact[16 * j:16 * j + 16] for j in range(n)], pa.binary(16)),
            "url": pa.array([url[16 * j:16 * j + 16] for j in range(n)], pa.binary(16)),
            "bands": pa.array([[bands[112 * j + 8 * b:112 * j + 8 * b + 8] for b in range(14)] for j in range(n)],
                              pa.list_(pa.binary(8))),
            "sketch": pa.array([sketches[112 * j:112 * j + 112] for j in range(n)], pa.binary())}, schema=SCHEMA)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        data = buffer.getvalue()
        name = f"part-{k:05d}.parquet"
        (folder / name).write_bytes(data)
        files.append({"path": name, "documents": n, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    info = {**index_params(True, True, MinHashParams(), "all"), "documents": documents,
            "bytes": sum(f["bytes"] for f in files), "files": files}
    (folder / INDEX_FILE).write_text(json.dumps(info, indent=1, sort_keys=True))
    return info


def build(recipe: str, out: Path, log: Path):
    from pipeline.proctree import run_measured
    shutil.rmtree(out, ignore_errors=True)
    with open(log, "w") as f:
        measured = run_measured([sys.executable, "-m", "pipeline", "build", "--recipe", recipe, "--output", str(out),
                                 "--no_progress"], stdout=f, stderr=f, cwd=REPO)
    if measured.returncode:
        raise SystemExit(f"build failed: see {log}")
    return measured


def main(argv: list[str] | None = None) -> None:
    import yaml
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-docs", type=int, default=1_000_000)
    parser.add_argument("--work", default="/tmp/corpusmill-dedup-index")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    recipe = yaml.safe_load((REPO / "recipes/sample.yaml").read_text())
    plain = work / "plain.yaml"
    plain.write_text(yaml.safe_dump(recipe))
    index = synthetic_index(work / "index", args.index_docs)
    recipe["dedup"]["against"] = [str(work / "index")]
    against = work / "against.yaml"
    against.write_text(yaml.safe_dump(recipe))
    print(f"synthetic index: {index['documents']:,} documents, {index['bytes'] / 1e6:,.1f} MB "
          f"({index['bytes'] / index['documents']:.0f} bytes per document, ids of about 120 characters)")
    without = build(str(plain), work / "without", work / "without.log")
    manifest = json.loads((work / "without" / "manifest.json").read_text())
    own = manifest["dedup_index"]
    print(f"the sample's own index: {own['documents']:,} documents, {own['bytes']:,} bytes, "
          f"{own['bytes_per_document']} bytes per document")
    with_index = build(str(against), work / "with", work / "with.log")
    same = all((work / "without" / n).read_bytes() == (work / "with" / n).read_bytes()
               for n in os.listdir(work / "without") if n.endswith((".bin", ".idx")))
    print("| build | wall s | CPU s (process tree) |\n| --- | ---: | ---: |")
    print(f"| sample | {without.wall_s:.1f} | {without.cpu_s:.1f} |")
    print(f"| sample against {args.index_docs:,} documents | {with_index.wall_s:.1f} | {with_index.cpu_s:.1f} |")
    print(f"extra: {with_index.wall_s - without.wall_s:+.1f} s wall, {with_index.cpu_s - without.cpu_s:+.1f} CPU-s "
          f"({(with_index.cpu_s - without.cpu_s) / args.index_docs * 1e6:.1f} CPU-us per index document); "
          f"the same shards: {same}")


if __name__ == "__main__":
    main()
