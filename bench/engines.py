"""One corpus on every engine the tests run: the local runner, a Spark cluster of 1 and
of 2 workers, and Flink; wall, CPU and the bytes each engine says it shuffled.

    python -m bench.engines [--mb 100] [--only local,spark-1,spark-2,flink] [--work /tmp/corpusmill-versus]

The corpus and recipe are bench.versus's (b): our default recipe on 100 MB of CPython
documentation pages, reStructuredText and Python source, nothing fetched. Each run
builds it into a fresh folder, and every output must equal the local runner's file for
file (the manifest's code_version included), or the bench stops.

- wall: from the build's start to its exit, engine start-up excluded (said apart);
- CPU: the machine's busy time over the build, from /proc/stat (user, nice, system,
  irq, softirq, steal). The JVMs and Python harnesses of an engine are not waited-for
  children of this process, so getrusage would miss most of them. The machine must be
  otherwise quiet; an idle engine's own upkeep is counted, as a user would pay it;
- shuffled: Spark's shuffle bytes written (every task's "Shuffle Bytes Written" in the
  driver's event log); Flink's bytes written by its tasks to result partitions
  (`write-bytes` of each job vertex in the embedded cluster's REST API, sampled every
  0.25 s while the job runs: the last quarter second of a job can be missing). The two
  count different things: Flink's count every exchange between tasks that it did not
  chain, Spark's only the shuffle files between stages. The local runner reports none.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

import yaml

from bench.versus import REPO, our_recipe, prepared_corpus

RUNS = ("local", "spark-1", "spark-2", "flink")
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)        # user nice system irq softirq steal


def busy_seconds() -> float:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    return sum(int(fields[i]) for i in BUSY_FIELDS) / os.sysconf("SC_CLK_TCK")


def spark_shuffle_bytes(events_dir: str, since: float) -> int:
    """Shuffle bytes written by every task of the applications logged after `since`."""
    total = 0
    for path in glob.glob(f"{events_dir}/*"):
        if os.path.getmtime(path) < since:
            continue
        with open(path) as f:
            for line in f:
                if '"SparkListenerTaskEnd"' not in line:
                    continue
                metrics = json.loads(line).get("Task Metrics") or {}
                total += metrics.get("Shuffle Write Metrics", {}).get("Shuffle Bytes Written", 0)
    return total


class FlinkBytes:
    """Polls the embedded cluster's REST API; the largest write-bytes seen per job vertex."""

    def __init__(self, port: int):
        self.port, self.seen, self.done = port, {}, threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
            return json.load(r)

    def poll(self):
        while not self.done.wait(0.25):
            try:
                for job in self.get("/jobs/overview")["jobs"]:
                    for vertex in self.get(f"/jobs/{job['jid']}")["vertices"]:
                        key = (job["jid"], vertex["id"])
                        self.seen[key] = max(self.seen.get(key, 0), vertex["metrics"].get("write-bytes", 0))
            except OSError:
                continue     # between jobs no cluster listens

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()

    @property
    def total(self) -> int:
        return sum(self.seen.values())


def build(recipe: pathlib.Path, out: pathlib.Path, args: list[str], log: pathlib.Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "pipeline", "build", "--recipe", str(recipe), "--output", str(out),
           "--no_progress", *args]
    busy, start = busy_seconds(), time.perf_counter()
    with open(log, "w") as f:
        code = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT).returncode
    wall, cpu = time.perf_counter() - start, busy_seconds() - busy
    if code:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}); see {log}")
    return {"wall_s": wall, "cpu_s": cpu}


def same_files(a: pathlib.Path, b: pathlib.Path) -> bool:
    def files(root):
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return files(a) == files(b) and all((a / n).read_bytes() == (b / n).read_bytes() for n in files(a))


def run(name: str, recipe: pathlib.Path, work: pathlib.Path) -> dict:
    from engines.local import down, free_port, up
    out, log = work / f"engine-{name}", work / f"engine-{name}.log"
    if name == "local":
        return build(recipe, out, ["--direct_running_mode=multi_processing", "--direct_num_workers=2"], log)
    engine = name.split("-")[0]
    started = time.perf_counter()
    running = up(engine, free_port(), free_port(), **({"workers": int(name.split("-")[1])} if engine == "spark" else {}))
    startup = time.perf_counter() - started
    try:
        if engine == "spark":
            since = time.time()
            result = build(recipe, out, running.build_args(), log)
            result["shuffled"] = spark_shuffle_bytes(f"{running.log_dir}/events", since)
        else:
            with FlinkBytes(running.master_ui) as flink:
                result = build(recipe, out, [*running.build_args(), "--parallelism=2"], log)
            result["shuffled"] = flink.total
    finally:
        down(engine)
    return {**result, "startup_s": startup}


def table(results: dict, megabytes: float, documents: int) -> str:
    lines = [f"Corpus: {megabytes:.1f} MB of documents, {documents:,} documents read; bench.versus's (b) recipe.", "",
             "| engine | workers | wall s | CPU s | CPU s per MB | shuffled MB | shuffled bytes per document | "
             "engine start s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    names = {"local": ("local runner (multi-process)", 2), "spark-1": ("Spark standalone", 1),
             "spark-2": ("Spark standalone", 2), "flink": ("Flink (embedded runtime, parallelism 2)", 2)}
    for name, r in results.items():
        title, workers = names[name]
        shuffled = r.get("shuffled")
        lines.append(f"| {title} | {workers} | {r['wall_s']:,.1f} | {r['cpu_s']:,.1f} | {r['cpu_s'] / megabytes:.2f} | "
                     + (f"{shuffled / 1e6:,.1f} | {shuffled / documents:,.0f} | " if shuffled is not None else "- | - | ")
                     + (f"{r['startup_s']:.1f} |" if "startup_s" in r else "- |"))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--only", default=",".join(RUNS))
    parser.add_argument("--work", default="/tmp/corpusmill-versus")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    corpus, tokenizer = work / "corpus", work / "tokenizer.json"
    megabytes = sum(prepared_corpus(work, args.mb).values()) / 1e6
    recipe = work / "recipe-engines.yaml"
    recipe.write_text(yaml.safe_dump(our_recipe("b", corpus, tokenizer), sort_keys=False))
    results = {}
    for name in args.only.split(","):
        results[name] = run(name, recipe, work)
        print(name, json.dumps(results[name]), flush=True)
        if name != "local" and (work / "engine-local").exists():
            if not same_files(work / "engine-local", work / f"engine-{name}"):
                raise SystemExit(f"{name}'s output differs from the local runner's")
    manifest = json.loads((work / f"engine-{next(iter(results))}" / "manifest.json").read_text())
    documents = sum(f["read"] for f in manifest["funnel"].values())
    print("\n" + table(results, megabytes, documents))


if __name__ == "__main__":
    main()
