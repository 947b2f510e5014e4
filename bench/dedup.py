"""Near-dedup quality (precision/recall against true Jaccard) and signature speed.

    python -m bench.dedup quality [--docs 1000]
    python -m bench.dedup speed [--docs 5000] [--peer-every 1]
    python -m bench.dedup memory --docs N

memory: the whole Deduplicate stage (exact + near) on the DirectRunner over N
synthetic-but-realistic documents (real text, 300 words, every word sequence
perturbed per document, one in ten a planted near-copy of the one before),
generated inside the pipeline so no Create holds them; prints the process's
peak RSS. Run it at two sizes: the difference over the added documents is the
per-document memory of the dedup shuffle.

quality: base documents are real text from this machine (the standard library's
modules and the installed packages' READMEs, cut to 300 to 1,200 words). For
each, variants are planted at a spread of similarities: word edits (a fraction
of words replaced), insertions (sentences from another document added),
boilerplate (a shared header and footer around the text) and reordered
paragraphs. The recipe's MinHash LSH (14x8, word 5-grams) runs on everything;
every pair that shares a bucket (a candidate: one of the two is removed unless
both lose to others) gets its true Jaccard similarity on shingles. A candidate
pair removes a document only when its sketches verify the similarity
(`min_similarity`, 0.7 by default); both the raw buckets and the verified pairs
are reported: recall per similarity bin over the planted pairs, the share of
planted pairs under 0.5 removed (false removals), and the share of all removing
pairs at or above 0.7 (pair precision).

speed: shingling plus signatures per second, single-threaded, ours
(pipeline/rules/minhash.py) against datatrove's MinhashDedupSignature
(`get_shingles` + `get_signature`, the work its signature stage does per
document) on the same documents, in the same run. Past 5,000 documents the
documents are `memory`'s synthetic stream, and `--peer-every 50` gives datatrove
every 50th of them (1 million through datatrove would take hours).
"""
from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

BINS = [(0.0, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)]


def base_texts(limit: int) -> list[str]:
    """Distinct real text, 300 to 1,200 words each: package READMEs, then the standard
    library's modules, then the installed packages' Python files, until `limit`."""
    from bench.filters import package_readmes
    out = []

    def add(text: str) -> bool:
        words = text.split()
        for start in range(0, len(words) - 300, 1200):
            out.append(" ".join(words[start:start + 1200]))
        return len(out) >= limit

    for text in package_readmes():
        if add(text):
            return out[:limit]
    paths = []
    for name in sorted(sys.stdlib_module_names):
        spec = importlib.util.find_spec(name) if not name.startswith("_") else None
        if spec and spec.origin and spec.origin.endswith(".py"):
            paths.append(spec.origin)
    import pathlib
    import sysconfig
    paths += sorted(str(p) for p in pathlib.Path(sysconfig.get_paths()["purelib"]).rglob("*.py"))
    for path in paths:
        if add(open(path, encoding="utf-8", errors="replace").read()):
            break
    return out[:limit]


def plant(text: str, donor: str, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, variant) pairs at a spread of similarities to `text`."""
    words = text.split()
    variants = []
    for fraction in (0.005, 0.02, 0.05, 0.1, 0.2, 0.35):
        edited = list(words)
        for i in rng.sample(range(len(words)), max(1, int(len(words) * fraction))):
            edited[i] = f"w{rng.randrange(10 ** 9)}"
        variants.append((f"edit {fraction:.1%}", " ".join(edited)))
    extra = donor.split()
    for share in (0.1, 0.4):
        at = rng.randrange(len(words))
        variants.append((f"insert {share:.0%}", " ".join(words[:at] + extra[:int(len(words) * share)] + words[at:])))
    boiler = "Home | About | Contact | Privacy policy | Terms of use | Subscribe to our newsletter"
    variants.append(("boilerplate", f"{boiler}\n\n{text}\n\n{boiler} (c) 2024 All rights reserved"))
    paragraphs = [" ".join(words[i:i + 60]) for i in range(0, len(words), 60)]
    rng.shuffle(paragraphs)
    variants.append(("reordered", "\n\n".join(paragraphs)))
    return variants


def quality(n_docs: int) -> None:
    from pipeline.rules.minhash import MinHashParams, Signer, estimated_similarity, jaccard, shingles, sketch
    rng = random.Random(0)
    bases = base_texts(n_docs)
    docs, planted = [], []                      # planted: (base index, variant index, kind)
    for i, text in enumerate(bases):
        docs.append(text)
    for i, text in enumerate(bases):
        for kind, variant in plant(text, bases[(i + 1) % len(bases)], rng):
            planted.append((i, len(docs), kind))
            docs.append(variant)
    params = MinHashParams()
    signer = Signer(params)
    start = time.perf_counter()
    sets = [shingles(t, params.ngram) for t in docs]
    buckets, sketches = defaultdict(list), {}
    for i, s in enumerate(sets):
        sig = signer.signature(s)
        if sig is not None:
            sketches[i] = sketch(sig)
            for key in signer.band_keys(sig):
                buckets[key].append(i)
    in_bucket = {(a, b) for members in buckets.values() for a in members for b in members if a < b}
    candidates = {(a, b) for a, b in in_bucket
                  if estimated_similarity(sketches[a], sketches[b]) >= params.min_similarity}
    elapsed = time.perf_counter() - start
    print(f"{len(bases)} base documents + {len(planted)} planted variants = {len(docs)} documents; "
          f"{len(in_bucket)} pairs share a bucket, {len(candidates)} verified at >= {params.min_similarity}; "
          f"LSH {params.bands}x{params.rows}, 50% point {params.threshold():.3f}; {elapsed:.1f} s")
    for label, pairs in (("buckets only", in_bucket), ("verified", candidates)):
        report(label, pairs, sets, planted, jaccard)


def report(label, candidates, sets, planted, jaccard) -> None:
    print(f"\n=== {label} ===")
    sims = {pair: jaccard(sets[pair[0]], sets[pair[1]]) for pair in candidates}
    by_bin = defaultdict(lambda: [0, 0])
    by_kind = defaultdict(list)
    for base, variant, kind in planted:
        j = jaccard(sets[base], sets[variant])
        hit = (base, variant) in candidates
        for lo, hi in BINS:
            if lo <= j < hi:
                by_bin[(lo, hi)][0] += 1
                by_bin[(lo, hi)][1] += hit
        by_kind[kind].append((j, hit))
    print("\nplanted pairs by true Jaccard similarity:")
    print(f"{'similarity':>12}{'pairs':>8}{'found':>8}{'recall':>9}")
    for lo, hi in BINS:
        n, hit = by_bin[(lo, hi)]
        print(f"{lo:>5.1f}-{min(hi, 1.0):<6.1f}{n:>8}{hit:>8}{(hit / n if n else float('nan')):>9.2%}")
    print("\nby kind of variant: mean similarity, share found")
    for kind, rows in by_kind.items():
        print(f"  {kind:<14} {np.mean([j for j, _ in rows]):.3f}  {np.mean([h for _, h in rows]):.2%}")
    high = by_bin[(0.9, 1.01)]
    low = [by_bin[b] for b in BINS if b[1] <= 0.5]
    low_n, low_hit = sum(n for n, _ in low), sum(h for _, h in low)
    print(f"\nrecall at >= 0.9: {high[1] / max(high[0], 1):.2%} (goal >= 98%)")
    print(f"false removals under 0.5: {low_hit}/{low_n} = {low_hit / max(low_n, 1):.2%} of planted pairs (goal < 0.5%)")
    all_low = sum(1 for j in sims.values() if j < 0.5)
    print(f"removing pairs: {len(sims)}, at >= 0.7: {sum(j >= 0.7 for j in sims.values()) / max(len(sims), 1):.2%}, "
          f"under 0.5: {all_low} ({all_low / max(len(sims), 1):.2%})")


def datatrove_signer(tmp: str):
    """datatrove's MinhashDedupSignature per-document work: shingles, then the signature."""
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    step = MinhashDedupSignature(output_folder=tmp, config=MinhashConfig())
    # datatrove 0.10.1 hands xxhash a str, which xxhash 3.x refuses; hash the UTF-8 bytes,
    # as it intends (xxh64, its default 64-bit configuration)
    import xxhash
    step._hash_func = lambda text: xxhash.xxh64_intdigest(text.encode("utf-8"))
    return lambda text: step.get_signature(step.get_shingles(text))


def speed(n_docs: int, peer_every: int) -> None:
    """Ours on every document, datatrove on every `peer_every`-th (all of them by default;
    at 1 million documents datatrove alone would take hours), in one run. Up to 5,000
    documents are real text (base_texts); beyond, the synthetic stream of `memory`,
    generated in chunks outside the timed sections."""
    from pipeline.rules.minhash import MinHashParams, Signer
    signer = Signer(MinHashParams())
    chunks = [base_texts(n_docs)] if n_docs <= 5000 else synthetic_chunks(n_docs)
    ours = theirs = mb = peer_mb = ours_on_peer = 0.0
    docs = peer_docs = 0
    with tempfile.TemporaryDirectory() as tmp:
        theirs_sign = datatrove_signer(tmp)
        for texts in chunks:
            start = time.perf_counter()
            for t in texts:
                signer.keys_and_sketch(t)
            ours += time.perf_counter() - start
            peer = texts[::peer_every]
            start = time.perf_counter()
            for t in peer:
                signer.keys_and_sketch(t)
            ours_on_peer += time.perf_counter() - start
            start = time.perf_counter()
            for t in peer:
                theirs_sign(t)
            theirs += time.perf_counter() - start
            docs, peer_docs = docs + len(texts), peer_docs + len(peer)
            mb += sum(len(t.encode()) for t in texts) / 1e6
            peer_mb += sum(len(t.encode()) for t in peer) / 1e6
    print(f"{docs:,} documents, {mb:,.1f} MB, mean {mb * 1e6 / docs:,.0f} bytes; "
          f"datatrove on {peer_docs:,} of them (every {peer_every})")
    print(f"ours, all documents (shingles, signature, band keys, sketch): {ours:8.1f} s  "
          f"{docs / ours:8.0f} docs/s  {mb / ours:6.2f} MB/s")
    print(f"ours, datatrove's documents: {ours_on_peer:8.1f} s  {peer_docs / ours_on_peer:8.0f} docs/s")
    print(f"datatrove MinhashDedupSignature: {theirs:8.1f} s  {peer_docs / theirs:8.0f} docs/s  "
          f"{peer_mb / theirs:6.2f} MB/s   speed-up {theirs / ours_on_peer:.1f}x")


def synthetic_chunks(n_docs: int, chunk: int = 10_000):
    pool = base_texts(500)
    for first in range(0, n_docs, chunk):
        yield [d.text for seed in range(first // 1000, (first + chunk) // 1000) for d in synthetic(seed, pool, 1000)]


def synthetic(seed: int, pool: list[str], per_seed: int):
    """`per_seed` documents from one seed: real words, perturbed so no two are alike."""
    from sources.document import Document
    rng = random.Random(seed)
    previous = None
    for k in range(per_seed):
        i = seed * per_seed + k
        if previous is not None and k % 10 == 9:
            words = previous.split()
            words[rng.randrange(len(words))] = f"w{rng.randrange(10 ** 9)}"
        else:
            words = pool[i % len(pool)].split()[:300]
            for j in rng.sample(range(len(words)), len(words) // 5):
                words[j] = f"w{rng.randrange(10 ** 9)}"
        previous = " ".join(words)
        yield Document(id=f"synthetic/{i:09d}@0", text=previous, kind="text", source="synthetic")


def memory(n_docs: int) -> None:
    import resource

    import apache_beam as beam

    from pipeline.rules.minhash import MinHashParams
    from pipeline.transforms.dedup import Deduplicate
    pool = base_texts(500)
    per_seed = 1000
    start = time.perf_counter()
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.runners import with_local_runner
    p = beam.Pipeline(options=with_local_runner(PipelineOptions([])))
    out = (p
           | beam.Create(range(n_docs // per_seed))
           | beam.FlatMap(synthetic, pool, per_seed)
           | Deduplicate(exact=True, near=MinHashParams()))
    (out.drop_list | beam.combiners.Count.Globally()
     | beam.Map(lambda n: print(f"{n} documents removed")))
    result = p.run()
    result.wait_until_finish()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n_docs} documents: {time.perf_counter() - start:.1f} s, peak RSS {peak:,.0f} MB")
    from apache_beam.metrics.metric import MetricsFilter
    for counter in result.metrics().query(MetricsFilter())["counters"]:
        if counter.key.metric.name.endswith("_bytes"):
            print(f"  {counter.key.metric.name}: {counter.committed / n_docs:,.0f} bytes/document")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["quality", "speed", "memory"])
    parser.add_argument("--docs", type=int)
    parser.add_argument("--peer-every", type=int, default=1, help="speed: datatrove on every k-th document")
    args = parser.parse_args()
    if args.what == "quality":
        quality(args.docs or 1000)
    elif args.what == "speed":
        speed(args.docs or 5000, args.peer_every)
    else:
        memory(args.docs or 20000)


if __name__ == "__main__":
    main()
