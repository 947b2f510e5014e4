"""The kernel sum: each stage's core work run bare, in one process, against the whole build.

    python -m bench.kernels [--mb 25 100] [--work /tmp/corpusmill-versus] [--workers 2] [--readme]

On bench.versus's corpus and its (b) recipe (ours: FineWeb's rules with resiliparse, the
StarCoder code rules, exact + URL + MinHash dedup, 2 epochs of text and 4 of code), each
stage's pure rule runs on every document that reaches it, one after the other, timed
with the process's CPU clock:

  read       every input file through its reader (sources/readers.file_records)
  extract    HTML to text (rules/extract.Extractor)
  normalize  Unicode and whitespace (rules/normalize.Normalizer)
  filter     the recipe's rule chain per kind (rules/quality.QualityRules)
  dedup      the content and URL hashes and the MinHash band keys and sketch of each kept document
  tokenize   one encoding of each kept document (the build's encoder: tokenizer/encoding.py)
  write      each document's tokens times its epoch copies, to one file

Their sum is the least CPU a build of this recipe can cost with these kernels. Then the
same recipe is built (local runner, `--workers` processes), its CPU taken from its whole
process tree (pipeline/proctree.py), and the build's CPU is reported as a multiple of
the sum: the rest is what Beam, serialization, shuffles, parquet round trips and
repeated passes cost. Dedup's grouping (the shuffles of keys) counts as overhead here:
its kernel is the hashing. At two sizes, the marginal multiple (the build's extra CPU
over the kernels' extra CPU) leaves the fixed costs out: it is what holds at a TB, and
it turns the web source's kernels per MB of HTML into vCPU-hours per TB of WARC.
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
from pipeline.rules.verdict import passed_on

README_BEGIN, README_END = "<!-- kernels:begin -->", "<!-- kernels:end -->"
STAGES = ("read", "extract", "normalize", "filter", "dedup", "tokenize", "write")
# Per-TB assumptions (stated with the figure): HTML bytes (response bodies) per byte of
# compressed WARC, from the one response record of ../shared/data/commoncrawl/whirlwind.warc.gz
# (72,848 HTML bytes in an 18,857-byte file, request and metadata records included);
# NeMo Curator's published CPU figure: a 60 TB snapshot in about two days on 30 nodes of 96 vCPUs.
HTML_PER_WARC_BYTE = 72_848 / 18_857
NEMO_VCPU_HOURS_PER_TB = 30 * 96 * 48 / 60


class Clock:
    """CPU seconds per stage, documents in, and each stage's first call (models and tables
    loaded: a fixed cost per worker, reported apart)."""

    def __init__(self):
        self.cpu, self.docs, self.setup = {}, {}, {}
        self.by_source = {}   # (stage, source) -> CPU seconds

    def warm(self, stage: str, fn, *args):
        start = time.process_time()
        fn(*args)
        self.setup[stage] = time.process_time() - start

    def time(self, stage: str, fn, doc, *rest):
        start = time.process_time()
        out = fn(doc, *rest)
        spent = time.process_time() - start
        self.cpu[stage] = self.cpu.get(stage, 0.0) + spent
        self.docs[stage] = self.docs.get(stage, 0) + 1
        key = (stage, doc.source)
        self.by_source[key] = self.by_source.get(key, 0.0) + spent
        return out


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
            spent = time.process_time() - start
            clock.cpu["read"] = clock.cpu.get("read", 0.0) + spent
            clock.by_source[("read", spec.name)] = clock.by_source.get(("read", spec.name), 0.0) + spent
            docs += [r for r in records if isinstance(r, Document)]
    clock.docs["read"] = len(docs)
    return docs


def kernel_sum(recipe, tokenizer_json: str) -> Clock:
    from pipeline.rules.dedup import content_hash, url_key
    from pipeline.rules.extract import Extractor
    from pipeline.rules.minhash import Signer
    from pipeline.rules.normalize import Normalizer
    from pipeline.rules.quality import QualityRules
    from tokenizer.encoding import ordinary_encoder
    clock = Clock()
    docs = read_all(recipe, clock)
    # the other extractor on the same pages, beside the sum (for the per-TB figure with it)
    other = "trafilatura" if recipe.extract_html == "resiliparse" else "resiliparse"
    for method, stage in ((other, f"extract ({other})"), (recipe.extract_html, "extract")):
        extractor = Extractor(method, recipe.extract_limits)
        clock.warm(stage, extractor, docs[0])
        passed = [d for d in (passed_on(clock.time(stage, extractor, d), d) for d in docs) if d is not None]
        close = getattr(extractor, "close", None)
        if close:
            close()
    docs = passed
    normalizer = Normalizer(recipe.fix_mojibake)
    clock.warm("normalize", normalizer, docs[0])
    docs = [d for d in (passed_on(clock.time("normalize", normalizer, d), d) for d in docs) if d is not None]
    chain = QualityRules(recipe.filters)
    for kind in sorted({d.kind for d in docs}):
        clock.warm(f"filter ({kind})", chain, next(d for d in docs if d.kind == kind))
    docs = [d for d in (passed_on(clock.time("filter", chain, d), d) for d in docs) if d is not None]
    signer = Signer(recipe.dedup.near)

    def keys(d):
        return content_hash(d.text), url_key(d.url) if d.url else b"", signer.keys_and_sketch(d.text)
    for d in docs:
        clock.time("dedup", keys, d)
    start = time.process_time()
    encode = ordinary_encoder(tokenizer_json)
    clock.setup["tokenize"] = time.process_time() - start
    tokens = [clock.time("tokenize", lambda d: encode(d.text), d) for d in docs]
    layout = recipe.layout

    def write(doc, f, ids):
        array = np.asarray(ids + [0], dtype=np.uint16).tobytes()
        for _ in layout.copies(doc.id, doc.source)[1]:
            f.write(array)
    with tempfile.TemporaryFile() as f:
        for d, ids in zip(docs, tokens):
            clock.time("write", write, d, f, ids)
    clock.docs["kept"] = len(docs)
    return clock


def per_tb(clock: Clock, html_mb: float, multiple: float, method: str) -> list[str]:
    """vCPU-hours per TB of compressed WARC from the web source's kernels per MB of HTML,
    times the build's overhead multiple, with each extractor."""
    other = "trafilatura" if method == "resiliparse" else "resiliparse"
    rest = sum(clock.by_source.get((stage, "cc"), 0.0) for stage in STAGES if stage != "extract")
    lines = [f"Per TB of compressed Common Crawl WARC (the web source's kernels per MB of HTML x the build's "
             f"{multiple:.2f}x x {HTML_PER_WARC_BYTE:.2f} HTML bytes per WARC byte):", "",
             "| extractor | kernel CPU s per HTML MB | vCPU-hours per TB of WARC | NeMo Curator's | ours / NeMo's |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, stage in ((method, "extract"), (other, f"extract ({other})")):
        per_mb = (rest + clock.by_source.get((stage, "cc"), 0.0)) / html_mb
        hours = per_mb * multiple * HTML_PER_WARC_BYTE * 1e6 / 3600
        lines.append(f"| {name} | {per_mb:.3f} | {hours:,.0f} | {NEMO_VCPU_HOURS_PER_TB:,.0f} | "
                     f"{hours / NEMO_VCPU_HOURS_PER_TB:.2f} (goal: at most 0.1) |")
    return lines


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


def measure_size(megabytes: int, work: pathlib.Path, workers: int) -> dict:
    """The kernels and the build on the corpus of one size."""
    from pipeline.recipe import parse_recipe
    sizes = prepared_corpus(work, megabytes)
    raw = our_recipe("b", work / "corpus", work / "tokenizer.json")
    recipe_path = work / "recipe-kernels.yaml"
    recipe_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    recipe = parse_recipe(raw)
    clock = kernel_sum(recipe, (work / "tokenizer.json").read_text())
    cpu, wall = build_cpu(recipe_path, work / "kernels-build", workers)
    manifest = json.loads((work / "kernels-build" / "manifest.json").read_text())
    return {"mb": sum(sizes.values()) / 1e6, "sizes": sizes, "clock": clock, "recipe": recipe,
            "total": sum(clock.cpu.get(stage, 0.0) for stage in STAGES), "cpu": cpu, "wall": wall,
            "kept": manifest["stats"]["documents"]}


def size_table(run: dict, workers: int) -> list[str]:
    clock, total, megabytes = run["clock"], run["total"], run["mb"]
    lines = [f"Corpus: {megabytes:.1f} MB of documents (bench.versus's, recipe (b)); kernels in one process, "
             f"the build with {workers} worker processes.", "",
             "| stage | documents | CPU s | CPU s per MB | share of the sum |", "| --- | ---: | ---: | ---: | ---: |"]
    for stage in STAGES:
        lines.append(f"| {stage} | {clock.docs.get(stage, 0):,} | {clock.cpu.get(stage, 0):.1f} | "
                     f"{clock.cpu.get(stage, 0) / megabytes:.3f} | {clock.cpu.get(stage, 0) / total:.0%} |")
    lines += [f"| **kernel sum** | | **{total:.1f}** | {total / megabytes:.3f} | |",
              f"| whole build (process tree) | {run['kept']:,} kept | {run['cpu']:.1f} | "
              f"{run['cpu'] / megabytes:.3f} | |", "",
              f"The build costs **{run['cpu'] / total:.2f}x** its kernel sum; wall {run['wall']:.1f} s. Each "
              f"stage's first call (models and tables loaded, once per worker process) is not in the sum: "
              f"{', '.join(f'{k} {v:.1f} s' for k, v in clock.setup.items())}.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, nargs="+", default=[25, 100],
                        help="corpus sizes; two give the marginal multiple (the build's extra CPU over the "
                             "kernels' extra CPU), which is what holds at a TB")
    parser.add_argument("--work", default="/tmp/corpusmill-versus")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args()
    runs = [measure_size(mb, pathlib.Path(args.work) / f"{mb}mb", args.workers) for mb in args.mb]
    lines = [line for run in runs for line in size_table(run, args.workers)]
    last = runs[-1]
    multiple = last["cpu"] / last["total"]
    if len(runs) > 1:
        first = runs[0]
        multiple = (last["cpu"] - first["cpu"]) / (last["total"] - first["total"])
        lines += [f"Marginal, {first['mb']:.1f} MB to {last['mb']:.1f} MB: the build's extra CPU "
                  f"{last['cpu'] - first['cpu']:.1f} s over the kernels' extra {last['total'] - first['total']:.1f} s"
                  f" = **{multiple:.2f}x** (goal: within 1.5x).", ""]
    lines += per_tb(last["clock"], last["sizes"]["cc"] / 1e6, multiple, last["recipe"].extract_html)
    text = "\n".join(lines)
    print(text)
    if args.readme:
        write_section(text, README_BEGIN, README_END)


if __name__ == "__main__":
    main()
