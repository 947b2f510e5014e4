"""Model-based quality: a fastText classifier's probability for a named label.

DCLM (Li et al. 2024) got its largest single gain from a fastText classifier of
high-quality reference text against random crawl, keeping the pages it scores
highest; FineWeb-Edu and Nemotron-CC score pages the same way. Rule
`quality_classifier` scores each document with such a model and keeps it when the
label's probability reaches `threshold`:

    {name: quality_classifier, model: path/or/s3://.../model.bin, label: hq, threshold: 0.5}

The model is any supervised fastText `.bin` (DCLM's published classifier, a
user's own) or one trained here (`train_classifier`, with floret, the fastText
fork that trains as a wheel beside fasttext-predict: one thread and a seed give
the same bytes every run). fasttext-predict reads fastText's format and floret its
own, so a model is opened by whichever reads it.

Text is prepared as DCLM prepares it: lower-cased, each run of whitespace
(newlines included: fastText reads one line) one space. The score is a signal of
the documents dataset (`quality_score`) and the measured value of a drop
(`quality_classifier: 0.31 < 0.5`).
"""
from __future__ import annotations

import os
import random
import tempfile
from typing import Iterable, Sequence

from pipeline.rules.verdict import Failed, Measured, signal
from sources.document import Document

LABEL_PREFIX = "__label__"


def prepare(text: str) -> str:
    """DCLM's preparation: lower-cased, whitespace runs (newlines too) one space."""
    return " ".join(text.lower().split())


class Classifier:
    """A supervised fastText model, read by fasttext-predict or floret from a local file;
    `score(text)` is the probability of `label` for the prepared text."""

    def __init__(self, path: str, label: str):
        self.model = _load(path)
        # every label, as predict lists them for k = -1 (fasttext-predict has no label list)
        labels = [lab.removeprefix(LABEL_PREFIX) for _, lab in self.model.f.predict("a\n", -1, 0.0, "strict")]
        if label not in labels:
            raise ValueError(f"quality_classifier: {path} has no label {label!r} (its labels: {labels})")
        self.label, self.k = LABEL_PREFIX + label, len(labels)

    def score(self, text: str) -> float:
        # the binding's own call: the wrappers' predict() builds a NumPy array per document
        for probability, label in self.model.f.predict(prepare(text) + "\n", self.k, 0.0, "strict"):
            if label == self.label:
                return min(float(probability), 1.0)
        return 0.0


def _load(path: str):
    """The model at a local path: fastText's format first, floret's after."""
    import fasttext
    try:
        return fasttext.load_model(path)
    except ValueError:
        import floret
        return floret.load_model(path)


def local_copy(path: str) -> tuple[str, bool]:
    """(a local path of the model, whether it is a temporary copy): fastText reads files
    only, so a model on object storage (s3://, gs://) is copied next to the worker."""
    if "://" not in path:
        return path, False
    from apache_beam.io.filesystems import FileSystems
    fd, local = tempfile.mkstemp(suffix=".bin", prefix="corpusmill-model-")
    with os.fdopen(fd, "wb") as out, FileSystems.open(path) as f:
        while chunk := f.read(1 << 24):
            out.write(chunk)
    return local, True


TRAIN_DEFAULTS = {"sample": 2000, "epochs": 10, "ngrams": 2, "dim": 32, "buckets": 100_000, "lr": 0.5, "seed": 0}


def check_train(train: dict) -> dict:
    """A `train:` spec with its defaults: `positives` (source specs, any type) and the
    trainer's settings (TRAIN_DEFAULTS); a clear error for anything else."""
    unknown = set(train) - {"positives", *TRAIN_DEFAULTS}
    if unknown:
        raise ValueError(f"quality_classifier: unknown train setting(s) {sorted(unknown)}")
    positives = train.get("positives")
    if not positives or not isinstance(positives, list) or not all(isinstance(p, dict) for p in positives):
        raise ValueError("quality_classifier: train.positives must list source specs ({name, type, paths, ...})")
    return {**TRAIN_DEFAULTS, **train}


class QualityClassifier:
    """The rule: `quality_classifier` (with the score measured) under the threshold, else
    kept with its `quality_score`. The model is a file (`model`), or, with `train`, the
    one the build trains (pipeline/transforms/classify.py hands it over as `trained`:
    its local path and, with `keep_fraction`, each source's threshold)."""

    def __init__(self, model: str | None = None, label: str = "hq", threshold: float | None = None,
                 keep_fraction: float | None = None, train: dict | None = None, trained: dict | None = None):
        if (model is None) == (train is None):
            raise ValueError("quality_classifier: give either model (a file) or train (trained in the build)")
        if threshold is not None and keep_fraction is not None:
            raise ValueError("quality_classifier: give threshold or keep_fraction, not both")
        if keep_fraction is not None and train is None:
            raise ValueError("quality_classifier: keep_fraction needs train: its thresholds come from the "
                             "build's own score distribution")
        if keep_fraction is not None and not 0.0 < float(keep_fraction) <= 1.0:
            raise ValueError(f"quality_classifier: keep_fraction must be in (0, 1], got {keep_fraction}")
        if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"quality_classifier: threshold must be in [0, 1], got {threshold}")
        self.threshold = 0.5 if threshold is None and keep_fraction is None else threshold
        self.thresholds: dict[str, float] = {}
        if train is not None:
            check_train(train)
            if trained is None:        # checked when the recipe loads; scored once trained
                self.classifier = None
                return
            model, self.thresholds = trained["path"], trained.get("thresholds") or {}
            if keep_fraction is not None:   # a source the threshold sample missed: the pooled threshold
                self.threshold = trained.get("threshold", 0.0)
        local, temporary = local_copy(model)
        try:
            self.classifier = Classifier(local, label)
        finally:
            if temporary:
                os.unlink(local)

    def __call__(self, doc: Document) -> Measured | str:
        if self.classifier is None:
            raise RuntimeError("quality_classifier: the model to train has not been handed over")
        score = self.classifier.score(doc.text)
        threshold = self.thresholds.get(doc.source, self.threshold)
        if score < threshold:
            return Failed("quality_classifier", score, "<", threshold)
        return Measured({"quality_score": signal(score)})


def keep_thresholds(scores: dict[str, list[float]], keep_fraction: float) -> dict[str, float]:
    """Per source, the score at or above which the top `keep_fraction` of a sample's
    scores lie (DCLM keeps the top ~10%): the k-th highest score, k = ceil(fraction x n)."""
    import math
    out = {}
    for source, values in sorted(scores.items()):
        ranked = sorted(values, reverse=True)
        out[source] = ranked[max(math.ceil(keep_fraction * len(ranked)), 1) - 1] if ranked else 0.0
    return out


def training_lines(positives: Iterable[str], negatives: Iterable[str], seed: int,
                   positive: str = "hq", negative: str = "cc") -> list[str]:
    """fastText's training file: one `__label__<label> <prepared text>` line per example,
    in an order shuffled by `seed` (the trainer reads the file in order)."""
    lines = [f"{LABEL_PREFIX}{positive} {prepare(t)}" for t in positives if t.strip()] + \
        [f"{LABEL_PREFIX}{negative} {prepare(t)}" for t in negatives if t.strip()]
    random.Random(seed).shuffle(lines)
    return lines


def train_classifier(positives: Sequence[str], negatives: Sequence[str], seed: int = 0, epochs: int = 5,
                     ngrams: int = 2, dim: int = 64, buckets: int = 200_000, lr: float = 0.1,
                     positive: str = "hq", negative: str = "cc") -> bytes:
    """A supervised model of `positive` against `negative` texts, as the bytes of its
    `.bin`: floret, one thread, `seed`, so the same texts give the same bytes. DCLM's
    recipe (fastText, bigrams, a few epochs); `buckets` bounds the n-gram table (fastText's
    default, 2 million, makes a 64-dim model half a gigabyte)."""
    import floret
    with tempfile.TemporaryDirectory(prefix="corpusmill-classifier-") as folder:
        data = os.path.join(folder, "train.txt")
        with open(data, "w", encoding="utf-8") as f:
            for line in training_lines(positives, negatives, seed, positive, negative):
                f.write(line + "\n")
        model = floret.train_supervised(data, epoch=epochs, wordNgrams=ngrams, dim=dim, bucket=buckets, lr=lr,
                                        thread=1, seed=seed, verbose=0)
        path = os.path.join(folder, "model.bin")
        model.save_model(path)
        with open(path, "rb") as f:
            return f.read()
