"""The quality classifier (pipeline/rules/classifier.py): trained here on real text
(the sample's documentation pages) against the same pages with their words shuffled,
it separates held-out pages (AUC over 0.95), trains to the same bytes for a seed, and
as a rule given by a model file keeps the good pages with their score and drops the
rest with the score measured against the threshold."""
from __future__ import annotations

import glob
import random

import pyarrow.parquet as pq
import pytest

from pipeline.rules.classifier import Classifier, prepare, train_classifier
from pipeline.rules.verdict import Dropped, Failed, Measured, apply_rules
from sources.document import Document
from tests.conftest import REPO

SETTINGS = {"seed": 1, "epochs": 20, "lr": 0.5, "dim": 32, "buckets": 100_000}


def pages() -> list[str]:
    """The refinedweb sample's pages (CPython's reST documentation), in a fixed order."""
    return [t for f in sorted(glob.glob(str(REPO / "sources/samples/refinedweb/*.parquet")))
            for t in pq.read_table(f, columns=["content"]).column("content").to_pylist()]


def shuffled(text: str, seed: int) -> str:
    words = text.split()
    random.Random(seed).shuffle(words)
    return " ".join(words)


@pytest.fixture(scope="module")
def split():
    texts = pages()
    order = list(range(len(texts)))
    random.Random(0).shuffle(order)
    return [texts[i] for i in order[:200]], [texts[i] for i in order[200:]]


@pytest.fixture(scope="module")
def model_file(split, tmp_path_factory):
    train, _ = split
    data = train_classifier(train, [shuffled(t, i) for i, t in enumerate(train)], **SETTINGS)
    path = tmp_path_factory.mktemp("classifier") / "model.bin"
    path.write_bytes(data)
    return path


def auc(positives: list[float], negatives: list[float]) -> float:
    return sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives) / (len(positives) * len(negatives))


def test_text_is_prepared_as_dclm_prepares_it():
    assert prepare("The  River\nVALLEY\t\tand\r\nthe Town ") == "the river valley and the town"


def test_training_is_deterministic_for_a_seed(split):
    train, _ = split
    negatives = [shuffled(t, i) for i, t in enumerate(train[:60])]
    first = train_classifier(train[:60], negatives, seed=3, epochs=2, dim=8, buckets=10_000)
    assert first == train_classifier(train[:60], negatives, seed=3, epochs=2, dim=8, buckets=10_000)
    assert first != train_classifier(train[:60], negatives, seed=4, epochs=2, dim=8, buckets=10_000)


def test_a_classifier_trained_here_separates_held_out_pages_from_shuffled_ones(split, model_file):
    """Shuffling keeps every word and breaks every bigram: only word order tells them apart."""
    _, held_out = split
    classifier = Classifier(str(model_file), "hq")
    good = [classifier.score(t) for t in held_out]
    bad = [classifier.score(shuffled(t, 10_000 + i)) for i, t in enumerate(held_out)]
    assert len(held_out) > 100 and auc(good, bad) > 0.95


def test_a_given_model_file_keeps_good_pages_with_their_score_and_names_the_rest(split, model_file):
    from pipeline.rules.quality import build_chain
    _, held_out = split
    chain = build_chain([{"name": "quality_classifier", "model": str(model_file), "label": "hq", "threshold": 0.5}])
    page = next(t for t in held_out if len(t) > 2000)
    kept = apply_rules(Document(id="s/a@0", text=page, kind="text", source="s"), chain, signals=True)
    assert isinstance(kept, Document) and 0.5 <= kept.meta["signals"]["quality_score"] <= 1.0
    verdict = chain[0](Document(id="s/a@1", text=shuffled(page, 5), kind="text", source="s"))
    assert isinstance(verdict, Failed) and verdict == "quality_classifier" and verdict.measured.endswith(" < 0.5")
    dropped = apply_rules(Document(id="s/a@1", text=shuffled(page, 5), kind="text", source="s"), chain)
    assert isinstance(dropped, Dropped) and dropped.measured == verdict.measured
    assert isinstance(chain[0](Document(id="s/a@0", text=page, kind="text", source="s")), Measured)


def test_the_pipeline_stage_keeps_the_good_pages_and_records_the_scores_it_dropped(split, model_file):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from pipeline.transforms.documents import FilterQuality
    _, held_out = split
    good = [Document(id=f"s/good@{i}", text=t, kind="text", source="s") for i, t in enumerate(held_out[:40])]
    bad = [Document(id=f"s/bad@{i}", text=shuffled(t, i), kind="text", source="s")
           for i, t in enumerate(held_out[:40])]
    spec = {"name": "quality_classifier", "model": str(model_file), "threshold": 0.5}
    classifier = Classifier(str(model_file), "hq")
    expected = sorted(d.id for d in good + bad if classifier.score(d.text) >= 0.5)
    assert sum(i.startswith("s/good") for i in expected) >= 36 and sum(i.startswith("s/bad") for i in expected) <= 4
    with TestPipeline() as p:
        out = p | beam.Create(good + bad) | FilterQuality({"text": (spec,)}, rejects=True, signals=True)
        assert_that(out.kept | "Ids" >> beam.Map(lambda d: d.id), equal_to(expected), label="Kept")
        assert_that(out.kept | "Scored" >> beam.Map(lambda d: d.meta["signals"]["quality_score"] >= 0.5),
                    equal_to([True] * len(expected)), label="Scores")
        assert_that(out.rejects | "Measured" >> beam.Map(lambda r: (r["reason"], r["measured"].split()[1:])),
                    equal_to([("filter/quality_classifier", ["<", "0.5"])] * (80 - len(expected))),
                    label="Rejects")


def test_a_recipe_naming_a_label_the_model_lacks_fails_before_any_work(model_file, tmp_path):
    import yaml

    from pipeline.recipe import RecipeError, load_recipe
    recipe = yaml.safe_load((REPO / "recipes/sample.yaml").read_text())
    recipe["filters"]["text"].append({"name": "quality_classifier", "model": str(model_file), "label": "edu"})
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError, match="has no label 'edu'"):
        load_recipe(str(path))


def trained_recipe(tmp_path, keep_fraction=0.8):
    """The sample recipe with a text classifier trained in the build: the documentation
    pages as reference text against the build's own pages as they reach the rule."""
    import yaml
    recipe = yaml.safe_load((REPO / "recipes/sample.yaml").read_text())
    recipe["filters"]["text"].insert(5, {
        "name": "quality_classifier", "label": "hq", "keep_fraction": keep_fraction,
        "train": {"positives": [{"name": "reference", "type": "parquet",
                                 "paths": ["sources/samples/refinedweb/*.parquet"], "columns": {"text": "content"}}],
                  "sample": 150, "epochs": 5, "dim": 16, "buckets": 20_000}})
    path = tmp_path / "trained.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def test_a_classifier_trained_in_the_build_is_saved_hashed_and_keeps_the_top_share(tmp_path):
    """DCLM's way inside one build: trained on a hashed sample, saved and hashed in the
    manifest, each source's threshold set so about keep_fraction of its sample scores
    above it; the same model and shards with one worker or two."""
    import json

    from manifests.verify import verify
    from pipeline.__main__ import build
    from tests.conftest import in_repo
    recipe = trained_recipe(tmp_path)
    with in_repo():
        build(["--recipe", recipe, "--output", str(tmp_path / "two"), "--no_progress"])
        build(["--recipe", recipe, "--output", str(tmp_path / "one"), "--no_progress", "--direct_num_workers=1"])
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    text = manifest["classifiers"]["text"]
    assert text["positives"] == text["negatives"] == 150 and text["keep_fraction"] == 0.8
    assert set(text["thresholds"]) == {"cc-sample", "refinedweb-sample"}
    assert verify(str(tmp_path / "two")) == []
    for name in ("classifiers/text.bin", "shard-00000.bin"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    records = [json.loads(line) for f in sorted((tmp_path / "two" / "rejects").glob("*.jsonl"))
               for line in f.read_text().splitlines()]
    scored = [r for r in records if r["reason"] == "filter/quality_classifier"]
    assert scored and all(float(r["measured"].split()[0]) < text["thresholds"][r["source"]] + 1e-4 for r in scored)
    rows = [r for f in sorted((tmp_path / "two" / "documents").rglob("*.parquet"))
            for r in pq.read_table(f, columns=["kind", "source", "quality_score"]).to_pylist()]
    assert all(r["quality_score"] is not None for r in rows if r["kind"] == "text")
    assert all(r["quality_score"] is None for r in rows if r["kind"] == "code"), "the code chain has no classifier"


def test_a_source_the_threshold_sample_missed_takes_the_pooled_threshold(model_file, split):
    """The bug: with keep_fraction, a source absent from the threshold sample (a small one)
    had no threshold, and its first document crashed the stage."""
    from pipeline.rules.classifier import QualityClassifier
    _, held_out = split
    rule = QualityClassifier(label="hq", keep_fraction=0.5, train={"positives": [{"name": "r", "type": "jsonl"}]},
                             trained={"path": str(model_file), "thresholds": {"a": 1.0}, "threshold": 0.0})
    page = held_out[0]
    assert isinstance(rule(Document(id="b/x@0", text=page, kind="text", source="b")), Measured)
    assert rule(Document(id="a/x@0", text=page, kind="text", source="a")) == "quality_classifier"
