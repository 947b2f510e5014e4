"""The kernel sum: each stage's core work run bare, in one process, against the whole build.

    python -m bench.kernels [--mb 100] [--work /tmp/corpusmill-versus] [--workers 2] [--readme]

On bench.versus's corpus and its (b) recipe (ours: FineWeb's rules with resiliparse, the
StarCoder code rules, exact + URL + MinHash dedup, 2 epochs of text and 4 of code), each
stage's pure rule runs on every document that reaches it, one after the other, timed
with the process's CPU clock:

  read       every input file through its reader (sources/readers.file_records)
  extract    HTML to text (rules/extract.Extractor)
  normalize  Unicode and whitespace (rules/normalize.Normalizer)
  filter     the recipe's rule chain per kind (rules/quality.QualityRules)
  dedup      the content and URL hashes and the MinHash band keys and sketch of each kept document
  tokenize   one encoding of each kept document (tiktoken, as the build's)
  write      each document's tokens times its epoch copies, to one file

Their sum is the least CPU a build of this recipe can cost with these kernels. Then the
same recipe is built (local runner, `--workers` processes), its CPU taken from its whole
process tree (pipeline/proctree.py), and the build's CPU is reported as a multiple of
the sum: the rest is what Beam, serialization, shuffles, parquet round trips and
repeated passes cost. Dedup's grouping (the shuffles of keys) counts as overhead here:
its kernel is the hashing.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np
import yaml

from bench.versus import REPO, our_recipe, prepared_corpus, write_section

README_BEGIN, README_END = "<!-- kernels:begin -->", "<!-- kernels:end -->"


class Clock:
    """CPU seconds per stage, documents in, and each stage's first call (models and tables
    loaded: a fixed cost per worker, reported apart)."""

    def __init__(self):
        self.cpu, self.docs, self.setup = {}, {}, {}

    def warm(self, stage: str, fn, *args):
        start = time.process_time()
        fn(*args)
        self.setup[stage] = time.process_time() - start

    def time(self, stage: str, fn, *args):
        start = time.process_time()
        out = fn(*args)
        self.cpu[stage] = self.cpu.get(stage, 0.0) + time.process_time() - start
        self.docs[stage] = self.docs.get(stage, 0) + 1
        return out


def verdict(result, doc):
    """A rule's answer -> the document it passes on, or None (ApplyRule's routing)."""
    from pipeline.rules.verdict import Edited
    from sources.document import Document
    if result is None:
        return doc
    if isinstance(result, Document):
        return result
    if isinstance(result, Edited):
        return result.doc
    return None


def read_all(recipe, clock: Clock) -> list:
    """Every document of every source, read (timed as `read`)."""
    from sources.document import Document
    from sources.files import ReadContext
    from sources.readers import file_records, source_inputs
    docs = []
    for spec in recipe.sources:
        inputs, _ = source_inputs(spec.type, list(spec.paths), spec.options)
        for f in inputs:
            ctx = ReadContext(spec.name, spec.kind, f.path, f.relpath, spec.columns, spec.options)
            start = time.process_time()
            records = list(file_records(spec.type, ctx))
            clock.cpu["read"] = clock.cpu.get("read", 0.0) + time.process_time() - start
            docs += [r for r in records if isinstance(r, Document)]
    clock.docs["read"] = len(docs)
    return docs


def kernel_sum(recipe, tokenizer_json: str) -> Clock:
    from pipeline.rules.dedup import content_hash, url_key
    from pipeline.rules.extract import Extractor
    from pipeline.rules.minhash import Signer
    from pipeline.rules.normalize import Normalizer
    from pipeline.rules.quality import QualityRules
    from tokenizer.encoding import tiktoken_encoding
    clock = Clock()
    docs = read_all(recipe, clock)
    extractor = Extractor(recipe.extract_html, recipe.extract_limits)
    clock.warm("extract", extractor, docs[0])
    docs = [d for d in (verdict(clock.time("extract", extractor, d), d) for d in docs) if d is not None]
    close = getattr(extractor, "close", None)
    if close:
        close()
    normalizer = Normalizer(recipe.fix_mojibake)
    clock.warm("normalize", normalizer, docs[0])
    docs = [d for d in (verdict(clock.time("normalize", normalizer, d), d) for d in docs) if d is not None]
    chain = QualityRules(recipe.filters)
    for kind in sorted({d.kind for d in docs}):
        clock.warm(f"filter ({kind})", chain, next(d for d in docs if d.kind == kind))
    docs = [d for d in (verdict(clock.time("filter", chain, d), d) for d in docs) if d is not None]
    signer = Signer(recipe.dedup.near)

    def keys(d):
        return content_hash(d.text), url_key(d.url) if d.url else b"", signer.keys_and_sketch(d.text)
    for d in docs:
        clock.time("dedup", keys, d)
    start = time.process_time()
    encoding = tiktoken_encoding(tokenizer_json)
    clock.setup["tokenize"] = time.process_time() - start
    tokens = [clock.time("tokenize", encoding.encode_ordinary, d.text) for d in docs]
    layout = recipe.layout

    def write(f, doc, ids):
        array = np.asarray(ids + [0], dtype=np.uint16).tobytes()
        for _ in layout.copies(doc.id, doc.source)[1]:
            f.write(array)
    with tempfile.TemporaryFile() as f:
        for d, ids in zip(docs, tokens):
            clock.time("write", write, f, d, ids)
    clock.docs["kept"] = len(docs)
    return clock


def build_cpu(recipe_path: pathlib.Path, out: pathlib.Path, workers: int) -> tuple[float, float]:
    """(CPU seconds of the build's process tree, wall seconds)."""
    import shutil
    import subprocess

    from pipeline.proctree import run_measured
    shutil.rmtree(out, ignore_errors=True)
    with open(out.with_suffix(".log"), "w") as log:
        run = run_measured([sys.executable, "-m", "pipeline", "build", "--recipe", str(recipe_path), "--output",
                            str(out), "--direct_running_mode=multi_processing", f"--direct_num_workers={workers}",
                            "--no_progress"], interval=0.2, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    if run.returncode:
        raise SystemExit(f"the build failed ({run.returncode}); see {out.with_suffix('.log')}")
    return run.cpu_s, run.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--work", default="/tmp/corpusmill-versus")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args()
    from pipeline.recipe import parse_recipe
    work = pathlib.Path(args.work)
    sizes = prepared_corpus(work, args.mb)
    megabytes = sum(sizes.values()) / 1e6
    raw = our_recipe("b", work / "corpus", work / "tokenizer.json")
    recipe_path = work / "recipe-kernels.yaml"
    recipe_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    recipe = parse_recipe(raw)
    clock = kernel_sum(recipe, (work / "tokenizer.json").read_text())
    total = sum(clock.cpu.values())
    cpu, wall = build_cpu(recipe_path, work / "kernels-build", args.workers)
    manifest = json.loads((work / "kernels-build" / "manifest.json").read_text())
    lines = [f"Corpus: {megabytes:.1f} MB of documents (bench.versus's, recipe (b)); kernels in one process, "
             f"the build with {args.workers} worker processes.", "",
             "| stage | documents | CPU s | CPU s per MB | share of the sum |", "| --- | ---: | ---: | ---: | ---: |"]
    for stage in ("read", "extract", "normalize", "filter", "dedup", "tokenize", "write"):
        lines.append(f"| {stage} | {clock.docs.get(stage, 0):,} | {clock.cpu.get(stage, 0):.1f} | "
                     f"{clock.cpu.get(stage, 0) / megabytes:.3f} | {clock.cpu.get(stage, 0) / total:.0%} |")
    lines += [f"| **kernel sum** | | **{total:.1f}** | {total / megabytes:.3f} | |",
              f"| whole build (process tree) | {manifest['stats']['documents']:,} kept | {cpu:.1f} | "
              f"{cpu / megabytes:.3f} | |", "",
              f"The build costs **{cpu / total:.2f}x** its kernel sum (goal: within 1.5x); wall {wall:.1f} s. "
              f"Each stage's first call (models and tables loaded, once per worker process) is not in the "
              f"sum: {', '.join(f'{k} {v:.1f} s' for k, v in clock.setup.items())}. "
              f"Kept: {clock.docs.get('kept', 0):,} documents by the kernels before dedup, "
              f"{manifest['stats']['documents']:,} by the build after it."]
    text = "\n".join(lines)
    print(text)
    if args.readme:
        write_section(text, README_BEGIN, README_END)


if __name__ == "__main__":
    main()
