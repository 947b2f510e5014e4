"""Language ID on a bounded prefix against the whole text: does it keep the decisions?

    python -m bench.lid_prefix [--pages DIR ...] [--prefix 1000 2000 5000 10000 20000 50000]

Issue 23 allows lid.176 on a prefix only if the filter's decisions stay within 0.5%
of full-text lid on a real multilingual set. The set: HTML pages in many languages
that Debian packages (nothing here fetches them; once, by hand):

    mkdir -p /tmp/ml && cd /tmp/ml && apt-get download debian-handbook \\
        debian-reference-{en,de,es,fr,id,it,ja,pt,pt-br,zh-cn,zh-tw} && for f in *.deb; do dpkg -x $f x; done

(the Debian Administrator's Handbook in 27 languages, many chapters partly
translated, so pages mix English with their language: the hard cases; the Debian
Reference in 12), with this machine's CPython documentation (English, code-heavy).
Each page is extracted (resiliparse), normalized and mojibake-repaired as the
FineWeb recipe does, then identified on its whole text and on its first N characters
(cut at a space). A decision is the language rule's: kept, `language_uncertain`
(score under 0.65) or `language_other`, for the English-only filter and for a filter
keeping every language met. CPU is the process clock of the fastText calls alone.
"""
from __future__ import annotations

import argparse
import collections
import glob
import pathlib
import time

DEFAULT_PAGES = ("/tmp/ml/x", "/usr/share/doc/python3.11/html")


def pages(folders) -> list[str]:
    """The normalized text of every HTML page (symlinks skipped) with 200 characters or more."""
    from pipeline.rules.extract import html_to_text
    from pipeline.rules.normalize import fix_mojibake, normalize_text
    texts = []
    for folder in folders:
        for path in sorted(glob.glob(f"{folder}/**/*.html", recursive=True)):
            if pathlib.Path(path).is_symlink():
                continue
            html = pathlib.Path(path).read_bytes().decode("utf-8", "replace")
            text = normalize_text(fix_mojibake(html_to_text(html, "resiliparse")))
            if len(text) >= 200:
                texts.append(text)
    return texts


def prefix(text: str, n: int) -> str:
    if len(text) <= n:
        return text
    end = text.rfind(" ", 0, n)
    return text[:end if end > 0 else n]


def decision(label: str, score: float, languages, threshold: float = 0.65) -> str:
    return "language_uncertain" if score < threshold else ("kept" if label in languages else "language_other")


def identified(texts: list[str]) -> tuple[list[tuple[str, float]], float]:
    from pipeline.rules.language import identify
    start = time.process_time()
    found = [identify(t) for t in texts]
    return found, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", nargs="+", default=list(DEFAULT_PAGES))
    parser.add_argument("--prefix", type=int, nargs="+", default=[1000, 2000, 5000, 10000, 20000, 50000])
    args = parser.parse_args()
    texts = pages(args.pages)
    if not texts:
        raise SystemExit(f"no HTML pages under {args.pages}; see the module's docstring")
    full, full_cpu = identified(texts)
    every = {label for label, _ in full}
    labels = collections.Counter(label for label, _ in full)
    print(f"{len(texts):,} pages, {sum(map(len, texts)) / 1e6:.1f} M characters; full-text lid {full_cpu:.2f} CPU-s; "
          f"{len(labels)} languages: " + ", ".join(f"{k} {v}" for k, v in labels.most_common()))
    print("\n| prefix (characters) | pages longer | lid CPU (share of full) | English filter: decisions changed "
          "| every-language filter: decisions changed | top label changed |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.prefix:
        cut, cpu = identified([prefix(t, n) for t in texts])
        english = sum(decision(*a, ("en",)) != decision(*b, ("en",)) for a, b in zip(full, cut))
        anywhere = sum(decision(*a, every) != decision(*b, every) for a, b in zip(full, cut))
        top = sum(a[0] != b[0] for a, b in zip(full, cut))
        print(f"| {n:,} | {sum(len(t) > n for t in texts):,} | {cpu:.2f} s ({cpu / full_cpu:.0%}) | "
              f"{english} ({english / len(texts):.2%}) | {anywhere} ({anywhere / len(texts):.2%}) | {top} |")


if __name__ == "__main__":
    main()
