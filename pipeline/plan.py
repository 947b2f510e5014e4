"""python -m pipeline plan --recipe R [--sample-mb 64] [--workers N] [--no-build]: what a full build will cost.

Lists every input (sizes only), reads a sample of whole files per source (spread
over the listing by a hash of the path, up to --sample-mb per source, at least one
file), runs the recipe's own rules on it in this process (pipeline/reference.py's
chain: extract, normalise, filter, decontaminate), deduplicates what they kept
with the recipe's dedup (the same keys and survivors as the graph), and scales
what it measured by each source's input bytes:

- documents read, kept by the rules, and kept after dedup. Dedup on a sample finds
  only the duplicates inside it, so where a source is not sampled whole the removals
  are a lower bound (duplicates across unsampled files are missed);
- tokens: the sample's kept documents tokenized by a tokenizer trained as the build
  trains it (the same weighted sample of documents, or the recipe's tokenizer.json),
  counted per source, EOS included, and each times its copies in the stream (the
  epoch rule's, per document, as the build draws them);
- output bytes: the stream's tokens at the tokenizer's dtype, the .idx entries and
  lineage rows;
- CPU and wall time, runner included: the sample is built through the local runner
  twice (all of it, and each source's smallest sampled file), each run's whole
  process tree timed from /proc (pipeline/proctree.py); the two give a fixed cost
  per build and a cost per input byte, which scales to the full input. The rules
  alone (timed in this process) are shown beside it: the difference is what Beam,
  serialization, shuffles and parquet round trips cost. `--no-build` skips the
  builds and prints the rules' figure only;
- local memory: the local runner's peak, about 0.75 GB plus 2 kB per kept document
  (bench/README.md: bench.scale and bench.dedup memory).

Nothing is written outside a temporary folder. An estimate from a sample is only as
good as the sample: a source whose files differ (crawl segments of different years)
wants a bigger one.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field

from manifests.splits import TRAIN, VALIDATION
from pipeline.recipe import Recipe, SourceSpec, load_recipe
from sources.document import Document

LOCAL_BASE_BYTES = 750e6        # bench.scale: the sample build's peak RSS
LOCAL_BYTES_PER_DOC = 2_000     # bench.dedup memory: the dedup stage's growth per document
JOB_STARTUP_S = 8.0             # one Beam job's start on the local runner (two per build)
# A build's fixed cost on the local runner (two jobs' start-up, imports in every worker,
# the URL lists and models loaded per worker), measured by `plan` on the sample recipe
# (its two builds of 1.9 and 4.3 MB, 2 cores; 13 to 20 CPU-s over three runs): used when a
# sample allows only one build.
BUILD_FIXED_CPU_S = 18.0
BUILD_FIXED_WALL_S = 14.0
LINEAGE_BYTES_PER_DOC = 60      # shard-*.docs.parquet, zstd, per document copy (sample build)
IDX_BYTES_PER_DOC = 12          # Megatron .idx: int32 size + int64 pointer


@dataclass
class SourceSample:
    name: str
    kind: str
    epochs: float
    validation: float
    files: int
    input_bytes: int
    sampled_files: int = 0
    sampled_bytes: int = 0
    read: int = 0
    kept: int = 0
    kept_bytes: int = 0
    seconds: float = 0.0
    kept_docs: list[Document] = field(default_factory=list, repr=False)
    sampled_paths: list[str] = field(default_factory=list, repr=False)
    smallest_path: str = ""
    smallest_bytes: int = 0
    deduplicated: int = 0        # kept after dedup
    tokens: int = 0              # of the documents kept after dedup, EOS included
    stream_tokens: int = 0       # ... times each one's copies in the training stream (the epoch rule's)
    validation_tokens: int = 0   # ... of those the validation split holds
    whole: bool = False          # every input file was sampled

    @property
    def scale(self) -> float:
        return self.input_bytes / max(self.sampled_bytes, 1)


def spread_sample(files: list, budget: int) -> list:
    """Files in an order fixed by a hash of their path, while their sizes fit `budget`
    (at least one): a sample spread over the listing, the same on every run."""
    chosen, total = [], 0
    for f in sorted(files, key=lambda f: hashlib.sha256(f.path.encode()).hexdigest()):
        if chosen and total + f.size > budget:
            continue
        chosen.append(f)
        total += f.size
    return chosen


def measure_source(recipe: Recipe, spec: SourceSpec, budget: int) -> SourceSample:
    from pipeline.reference import document_rules, kept_document
    from sources.readers import ReadContext, file_records, source_inputs
    files, ignored = source_inputs(spec.type, list(spec.paths), spec.options)
    sample = SourceSample(spec.name, spec.kind, spec.epochs, spec.validation, len(files) + len(ignored),
                          sum(f.size for f in files))
    chain = document_rules(recipe)
    chosen = spread_sample(files, budget)
    sample.whole = len(chosen) == len(files)
    if chosen:
        smallest = min(chosen, key=lambda f: (f.size, f.path))
        sample.smallest_path, sample.smallest_bytes = smallest.path, smallest.size
    try:
        for file in chosen:
            sample.sampled_files += 1
            sample.sampled_bytes += file.size
            sample.sampled_paths.append(file.path)
            ctx = ReadContext(spec.name, spec.kind, file.path, file.relpath, spec.columns, spec.options)
            start = time.perf_counter()
            for record in file_records(spec.type, ctx):
                sample.read += 1
                doc = kept_document(record, chain)
                if doc is not None:
                    sample.kept += 1
                    sample.kept_bytes += len(doc.text.encode("utf-8"))
                    sample.kept_docs.append(doc)
            sample.seconds += time.perf_counter() - start
    finally:
        chain[0].close()
    return sample


def deduplicate(recipe: Recipe, samples: list[SourceSample]) -> list[Document]:
    """The samples' kept documents less what the recipe's dedup removes among them (all
    sources together, as the build does); sets each sample's `deduplicated`."""
    from pipeline.reference import duplicate_ids
    docs = [d for s in samples for d in s.kept_docs]
    removed = duplicate_ids(recipe, docs)
    for s in samples:
        s.deduplicated = sum(1 for d in s.kept_docs if d.id not in removed)
    return [d for d in docs if d.id not in removed]


@dataclass(frozen=True)
class TokenFigures:
    bytes_per_token: float
    encode_s_per_byte: float
    vocab_size: int


def count_tokens(recipe: Recipe, samples: list[SourceSample], docs: list[Document]) -> TokenFigures:
    """Tokenizes the deduplicated sample with the tokenizer the build would train on it
    (the build's own sample of training documents and trainer) or the recipe's; sets
    each sample's `tokens` (EOS included)."""
    from tokenizer.encoding import ordinary_encoder, vocab_size
    if recipe.tokenizer.path:
        from apache_beam.io.filesystems import FileSystems
        with FileSystems.open(recipe.tokenizer.path) as f:
            tokenizer_json = f.read().decode("utf-8")
    else:
        from pipeline.transforms.tokenize import train_on_sample
        layout, spec = recipe.layout, recipe.tokenizer
        keyed = sorted((layout.sample_key(d.id, d.source), d.id, d.text) for d in docs
                       if layout.split(d.id, d.source) == TRAIN)
        tokenizer_json, _ = train_on_sample(keyed[:spec.sample_docs], spec)
    encode = ordinary_encoder(tokenizer_json)
    by_source = {s.name: s for s in samples}
    start = time.perf_counter()
    lengths = [len(encode(d.text)) + 1 for d in docs]
    seconds = time.perf_counter() - start
    n_tokens = sum(lengths)
    for d, n in zip(docs, lengths):
        sample = by_source[d.source]
        sample.tokens += n
        split, copies = recipe.layout.copies(d.id, d.source)
        if split == VALIDATION:
            sample.validation_tokens += n
        else:
            sample.stream_tokens += n * len(copies)
    n_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    return TokenFigures(n_bytes / max(n_tokens - len(docs), 1), seconds / max(n_bytes, 1), vocab_size(tokenizer_json))


def signing_s_per_byte(recipe: Recipe, texts: list[str]) -> float:
    if recipe.dedup.near is None or not texts:
        return 0.0
    from pipeline.rules.minhash import Signer
    signer = Signer(recipe.dedup.near)
    start = time.perf_counter()
    for t in texts:
        signer.keys_and_sketch(t)
    return (time.perf_counter() - start) / max(sum(len(t.encode("utf-8")) for t in texts), 1)


@dataclass(frozen=True)
class RunnerFigures:
    """Two builds of the sample through the local runner: (input bytes, CPU s, wall s) each."""
    small: tuple[int, float, float]
    full: tuple[int, float, float]

    def fixed(self) -> tuple[float, float]:
        """(CPU s, wall s) a build costs whatever its size: where the line through the two
        runs meets zero bytes, or the measured BUILD_FIXED_* (at most the run's own) when
        the sample allowed one run only."""
        (b0, c0, w0), (b1, c1, w1) = self.small, self.full
        if b1 <= b0:
            return min(BUILD_FIXED_CPU_S, c1), min(BUILD_FIXED_WALL_S, w1)
        return max(c0 - b0 * (c1 - c0) / (b1 - b0), 0.0), max(w0 - b0 * (w1 - w0) / (b1 - b0), 0.0)

    def marginal(self) -> tuple[float, float]:
        """(CPU s, wall s) per input byte beyond the fixed cost."""
        (b1, c1, w1), (c0, w0) = self.full, self.fixed()
        return max(c1 - c0, 0.0) / max(b1, 1), max(w1 - w0, 0.0) / max(b1, 1)

    def at(self, n_bytes: float) -> tuple[float, float]:
        """(CPU s, wall s) of a build of `n_bytes` of input."""
        (c0, w0), (cpu, wall) = self.fixed(), self.marginal()
        return c0 + cpu * n_bytes, w0 + wall * n_bytes


def sample_recipe(recipe: Recipe, paths: dict[str, list[str]]) -> dict:
    """The recipe as written, each source reading only `paths[name]`, every local path
    absolute (the build runs in a folder of its own)."""
    def fix(path: str) -> str:
        return path if "://" in path else os.path.abspath(path)
    raw = json.loads(json.dumps(recipe.raw))
    for source in raw["sources"]:
        source["paths"] = [fix(p) for p in paths[source["name"]]]
    for eval_set in (raw.get("decontaminate") or {}).get("sets", []):
        eval_set["paths"] = [fix(p) for p in ([eval_set["paths"]] if isinstance(eval_set["paths"], str)
                                              else eval_set["paths"])]
    if (raw.get("tokenizer") or {}).get("path"):
        raw["tokenizer"]["path"] = fix(raw["tokenizer"]["path"])
    return raw


def measure_build(raw: dict, folder: str, name: str) -> tuple[float, float]:
    """(CPU s of the whole process tree, wall s) of `python -m pipeline build` on `raw`."""
    import subprocess

    import yaml

    from pipeline.proctree import run_measured
    recipe_path = os.path.join(folder, f"{name}.yaml")
    with open(recipe_path, "w") as f:
        yaml.safe_dump(raw, f)
    with open(os.path.join(folder, f"{name}.log"), "w+") as log:
        run = run_measured([sys.executable, "-m", "pipeline", "build", "--recipe", recipe_path,
                            "--output", os.path.join(folder, name), "--no_progress"],
                           stdout=subprocess.DEVNULL, stderr=log)
        if run.returncode != 0:
            log.seek(0)
            lines = log.read().strip().splitlines() or [""]
            raise RuntimeError(f"the sample build exited with {run.returncode}: {lines[-1]}")
    return run.cpu_s, run.wall_s


def measure_runner(recipe: Recipe, samples: list[SourceSample]) -> RunnerFigures:
    """The sample built through the local runner, whole and as each source's smallest file."""
    with tempfile.TemporaryDirectory(prefix="corpusmill-plan-") as folder:
        full = sample_recipe(recipe, {s.name: s.sampled_paths for s in samples})
        small = sample_recipe(recipe, {s.name: [s.smallest_path] for s in samples})
        full_bytes = sum(s.sampled_bytes for s in samples)
        small_bytes = sum(s.smallest_bytes for s in samples)
        small_run = measure_build(small, folder, "small") if small_bytes < full_bytes else None
        full_run = measure_build(full, folder, "full")
    return RunnerFigures((small_bytes, *small_run) if small_run else (full_bytes, *full_run),
                         (full_bytes, *full_run))


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1000
    return ""


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds / 3600:,.1f} h"


def estimate(recipe: Recipe, samples: list[SourceSample], tokens: TokenFigures, sign_s: float, workers: int,
             runner: RunnerFigures | None = None, runner_error: str = "") -> str:
    dtype_bytes = 2 if tokens.vocab_size <= 65536 else 4
    lines = [f"plan for recipe {recipe.name!r}: {sum(s.input_bytes for s in samples) / 1e9:,.3f} GB in "
             f"{sum(s.files for s in samples):,} files; sampled "
             f"{sum(s.sampled_bytes for s in samples) / 1e6:,.1f} MB in {sum(s.sampled_files for s in samples)} files",
             "",
             f"{'source':<20} {'kind':<5} {'input':>10} {'sampled':>9} {'docs read':>12} {'kept by rules':>14} "
             f"{'after dedup':>12} {'tokens':>10} {'epochs':>6} {'stream tokens':>14}"]
    totals = {"read": 0.0, "kept": 0.0, "dedup": 0.0, "kept_bytes": 0.0, "tokens": 0.0, "stream": 0.0,
              "validation": 0.0, "copies": 0.0, "clean_s": 0.0}
    for s in samples:
        read, kept, deduplicated = s.read * s.scale, s.kept * s.scale, s.deduplicated * s.scale
        n_tokens, stream = s.tokens * s.scale, s.stream_tokens * s.scale
        totals["read"] += read
        totals["kept"] += kept
        totals["dedup"] += deduplicated
        totals["kept_bytes"] += s.kept_bytes * s.scale
        totals["tokens"] += n_tokens
        totals["stream"] += stream
        totals["validation"] += s.validation_tokens * s.scale
        totals["copies"] += deduplicated * ((1 - s.validation) * s.epochs + s.validation)
        totals["clean_s"] += s.seconds * s.scale
        lines.append(f"{s.name:<20} {s.kind:<5} {_size(s.input_bytes):>10} {_size(s.sampled_bytes):>9} "
                     f"{read:>12,.0f} {kept:>14,.0f} {deduplicated:>12,.0f} {n_tokens / 1e6:>9,.2f}M "
                     f"{s.epochs:>6g} {stream / 1e6:>13,.2f}M")
    phase_tokens = sum(p.tokens for p in recipe.continuation)   # each continuation phase's own shards
    phase_copies = phase_tokens / max(totals["stream"], 1) * totals["copies"]   # at the stream's mean length
    output = ((totals["stream"] + totals["validation"] + phase_tokens) * dtype_bytes
              + (totals["copies"] + phase_copies) * (IDX_BYTES_PER_DOC + LINEAGE_BYTES_PER_DOC))
    tokenize_s = 2 * totals["kept_bytes"] * tokens.encode_s_per_byte   # the count pass and the shard pass
    sign_total = totals["kept_bytes"] * sign_s
    rules_cpu = totals["clean_s"] + tokenize_s + sign_total
    whole = all(s.whole for s in samples)
    input_bytes = sum(s.input_bytes for s in samples)
    lines += ["",
              f"documents: {totals['read']:,.0f} read, {totals['kept']:,.0f} kept before dedup "
              f"({totals['kept'] / max(totals['read'], 1):.1%}), {totals['dedup']:,.0f} after dedup"
              + ("" if whole else " (at most: dedup within the sample finds only its own duplicates)"),
              f"tokens: {totals['tokens']:,.0f} unique, {totals['stream']:,.0f} in the training "
              f"stream; {tokens.bytes_per_token:.2f} bytes/token, vocabulary {tokens.vocab_size:,} "
              f"({'uint16' if dtype_bytes == 2 else 'int32'})",
              *([f"phases: {', '.join(f'{p.name} {p.tokens:,} tokens at {p.seq_len:,}' for p in recipe.continuation)}"
                 " (continuation streams of their own shards, drawn from the same documents)"]
                if recipe.continuation else []),
              f"output: about {_size(output)} (tokens, .idx and lineage)"]
    kernels = (f"the rules alone {_duration(rules_cpu)}: clean rules {_duration(totals['clean_s'])}, "
               f"tokenizing twice {_duration(tokenize_s)}, MinHash {_duration(sign_total)}")
    if runner is not None:
        cpu, wall = runner.at(input_bytes)
        (fixed_cpu, fixed_wall), (per_cpu, _) = runner.fixed(), runner.marginal()
        lines += [f"CPU: {_duration(cpu)} on the local runner ({kernels}; measured by building the sample: "
                  f"{per_cpu * 1e6:.2f} CPU-s per input MB plus {_duration(fixed_cpu)} per build)",
                  f"wall: about {_duration(wall)} with the local runner's {workers} worker(s) (as measured; "
                  f"{_duration(fixed_wall)} of it per build); {_duration(per_cpu * input_bytes / 100)} on 100 "
                  f"cluster vCPUs, plus start-up"]
    else:
        lines += [f"CPU: {_duration(rules_cpu)}, {kernels}; before the runner's own cost "
                  + (f"(the sample build failed: {runner_error})" if runner_error else "(--no-build)"),
                  f"wall: about {_duration(rules_cpu / workers + 2 * JOB_STARTUP_S)} on {workers} local "
                  f"worker(s); {_duration(rules_cpu / 100)} on 100 cluster vCPUs"]
    lines.append(f"memory (local runner): about {_size(LOCAL_BASE_BYTES + LOCAL_BYTES_PER_DOC * totals['kept'])} "
                 f"peak; cluster workers stay bounded (bench/README.md)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline plan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--sample-mb", type=float, default=64.0, help="input megabytes sampled per source")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-build", action="store_true",
                        help="skip building the sample through the runner: the rules' CPU figure only")
    args = parser.parse_args(argv)
    recipe = load_recipe(args.recipe)
    samples = [measure_source(recipe, spec, int(args.sample_mb * 1e6)) for spec in recipe.sources]
    docs = deduplicate(recipe, samples)
    if not docs:
        print("the sample kept no documents: nothing to estimate from (loosen the recipe or sample more)",
              file=sys.stderr)
        return 1
    tokens = count_tokens(recipe, samples, docs)
    sign_s = signing_s_per_byte(recipe, [d.text for d in docs])
    runner, error = None, ""
    if not args.no_build:
        try:
            runner = measure_runner(recipe, samples)
        except (RuntimeError, OSError) as exc:
            error = str(exc)
    print(estimate(recipe, samples, tokens, sign_s, args.workers, runner, error))
    return 0
