"""Real engines on loopback build the local runner's corpus byte for byte, also when
bundles fail and when a worker is lost.

- Apache Flink's runtime (1.19, embedded in Beam's Flink job server);
- a standalone Apache Spark 3.5 cluster: a master and two workers of one core each,
  each its own JVM, with Beam's Spark job server submitting to it.

Both are fetched from Maven Central by `make engines`; the Python stages run in a Beam
worker pool (Flink) or in harnesses Spark's executors start (Spark). A missing Java or
Maven, or an unreachable Maven Central, fails here with one line naming what to
install; it does not skip.

The failure tests use the test-only hook of pipeline/transforms/faults.py: each chosen
stage fails the first attempt of every bundle, after its own writes, and the engine
retries it (Flink: a fixed-delay restart strategy; Spark: spark.task.maxFailures).
"""
import glob
import json
import os
import signal
import threading
import time
import urllib.request

import tempfile
from pathlib import Path

import pytest

from engines.local import EngineError, down, free_port, up
from pipeline.transforms import faults
from tests.conftest import assert_same_files, build_sample

# every stage with the hook, in the order the build meets them
FILE_WRITERS = ["ReadSources", "WriteCleanParts", "WriteDropList", "WriteDedupGroups", "SaveTokenizer",
                "WriteRepoDocuments", "WriteTokenFiles", "WriteFragments", "MergeShards", "WriteManifest"]


def engine(name: str):
    try:
        running = up(name, free_port(), free_port())
    except EngineError as exc:
        pytest.fail(str(exc), pytrace=False)
    return running


def engine_for_module(name: str):
    """The engine for a module's tests; afterwards, its folder is gone and it left nothing
    in the temporary folder (Spark once left 3 GB there per test run, which filled CI's disk)."""
    before = set(os.listdir(tempfile.gettempdir()))
    running = engine(name)
    yield running
    down(name)
    assert not Path(running.log_dir).exists()
    left = {entry for entry in set(os.listdir(tempfile.gettempdir())) - before
            if entry.startswith(("spark-", "flink-", "blockmgr-", "liblz4", f"corpusmill-{name}-"))}
    assert not left, f"{name} left these in {tempfile.gettempdir()}: {sorted(left)}"


@pytest.fixture(scope="module")
def flink():
    yield from engine_for_module("flink")


@pytest.fixture(scope="module")
def spark():
    yield from engine_for_module("spark")


def fail_first_attempts(monkeypatch, tmp_path, stages: list[str]):
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv(faults.MARKERS_ENV, str(markers))
    monkeypatch.setenv(faults.STAGES_ENV, ",".join(stages))
    return markers


def failed_stages(markers) -> set[str]:
    return {name.rsplit("-", 1)[0] for name in os.listdir(markers)}


def test_flink_builds_the_local_runners_bytes(flink, sample_corpus, tmp_path):
    out = build_sample(tmp_path / "flink", *flink.build_args(), "--parallelism=2", "--no_progress")
    names = assert_same_files(sample_corpus, out)
    assert "manifest.json" in names and "shard-00000.bin" in names


def test_flink_builds_against_an_earlier_index_as_the_local_runner_does(flink, tmp_path):
    """Dedup across builds on an engine: B against A's dedup index (the index read as a
    source and joined in packed shuffles) gives the local runner's bytes."""
    from tests.test_dedup_index import build, recipe_file
    a = build(recipe_file(tmp_path, "a", [0], [0]), tmp_path / "a")
    recipe = recipe_file(tmp_path, "b", [1], [0, 1], against=[str(a)])
    local = build(recipe, tmp_path / "b-local")
    on_flink = build(recipe, tmp_path / "b-flink", *flink.build_args(), "--parallelism=2")
    names = assert_same_files(local, on_flink)
    assert "dedup-index/index.json" in names
    manifest = json.loads((on_flink / "manifest.json").read_text())
    assert manifest["dedup"]["removed_as_prior"]["exact_prior"] > 0


def test_flink_restarts_failed_bundles_and_writes_the_same_bytes(flink, sample_corpus, tmp_path, monkeypatch):
    # Each failure restarts a region of the job; three writers keep the restarts few.
    # Beam's WriteToParquet failed this test: its retried finalisation deleted the parts
    # it had already renamed into place (pipeline/transforms/parts.py).
    stages = ["WriteCleanParts", "WriteFragments", "MergeShards"]
    markers = fail_first_attempts(monkeypatch, tmp_path, stages)
    out = build_sample(tmp_path / "flink", *flink.build_args(), "--parallelism=2", "--no_progress")
    assert failed_stages(markers) == set(stages)
    assert_same_files(sample_corpus, out)


def test_a_spark_cluster_builds_the_local_runners_bytes(spark, sample_corpus, tmp_path):
    assert spark.master.startswith("spark://127.0.0.1:")
    out = build_sample(tmp_path / "spark", *spark.build_args(), "--no_progress")
    names = assert_same_files(sample_corpus, out)
    assert "manifest.json" in names and "validation-00000.bin" in names and "long-00000.bin" in names


def test_spark_retries_failed_tasks_and_writes_the_same_bytes(spark, sample_corpus, tmp_path, monkeypatch):
    markers = fail_first_attempts(monkeypatch, tmp_path, FILE_WRITERS)
    out = build_sample(tmp_path / "spark", *spark.build_args(), "--no_progress")
    assert failed_stages(markers) == set(FILE_WRITERS)
    assert_same_files(sample_corpus, out)


def test_spark_trains_the_classifier_and_removes_boilerplate_as_the_local_runner_does(spark, tmp_path,
                                                                                      monkeypatch):
    """The stages of issue 20 on a cluster: the classifier trained inside the job (its
    samples gathered across executors, the model handed to them as a side input) and
    the paragraph stage's edits, each retried once, give the local runner's bytes."""
    import yaml

    from pipeline.__main__ import build
    from tests.conftest import in_repo
    from tests.test_classifier import trained_recipe
    path = trained_recipe(tmp_path)
    recipe = yaml.safe_load(open(path))
    recipe["dedup"]["paragraphs"] = {"min_documents": 3, "min_chars": 200}
    with open(path, "w") as f:
        yaml.safe_dump(recipe, f)
    with in_repo():
        build(["--recipe", path, "--output", str(tmp_path / "local"), "--no_progress"])
        stages = ["TrainClassifier", "WriteParagraphEdits"]
        markers = fail_first_attempts(monkeypatch, tmp_path, stages)
        build(["--recipe", path, "--output", str(tmp_path / "spark"), *spark.build_args(), "--no_progress"])
    assert failed_stages(markers) == set(stages)
    names = assert_same_files(tmp_path / "local", tmp_path / "spark")
    assert "classifiers/text.bin" in names
    manifest = json.loads((tmp_path / "spark" / "manifest.json").read_text())
    assert manifest["dedup"]["paragraphs"]["enabled"] and "text" in manifest["classifiers"]


def spark_apps(running) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{running.master_ui}/json/", timeout=5) as r:
        return json.load(r)


def test_a_spark_build_survives_a_worker_killed_mid_job(spark, sample_corpus, tmp_path):
    """SIGKILL one worker JVM while the corpus job runs (its executor dies with it): the
    job finishes on the other worker, recomputing what the lost executor held. Runs last
    in this module: the cluster keeps one worker afterwards."""
    out = tmp_path / "spark"
    done_before = len(spark_apps(spark)["completedapps"])
    result = {}

    def run():
        try:
            build_sample(out, *spark.build_args(), "--no_progress")
        except Exception as exc:   # reported by the assertion below
            result["error"] = exc

    builder = threading.Thread(target=run)
    builder.start()
    deadline = time.monotonic() + 300
    while not glob.glob(str(out / "_work" / "clean-*" / "_SUCCESS")):   # the clean job is done
        assert builder.is_alive() and time.monotonic() < deadline, result
        time.sleep(0.5)
    while not spark_apps(spark)["activeapps"] or len(spark_apps(spark)["completedapps"]) == done_before:
        assert builder.is_alive() and time.monotonic() < deadline, result
        time.sleep(0.5)
    time.sleep(10)                  # the corpus job's executors are at work
    assert builder.is_alive(), "the corpus job ended before the kill"
    victim = spark.workers[-1]
    os.kill(victim, signal.SIGKILL)
    builder.join(600)
    assert not builder.is_alive() and "error" not in result, result
    alive = [w for w in spark_apps(spark)["workers"] if w["state"] == "ALIVE"]
    assert len(alive) == 1
    assert_same_files(sample_corpus, out)
