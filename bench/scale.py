"""Peak memory of a whole corpus build at 1x and at k x the sample's input.

    python -m bench.scale [--copies 4] [--work /tmp/corpusmill-scale]

Builds the sample recipe twice, each under /usr/bin/time -v: on the sample's
inputs, and on `copies` times as much input. The extra copies of the parquet
sources (RefinedWeb-style text and Stack-style code) are the same rows with
every third space-separated word swapped for another word of the same row (a
fixed seed per copy), so language, Gopher and code statistics stay those of real
text while the word 5-grams differ enough that exact, URL and near dedup keep
them (each URL gets a `copy` query parameter, each code path a `copy<k>/` prefix). The WARC source is included as
is in every copy, so exact dedup removes its extra copies: it is read and
extracted k times, tokenized once. Prints, per build, documents, tokens, wall
time and peak RSS, and the ratio of the peaks (issue goal: within 1.25x at 4x).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import random
import re
import shutil
import subprocess
import sys

import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
SAMPLE = REPO / "recipes" / "sample.yaml"


def perturb(text: str, rng: random.Random) -> str:
    """Every third non-empty space-separated word swapped for another word of the text
    (indentation, made of empty strings between spaces, stays as it is)."""
    words = text.split(" ")
    filled = [i for i, w in enumerate(words) if w]
    for i in filled[::3]:
        words[i] = words[filled[rng.randrange(len(filled))]]
    return " ".join(words)


def write_inputs(work: pathlib.Path, copies: int) -> pathlib.Path:
    """k x the sample's inputs under `work`, and a recipe reading them; returns the recipe."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    recipe = yaml.safe_load(SAMPLE.read_text())
    for source in recipe["sources"]:
        folder = work / source["name"]
        folder.mkdir(parents=True, exist_ok=True)
        files = sorted(p for pattern in source["paths"] for p in REPO.glob(pattern))
        for copy in range(copies):
            for path in files:
                target = folder / f"{path.stem}-copy{copy}{''.join(path.suffixes)}"
                if copy == 0 or source["type"] != "parquet":
                    shutil.copyfile(path, target)
                    continue
                table = pq.read_table(path)
                rows = table.to_pylist()
                columns = source["columns"]
                for n, row in enumerate(rows):
                    row[columns["text"]] = perturb(row[columns["text"]], random.Random(f"{copy}/{path.name}/{n}"))
                    if row.get(columns.get("url")):
                        url = row[columns["url"]]
                        row[columns["url"]] = f"{url}{'&' if '?' in url else '?'}copy={copy}"
                    if row.get(columns.get("path")):   # a code file's URL is made from its path
                        row[columns["path"]] = f"copy{copy}/{row[columns['path']]}"
                pq.write_table(pa.Table.from_pylist(rows, table.schema), target)
        source["paths"] = [str(folder / "*")]
    for spec in (recipe.get("decontaminate") or {}).get("sets", []):
        spec["paths"] = [str(REPO / p) for p in spec["paths"]]
    path = work / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def build(recipe: pathlib.Path, output: pathlib.Path) -> dict:
    shutil.rmtree(output, ignore_errors=True)
    result = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "pipeline", "build",
                             "--recipe", str(recipe), "--output", str(output)],
                            cwd=REPO, capture_output=True, text=True, check=True)
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1)) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", result.stderr).group(1)
    stats = json.loads((output / "manifest.json").read_text())["stats"]
    return {"peak_mb": peak, "wall": wall, **{k: stats[k] for k in ("documents", "tokens", "stream_tokens")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--work", default="/tmp/corpusmill-scale")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    runs = {}
    for copies in (1, args.copies):
        recipe = write_inputs(work / f"x{copies}", copies)
        runs[copies] = build(recipe, work / f"x{copies}" / "out")
        r = runs[copies]
        print(f"{copies}x input: {r['documents']:,} documents, {r['tokens']:,} tokens "
              f"({r['stream_tokens']:,} in the stream), wall {r['wall']}, peak RSS {r['peak_mb']:,.0f} MB")
    print(f"peak at {args.copies}x / peak at 1x: {runs[args.copies]['peak_mb'] / runs[1]['peak_mb']:.2f} "
          f"(goal: at most 1.25)")


if __name__ == "__main__":
    main()
