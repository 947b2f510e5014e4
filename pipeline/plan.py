"""python -m pipeline plan --recipe R [--sample-mb 64] [--workers N]: what a full build will cost.

Lists every input (sizes only), reads a sample of whole files per source (spread
over the listing by a hash of the path, up to --sample-mb per source, at least one
file), runs the recipe's own rules on it in this process (pipeline/reference.py's
chain: extract, normalise, filter, decontaminate), and scales what it measured by
each source's input bytes:

- documents read and kept (before dedup, which a sample cannot predict: duplicates
  are found across the whole corpus; the manifest reports what it removed);
- tokens: bytes per token from a tokenizer trained on half the sample's kept text
  and measured on the other half (or the recipe's tokenizer.json), times epochs;
- output bytes: the stream's tokens at the tokenizer's dtype, the .idx entries and
  lineage rows;
- CPU time: the rules' measured seconds per input byte (timed by the clock, as
  this one process runs alone, so an extractor's child process counts), plus
  tokenizing twice and MinHash signing at the measured rates; wall time for N
  workers;
- local memory: the local runner's peak, about 0.75 GB plus 2 kB per kept document
  (bench/README.md: bench.scale and bench.dedup memory).

Nothing is written. An estimate from a sample is only as good as the sample: a
source whose files differ (crawl segments of different years) wants a bigger one.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from dataclasses import dataclass, field

from pipeline.recipe import Recipe, SourceSpec, load_recipe

LOCAL_BASE_BYTES = 750e6        # bench.scale: the sample build's peak RSS
LOCAL_BYTES_PER_DOC = 2_000     # bench.dedup memory: the dedup stage's growth per document
JOB_STARTUP_S = 8.0             # one Beam job's start on the local runner (two per build)
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
    kept_texts: list[str] = field(default_factory=list, repr=False)

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
    try:
        for file in spread_sample(files, budget):
            sample.sampled_files += 1
            sample.sampled_bytes += file.size
            ctx = ReadContext(spec.name, spec.kind, file.path, file.relpath, spec.columns, spec.options)
            start = time.perf_counter()
            for record in file_records(spec.type, ctx):
                sample.read += 1
                doc = kept_document(record, chain)
                if doc is not None:
                    sample.kept += 1
                    sample.kept_bytes += len(doc.text.encode("utf-8"))
                    sample.kept_texts.append(doc.text)
            sample.seconds += time.perf_counter() - start
    finally:
        chain[0].close()
    return sample


@dataclass(frozen=True)
class TokenFigures:
    bytes_per_token: float
    encode_s_per_byte: float
    vocab_size: int


def token_figures(recipe: Recipe, texts: list[str]) -> TokenFigures:
    """Bytes per token on held-out sample text, and tiktoken's encoding time per byte."""
    from tokenizer.bpe import train_bpe
    from tokenizer.encoding import tiktoken_encoding
    if recipe.tokenizer.path:
        from apache_beam.io.filesystems import FileSystems
        with FileSystems.open(recipe.tokenizer.path) as f:
            tokenizer_json = f.read().decode("utf-8")
        held_out = texts
    else:
        train, held_out = texts[::2], texts[1::2] or texts
        tokenizer_json = train_bpe(train, vocab_size=recipe.tokenizer.vocab_size)
    encoding = tiktoken_encoding(tokenizer_json)
    start = time.perf_counter()
    tokens = sum(len(encoding.encode_ordinary(t)) for t in held_out)
    seconds = time.perf_counter() - start
    n_bytes = sum(len(t.encode("utf-8")) for t in held_out)
    return TokenFigures(n_bytes / max(tokens, 1), seconds / max(n_bytes, 1), encoding.n_vocab)


def signing_s_per_byte(recipe: Recipe, texts: list[str]) -> float:
    if recipe.dedup.near is None or not texts:
        return 0.0
    from pipeline.rules.minhash import Signer
    signer = Signer(recipe.dedup.near)
    start = time.perf_counter()
    for t in texts:
        signer.keys_and_sketch(t)
    return (time.perf_counter() - start) / max(sum(len(t.encode("utf-8")) for t in texts), 1)


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


def estimate(recipe: Recipe, samples: list[SourceSample], tokens: TokenFigures, sign_s: float, workers: int) -> str:
    dtype_bytes = 2 if tokens.vocab_size <= 65536 else 4
    lines = [f"plan for recipe {recipe.name!r}: {sum(s.input_bytes for s in samples) / 1e9:,.3f} GB in "
             f"{sum(s.files for s in samples):,} files; sampled "
             f"{sum(s.sampled_bytes for s in samples) / 1e6:,.1f} MB in {sum(s.sampled_files for s in samples)} files",
             "",
             f"{'source':<20} {'kind':<5} {'input':>10} {'sampled':>9} {'docs read':>14} {'kept (pre-dedup)':>17} "
             f"{'kept text':>10} {'tokens':>10} {'epochs':>6} {'stream tokens':>14}"]
    totals = {"read": 0.0, "kept": 0.0, "kept_bytes": 0.0, "tokens": 0.0, "stream": 0.0, "validation": 0.0,
              "copies": 0.0, "clean_s": 0.0}
    for s in samples:
        read, kept, kept_bytes = s.read * s.scale, s.kept * s.scale, s.kept_bytes * s.scale
        n_tokens = kept_bytes / tokens.bytes_per_token + kept   # + one EOS per document
        stream = n_tokens * (1 - s.validation) * s.epochs
        totals["read"] += read
        totals["kept"] += kept
        totals["kept_bytes"] += kept_bytes
        totals["tokens"] += n_tokens
        totals["stream"] += stream
        totals["validation"] += n_tokens * s.validation
        totals["copies"] += kept * ((1 - s.validation) * s.epochs + s.validation)
        totals["clean_s"] += s.seconds * s.scale
        lines.append(f"{s.name:<20} {s.kind:<5} {_size(s.input_bytes):>10} {_size(s.sampled_bytes):>9} "
                     f"{read:>14,.0f} {kept:>17,.0f} {_size(kept_bytes):>10} {n_tokens / 1e6:>9,.1f}M "
                     f"{s.epochs:>6g} {stream / 1e6:>13,.1f}M")
    output = ((totals["stream"] + totals["validation"]) * dtype_bytes
              + totals["copies"] * (IDX_BYTES_PER_DOC + LINEAGE_BYTES_PER_DOC))
    tokenize_s = 2 * totals["kept_bytes"] * tokens.encode_s_per_byte   # the count pass and the shard pass
    sign_total = totals["kept_bytes"] * sign_s
    cpu = totals["clean_s"] + tokenize_s + sign_total
    lines += ["",
              f"documents: {totals['read']:,.0f} read, {totals['kept']:,.0f} kept before dedup "
              f"({totals['kept'] / max(totals['read'], 1):.1%})",
              f"tokens: {totals['tokens']:,.0f} unique, {totals['stream']:,.0f} in the training "
              f"stream; {tokens.bytes_per_token:.2f} bytes/token, vocabulary {tokens.vocab_size:,} "
              f"({'uint16' if dtype_bytes == 2 else 'int32'})",
              f"output: about {_size(output)} (tokens, .idx and lineage)",
              f"CPU: {_duration(cpu)} (clean rules {_duration(totals['clean_s'])}, tokenizing twice "
              f"{_duration(tokenize_s)}, MinHash {_duration(sign_total)}), before shuffles and I/O",
              f"wall: about {_duration(cpu / workers + 2 * JOB_STARTUP_S)} on {workers} local worker(s); "
              f"{_duration(cpu / 100)} on 100 cluster vCPUs",
              f"memory (local runner): about {_size(LOCAL_BASE_BYTES + LOCAL_BYTES_PER_DOC * totals['kept'])} peak; "
              f"cluster workers stay bounded (bench/README.md)"]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline plan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--sample-mb", type=float, default=64.0, help="input megabytes sampled per source")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    recipe = load_recipe(args.recipe)
    samples = [measure_source(recipe, spec, int(args.sample_mb * 1e6)) for spec in recipe.sources]
    texts = [t for s in samples for t in s.kept_texts]
    if not texts:
        print("the sample kept no documents: nothing to estimate from (loosen the recipe or sample more)",
              file=sys.stderr)
        return 1
    print(estimate(recipe, samples, token_figures(recipe, texts), signing_s_per_byte(recipe, texts), args.workers))
    return 0
