"""Boilerplate removal (dedup.paragraphs) on real pages with planted boilerplate.

    python -m bench.paragraphs [--pages 300] [--min-documents 3]

Pages: the sample's documentation pages (sources/samples/refinedweb), each with a
cookie banner, a four-line navigation block and a footer (its year varying) planted
at random line positions, as tests/test_paragraphs.py plants them; their own lines
repeat naturally too (reST markup, "See also", version notes). The stage's rule
(pipeline/rules/paragraphs.reference, which the Beam stage matches in the tests) runs
with line units. Reported: the planted copies removed, against the goal of all but
the first page's; how much of the pages' own text went, and which of their lines
went most often.
"""
from __future__ import annotations

import argparse
from collections import Counter

from pipeline.rules.paragraphs import ParagraphSpec, reference, split_units


def main(argv: list[str] | None = None) -> None:
    from tests.test_paragraphs import BANNER, NAVIGATION, planted
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--min-documents", type=int, default=3)
    args = parser.parse_args(argv)
    docs = planted(args.pages)
    spec = ParagraphSpec(min_documents=args.min_documents, min_chars=200)
    verdicts = reference([(d.id, d.source, d.text) for d in docs], spec)

    def is_planted(line: str) -> bool:
        return line == BANNER or line in NAVIGATION or (line.startswith("Copyright 20") and "Example Media" in line)

    planted_total = planted_removed = own_chars = own_removed = 0
    removed_lines = Counter()
    for doc in docs:
        lines = split_units(doc.text, "line")
        gone = set(verdicts[doc.id].removed) if doc.id in verdicts else set()
        if doc.id in verdicts and verdicts[doc.id].drop:
            gone = set(range(len(lines)))
        for i, line in enumerate(lines):
            if is_planted(line):
                planted_total += 1
                planted_removed += i in gone
            else:
                own_chars += len(line) + 1
                if i in gone:
                    own_removed += len(line) + 1
                    removed_lines[line.strip()[:60]] += 1
    copies = len(NAVIGATION) + 2
    print(f"{len(docs)} pages, {copies} planted lines each; min_documents {args.min_documents}, line units")
    print(f"planted lines removed: {planted_removed:,} of {planted_total:,} "
          f"(goal: all but the first page's, {planted_total - copies:,})")
    print(f"pages' own text removed: {own_removed:,} of {own_chars:,} characters ({own_removed / own_chars:.2%}); "
          f"pages dropped: {sum(v.drop for v in verdicts.values())}")
    print("own lines removed most often:")
    for line, n in removed_lines.most_common(8):
        print(f"  {n:>5}  {line!r}")


if __name__ == "__main__":
    main()
