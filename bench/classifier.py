"""Quality classifier speed: documents scored per second on one core.

    python -m bench.classifier [--docs 4000]

Documents: the sample's documentation pages (sources/samples/refinedweb) cut at a
space into 2 to 3 kB pieces, repeated to --docs. A model is trained on them against
their shuffled words as tests/test_classifier.py trains it (floret, 32 dimensions,
bigrams, 100,000 buckets). Three ways of scoring, single-threaded:
- ours: pipeline.rules.classifier.Classifier.score, DCLM's preparation (lower-case,
  whitespace runs to one space) and the binding's predict, probabilities for every
  label, on the trained model;
- ours on lid.176: the same call on fastText's language-ID model (fasttext-predict),
  for a model both libraries read;
- plain fastText on lid.176: `model.predict(text.replace("\\n", " "), k=-1)` and the
  label's probability looked up, the Python call of fastText's own wrapper (which
  checks the line and builds a NumPy array per call).
The issue's goal: at least 5,000 documents/s per core on 2 to 3 kB documents.
"""
from __future__ import annotations

import argparse
import glob
import importlib.resources
import os
import random
import tempfile
import time

import pyarrow.parquet as pq


def documents(n: int) -> list[str]:
    pages = [t for f in sorted(glob.glob("sources/samples/refinedweb/*.parquet"))
             for t in pq.read_table(f, columns=["content"]).column("content").to_pylist()]
    pieces, rng = [], random.Random(0)
    for page in pages:
        start = 0
        while start + 2000 <= len(page):
            size = rng.randint(2000, 3000)
            end = page.find(" ", start + size)
            end = len(page) if end < 0 else end
            pieces.append(page[start:end])
            start = end + 1
    return [pieces[i % len(pieces)] for i in range(n)]


def plain_score(model, text: str, label: str) -> float:
    labels, probabilities = model.predict(text.replace("\n", " "), k=-1)
    return float(probabilities[labels.index(label)]) if label in labels else 0.0


def rate(score, docs: list[str]) -> float:
    for d in docs[:200]:       # warm
        score(d)
    start = time.perf_counter()
    for d in docs:
        score(d)
    return len(docs) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=4000)
    args = parser.parse_args(argv)
    import fasttext

    from pipeline.rules.classifier import Classifier, train_classifier
    from pipeline.rules.language import MODEL
    docs = documents(args.docs)
    mean_kb = sum(len(d.encode("utf-8")) for d in docs) / len(docs) / 1000
    unique = list(dict.fromkeys(docs))
    negatives = []
    for i, d in enumerate(unique):
        words = d.split()
        random.Random(i).shuffle(words)
        negatives.append(" ".join(words))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.bin")
        with open(path, "wb") as f:
            f.write(train_classifier(unique, negatives, seed=1, epochs=20, lr=0.5, dim=32, buckets=100_000))
        ours = Classifier(path, "hq")
        with importlib.resources.as_file(importlib.resources.files(MODEL[0]).joinpath(MODEL[1])) as lid_path:
            lid = Classifier(str(lid_path), "en")
            plain = fasttext.load_model(str(lid_path))
            rows = [("ours, trained quality model", rate(ours.score, docs)),
                    ("ours, lid.176", rate(lid.score, docs)),
                    ("plain fastText call, lid.176", rate(lambda t: plain_score(plain, t, "__label__en"), docs))]
    print(f"{len(docs):,} documents of {mean_kb:.2f} kB on average, one core")
    for name, per_second in rows:
        print(f"  {name:<32} {per_second:>9,.0f} documents/s")
    print(f"  ours / plain on the same model: {rows[1][1] / rows[2][1]:.2f}x")


if __name__ == "__main__":
    main()
