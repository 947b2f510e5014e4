"""Quality classifiers trained inside the build, as DCLM trained theirs.

A filter chain may hold `{name: quality_classifier, train: {positives: [source specs],
sample: N, ...}}`: a fastText model of reference text (the positives, any source
type, extracted and normalised as the corpus is) against this build's own
documents as they reach that rule (after the heuristic rules before it). FilterQuality
then runs in three steps for that kind: the rules before the classifier; the
classifier, whose model arrives as a side input once TrainClassifier has trained it;
the rules after it. Other kinds pass the second and third steps untouched.

TrainClassifier draws N positives and N negatives by a hash of the id (the same
documents on every runner), trains once (floret, one thread, the recipe's seed: the
same bytes every run), and with `keep_fraction` scores a second hashed sample of the
build's documents to set each source's threshold so that share of it scores above.
The model and what it was trained on (`classifiers/<kind>.bin` and `.json`) go to
the clean job's folder, and from there to the output and the manifest.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from manifests.splits import uniform_hash
from pipeline.rules.classifier import QualityClassifier, check_train, keep_thresholds, train_classifier
from pipeline.rules.verdict import apply_rules
from pipeline.transforms import faults
from pipeline.transforms.common import ApplyRule, apply_rule

CLASSIFIERS_DIR = "classifiers"
NEGATIVE_LABEL = "cc"


class Training(NamedTuple):
    """What training inside the build needs from the recipe and the build."""
    seed: int
    clean_dir: str
    extract_html: str
    extract_limits: Any
    fix_mojibake: bool


def trained_index(specs) -> int | None:
    """The position of a chain's classifier to train, if any (one per chain)."""
    found = [i for i, spec in enumerate(specs) if spec.get("name") == "quality_classifier" and "train" in spec]
    if len(found) > 1:
        raise ValueError("filters: one quality_classifier with train per kind")
    return found[0] if found else None


def split_filters(filters: Mapping[str, tuple]) -> tuple[dict, dict, dict]:
    """(rules before, the classifier spec to train, rules after), each by kind."""
    before, trained, after = {}, {}, {}
    for kind, specs in filters.items():
        i = trained_index(specs)
        if i is None:
            before[kind] = tuple(specs)
        else:
            before[kind], trained[kind], after[kind] = tuple(specs[:i]), dict(specs[i]), tuple(specs[i + 1:])
    return before, trained, after


def hashed(seed: int, salt: str):
    return lambda d: (uniform_hash(seed, d.id, salt), d.id, d.source, d.text)


def model_path(clean_dir: str, kind: str, ext: str) -> str:
    return f"{clean_dir}/{CLASSIFIERS_DIR}/{kind}.{ext}"


def train_and_save(_, positives, negatives, held_out, kind: str, spec: dict, training: Training) -> dict:
    """Trains the kind's model on the two samples, sets the per-source thresholds from the
    held-out sample's scores (keep_fraction), writes `<kind>.bin` and `<kind>.json` into
    the clean job's folder (the same bytes on a retry) and returns the json's content."""
    settings = check_train(spec["train"])
    label = spec.get("label", "hq")
    model = train_classifier([t for *_, t in positives], [t for *_, t in negatives], seed=settings["seed"],
                             epochs=settings["epochs"], ngrams=settings["ngrams"], dim=settings["dim"],
                             buckets=settings["buckets"], lr=settings["lr"], positive=label, negative=NEGATIVE_LABEL)
    path = model_path(training.clean_dir, kind, "bin")
    with FileSystems.create(path) as f:
        f.write(model)
    info = {"kind": kind, "label": label, "positives": len(positives), "negatives": len(negatives),
            "train": {k: v for k, v in settings.items() if k != "positives"},
            "positive_sources": sorted(p["name"] for p in settings["positives"])}
    if spec.get("keep_fraction") is not None:
        rule = QualityClassifier(label=label, train=spec["train"], trained={"path": path})
        scores: dict[str, list[float]] = {}
        for _, _, source, text in held_out:
            scores.setdefault(source, []).append(rule.classifier.score(text))
        info["keep_fraction"] = float(spec["keep_fraction"])
        info["thresholds"] = keep_thresholds(scores, info["keep_fraction"])
        # for a source the sample missed (a small one): the threshold of all sources pooled
        info["threshold"] = keep_thresholds({"": [s for v in scores.values() for s in v]},
                                            info["keep_fraction"]).get("", 0.0)
        info["threshold_sample"] = {source: len(values) for source, values in sorted(scores.items())}
    else:
        info["threshold"] = float(spec.get("threshold", 0.5))
    with FileSystems.create(model_path(training.clean_dir, kind, "json")) as f:
        f.write(json.dumps(info, sort_keys=True, indent=1).encode("utf-8"))
    return {**info, "path": path}


class TrainClassifier(beam.PTransform):
    """The documents reaching a kind's classifier -> its trained model's record (a
    singleton: the path, the label, the thresholds)."""

    def __init__(self, kind: str, spec: dict, training: Training):
        super().__init__()
        self.kind, self.spec, self.training = kind, spec, training

    def expand(self, docs):
        from pipeline.recipe import _source
        from pipeline.rules.extract import Extractor
        from pipeline.rules.normalize import Normalizer
        from pipeline.transforms.read import ReadSources
        kind, training = self.kind, self.training
        settings = check_train(self.spec["train"])
        n, seed = settings["sample"], settings["seed"]
        mine = docs | "OfKind" >> beam.Filter(lambda d: d.kind == kind)
        negatives = (mine | "KeyNegatives" >> beam.Map(hashed(seed, "classifier-negative"))
                     | "SampleNegatives" >> beam.combiners.Top.Smallest(n))
        held_out = (mine | "KeyHeldOut" >> beam.Map(hashed(seed, "classifier-threshold"))
                    | "SampleHeldOut" >> beam.combiners.Top.Smallest(n))
        specs = tuple(_source({**p, "kind": kind}, 0.0) for p in settings["positives"])
        read = docs.pipeline | "ReadPositives" >> ReadSources(specs)
        # the corpus's extraction and normalisation, counted under `train/` (their drops are not the corpus's)
        html, limits, fix = training.extract_html, training.extract_limits, training.fix_mojibake
        extracted = apply_rule(read.documents, "ExtractPositives", "train", lambda: Extractor(html, limits))
        positives = apply_rule(extracted.kept, "NormalizePositives", "train", lambda: Normalizer(fix)).kept
        sampled = (positives | "KeyPositives" >> beam.Map(hashed(seed, "classifier-positive"))
                   | "SamplePositives" >> beam.combiners.Top.Smallest(n))
        trained = (docs.pipeline | "Once" >> beam.Create([None])
                   | "TrainModel" >> beam.Map(train_and_save, beam.pvalue.AsSingleton(sampled),
                                              beam.pvalue.AsSingleton(negatives), beam.pvalue.AsSingleton(held_out),
                                              kind, self.spec, training))
        return faults.after(trained, "TrainClassifier")


class TrainedRules:
    """Each kind's trained classifier as one document rule; other kinds pass."""

    def __init__(self, specs: Mapping[str, dict], trained: Mapping[str, dict], signals: bool):
        self.rules = {}
        for kind, spec in specs.items():
            args = {k: v for k, v in spec.items() if k != "name"}
            self.rules[kind] = [QualityClassifier(**args, trained=trained[kind])]
        self.signals = signals

    def __call__(self, doc):
        return apply_rules(doc, self.rules.get(doc.kind, ()), self.signals)


class ApplyTrained(ApplyRule):
    """ApplyRule for the trained classifiers, built at the first document from the side
    input that carries the models (a worker copies a remote one next to itself)."""

    def __init__(self, specs: Mapping[str, dict], signals: bool, rejects: bool):
        super().__init__("filter", lambda: None, rejects)
        self.specs, self.signals = dict(specs), signals

    def process(self, doc, trained):
        if self.rule is None:
            self.rule = TrainedRules(self.specs, {t["kind"]: t for t in trained}, self.signals)
        yield from super().process(doc)
