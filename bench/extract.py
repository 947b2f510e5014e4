"""Read + extract throughput per core on WARC: resiliparse vs trafilatura, same pages.

    python -m bench.extract [--paths 'sources/samples/cc/*.warc.gz'] [--repeat 2]

Reads the WARC files with our reader (FastWARC, charset handling), then extracts
every HTML page with each extractor, single-threaded in this process, best of
--repeat. MB are the HTML bytes of the pages; the WARC read is timed on its own.
"""
from __future__ import annotations

import argparse
import glob
import time

from pipeline.rules.extract import html_to_text
from sources.document import Document
from sources.files import ReadContext
from sources.warc import read_warc


def read_pages(paths: list[str]) -> tuple[list[Document], float, int]:
    start, pages, raw = time.perf_counter(), [], 0
    for path in paths:
        with open(path, "rb") as f:
            raw += len(f.read())
            f.seek(0)
            pages += [d for d in read_warc(f, ReadContext("bench", "text", path, path)) if isinstance(d, Document)]
    return pages, time.perf_counter() - start, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", default="sources/samples/cc/*.warc.gz")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    paths = sorted(glob.glob(args.paths))
    pages, read_s, raw = read_pages(paths)
    mb = sum(len(p.text.encode("utf-8")) for p in pages) / 1e6
    print(f"{len(paths)} WARC files, {raw / 1e6:.2f} MB compressed, {len(pages)} HTML pages, {mb:.2f} MB HTML")
    print(f"read (FastWARC + decode): {mb / read_s:8.2f} MB/s of HTML")
    results = {}
    for method in ("resiliparse", "trafilatura"):
        best = min(_timed(lambda: [html_to_text(p.text, method) for p in pages]) for _ in range(args.repeat))
        results[method] = best
        print(f"extract {method:<12} {mb / best:8.2f} MB/s   read+extract {mb / (best + read_s):8.2f} MB/s")
    print(f"resiliparse / trafilatura speed: {results['trafilatura'] / results['resiliparse']:.1f}x")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
