"""Boilerplate removal (dedup.paragraphs) on real pages with planted boilerplate.

    python -m bench.paragraphs [--pages 300] [--min-documents 3]
    python -m bench.paragraphs --memory N

--memory: the Beam stage (ParagraphDuplicates, line units) on the local runner over
N synthetic pages generated inside the pipeline (bench.dedup's perturbed real words,
with ids as long as Common Crawl's, cut into 40 lines of 8 to 15 words, one page in four with a banner, navigation and
footer from a pool of 50 sites), printing the peak RSS and the packed bytes the
shuffle carried per page. Run it at two sizes: the difference over the added pages is
the stage's memory per page on this runner.

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


def lined_pages(seed: int, pool: list[str], per_seed: int):
    """`per_seed` pages from one seed: bench.dedup's synthetic words in 40 lines, a quarter
    of them with the boilerplate of one of 50 sites."""
    import dataclasses
    import random

    from bench.dedup import synthetic
    rng = random.Random(seed)
    for doc in synthetic(seed, pool, per_seed):
        words = doc.text.split()
        lines, at = [], 0
        while at < len(words) and len(lines) < 40:
            n = rng.randint(8, 15)
            lines.append(" ".join(words[at:at + n]))
            at += n
        if rng.random() < 0.25:
            site = rng.randrange(50)
            lines.insert(0, f"We use cookies on site {site} to improve your experience. Accept all cookies")
            lines.insert(1, f"Home | News {site} | Sport | Weather | Contact us | About site {site}")
            lines.append(f"Copyright 2024 Site {site} Media Ltd. All rights reserved. Privacy policy")
        # an id as long as a Common Crawl page's (the WARC's path in the crawl, then the offset)
        number = int(doc.id.split("/")[1].split("@")[0])
        doc_id = (f"cc/crawl-data/CC-MAIN-2024-10/segments/1707947473347.{number % 100}/warc/"
                  f"CC-MAIN-20240220211055-20240221001055-{number // 1000:05d}.warc.gz@{number * 9973}")
        yield dataclasses.replace(doc, id=doc_id, text="\n".join(lines))


def memory(n_docs: int) -> None:
    import resource
    import time

    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from bench.dedup import base_texts
    from pipeline.runners import with_local_runner
    from pipeline.transforms.dedup import ParagraphDuplicates
    pool, per_seed, start = base_texts(500), 1000, time.perf_counter()
    p = beam.Pipeline(options=with_local_runner(PipelineOptions([])))
    drops, _, edits, _ = (p | beam.Create(range(max(1, n_docs // per_seed)))
                          | beam.FlatMap(lined_pages, pool, per_seed)
                          | ParagraphDuplicates(ParagraphSpec(min_documents=3, unit="line", min_chars=200)))
    (edits | "CountEdited" >> beam.combiners.Count.Globally()
     | "PrintEdited" >> beam.Map(lambda n: print(f"{n} pages edited")))
    (drops | "CountDropped" >> beam.combiners.Count.Globally()
     | "PrintDropped" >> beam.Map(lambda n: print(f"{n} pages dropped")))
    result = p.run()
    result.wait_until_finish()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n_docs} pages: {time.perf_counter() - start:.1f} s, peak RSS {peak:,.0f} MB")
    carried = Counter()
    for counter in result.metrics().query(MetricsFilter())["counters"]:
        if counter.key.metric.name.endswith("_bytes"):
            carried[counter.key.metric.name] += counter.committed
    for name, total in sorted(carried.items()):
        print(f"  {name}: {total / n_docs:,.0f} bytes/page")


def main(argv: list[str] | None = None) -> None:
    from tests.test_paragraphs import BANNER, NAVIGATION, planted
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--min-documents", type=int, default=3)
    parser.add_argument("--memory", type=int, metavar="N", help="the Beam stage's memory over N synthetic pages")
    args = parser.parse_args(argv)
    if args.memory:
        return memory(args.memory)
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
