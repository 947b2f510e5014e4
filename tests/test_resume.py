"""Resumable builds (pipeline/resume.py): SIGKILLed builds re-run to the same bytes, a
finished clean stage is reused, and an unfinished output never passes for a finished one."""
from __future__ import annotations

import dataclasses
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest

from manifests.io import MANIFEST_FILE
from pipeline import resume
from pipeline.recipe import load_recipe
from tests.conftest import REPO, SAMPLE_RECIPE, assert_same_files, in_repo

CODE = {"sha256": "c0de"}


def clean_key(recipe, inputs=(), code=CODE, strict=False) -> str:
    return resume.stage_key(resume.clean_key_document(recipe, strict, list(inputs), code))


def test_clean_stage_key_follows_what_the_clean_job_reads():
    with in_repo():
        recipe = load_recipe(SAMPLE_RECIPE)
        inputs = resume.input_fingerprint(recipe)
    base = clean_key(recipe, inputs)
    assert base == clean_key(recipe, inputs), "the key is a pure function"
    assert len(inputs) == 7 and all(i["mtime"] and i["size"] for i in inputs)   # 6 sample files + the eval set
    # the corpus job's settings leave it alone...
    sources = tuple(dataclasses.replace(s, epochs=s.epochs + 3, validation=0.5) for s in recipe.sources)
    assert clean_key(dataclasses.replace(recipe, sources=sources, shard_tokens=123, seed=99), inputs) == base
    # ...what the clean job reads changes it
    touched = [dict(inputs[0], mtime=inputs[0]["mtime"] + 1), *inputs[1:]]
    grown = [dict(inputs[0], size=inputs[0]["size"] + 1), *inputs[1:]]
    filters = dict(recipe.filters, text=recipe.filters["text"][1:])
    changed = [clean_key(recipe, touched), clean_key(recipe, grown), clean_key(recipe, inputs[1:]),
               clean_key(recipe, inputs, code={"sha256": "other"}), clean_key(recipe, inputs, strict=True),
               clean_key(dataclasses.replace(recipe, filters=filters), inputs),
               clean_key(dataclasses.replace(recipe, extract_html="trafilatura"), inputs),
               clean_key(dataclasses.replace(recipe, dedup=dataclasses.replace(recipe.dedup, url=False)), inputs),
               # the bug: a clean stage built without output.documents has no signals or dedup groups
               clean_key(dataclasses.replace(recipe, documents=not recipe.documents), inputs)]
    assert base not in changed and len(set(changed)) == len(changed)


def test_clear_output_removes_the_manifest_and_corpus_files_only(tmp_path):
    for name in ("manifest.json", "shard-00000.bin", "validation-00000.idx", ".shard-00001.bin.inprogress",
                 "tokenizer.json", "dead_letters.jsonl", "rejects/cc-00.jsonl", "notes.txt", "_work/clean-x/_SUCCESS"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    resume.clear_output(str(tmp_path))
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["_work/clean-x/_SUCCESS", "notes.txt"]
    resume.clear_work(str(tmp_path / "_work"), keep=(str(tmp_path / "_work" / "clean-x"),))
    assert (tmp_path / "_work/clean-x/_SUCCESS").exists()
    resume.clear_work(str(tmp_path / "_work"))
    assert not (tmp_path / "_work/clean-x/_SUCCESS").exists()


def start_build(output: pathlib.Path, log: pathlib.Path) -> subprocess.Popen:
    """The CLI as `make corpus` runs it (a worker process per core), in its own session
    so that a kill reaches the Beam worker processes too."""
    with open(log, "ab") as f:
        return subprocess.Popen([sys.executable, "-m", "pipeline", "build", "--recipe", SAMPLE_RECIPE,
                                 "--output", str(output)], cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_for(condition, proc: subprocess.Popen, timeout: float = 240) -> bool:
    """True once `condition()` holds; False if the build ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    raise TimeoutError("the build neither got there nor ended")


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def verify(output: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "manifests", "verify", str(output)], cwd=REPO,
                          capture_output=True, text=True)


@pytest.mark.parametrize("seed", [20261124])
def test_builds_killed_at_random_moments_resume_to_identical_output(sample_corpus, tmp_path, seed):
    """SIGKILL (the job and its worker processes) three times on the same output: at a random
    moment in the clean job, after the clean stage is marked done, and while shards are
    being written; after each, the output must not pass for finished. A fourth run
    completes: byte-identical to an uninterrupted build, and the finished clean stage
    was reused rather than recomputed."""
    rng = random.Random(seed)
    out, log = tmp_path / "out", tmp_path / "build.log"
    work = out / "_work"

    def clean_done():
        return any(work.glob(f"clean-*/{resume.DONE}"))

    def shards_begun():
        return any(out.glob(".shard-*.inprogress")) or any(out.glob("shard-*.bin"))

    moments = [(lambda: True, rng.uniform(1.0, 8.0)),            # anywhere in the clean job
               (clean_done, rng.uniform(0.0, 4.0)),              # the corpus job, clean stage finished
               (shards_begun, rng.uniform(0.0, 1.5))]            # shards being written
    killed = 0
    for condition, delay in moments:
        proc = start_build(out, log)
        if wait_for(condition, proc) and proc.poll() is None:
            time.sleep(delay)
        if proc.poll() is None:
            kill(proc)
            killed += 1
            assert not (out / MANIFEST_FILE).exists(), "a killed build left a manifest"
            assert verify(out).returncode != 0, "verify passed an unfinished output"
    assert killed >= 2, "the kills came too late to test anything"
    proc = start_build(out, log)
    assert proc.wait() == 0, log.read_text()[-3000:]
    assert "clean stage: reusing" in log.read_text(), "the finished clean stage was recomputed"
    assert not work.exists(), "intermediates are removed once the manifest is written"
    assert_same_files(sample_corpus, out)
    assert verify(out).returncode == 0


def test_progress_line_reports_rate_share_and_eta():
    from pipeline.progress import JobPlan, progress_line
    clean = progress_line(JobPlan("clean", input_bytes=120_000_000),
                          {"read/documents": 1234, "read/input_bytes": 30_000_000, "filter/documents": 900,
                           "dropped/filter/too_short": 100, "dropped/extract/empty": 20}, elapsed=30.0)
    assert clean == ("[clean 0:30] read 1,234 docs, 30.0 of 120.0 MB (25%), 1.00 MB/s | filtered 900, "
                     "dropped 120 | ETA 1:30")
    corpus = progress_line(JobPlan("corpus", documents=1000), {"tokenize/documents": 500, "tokenize/tokens": 2_500_000,
                                                               "shards/written": 1}, elapsed=3725.0)
    assert corpus == ("[corpus 1:02:05] tokenized 500 of 2,000 docs (25%), 2.5M tokens, 0 docs/s | "
                      "shards written 1 | ETA 3:06:15")
    assert progress_line(JobPlan("clean", input_bytes=10), {}, 1.0).endswith("ETA -")
    assert progress_line(JobPlan("corpus", documents=1), {"tokenize/documents": 2}, 1.0).endswith("finishing")


def test_counters_from_worker_processes_reach_the_display(tmp_path):
    """The live tally of another process (as the local runner's workers are) is summed
    into the driver's line."""
    import io

    from pipeline import progress
    stream = io.StringIO()
    with progress.Display(stream, every=0.1) as display:
        display.job(progress.JobPlan("clean", input_bytes=2_000_000))
        code = ("from pipeline.transforms.common import Counters; import time; c = Counters(); "
                "c.inc('read/documents', 7); c.inc('read/input_bytes', 1_000_000); time.sleep(1.2)")
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
        time.sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert any("read 7 docs, 1.0 of 2.0 MB (50%)" in line for line in lines), lines[-3:]
    assert progress.ENV not in os.environ


def test_each_counters_object_keeps_its_own_live_tally(tmp_path, monkeypatch):
    """The bug: one process-wide tally (progress.LIVE) that every Counters wrote into and
    the Display cleared by reaching inside; now each Counters mirrors its own totals to
    a file of its own, and none exists without a Display."""
    from pipeline import progress
    from pipeline.transforms.common import Counters
    monkeypatch.setenv(progress.ENV, str(tmp_path))
    a, b = Counters(), Counters()
    a.inc("read/documents", 2)
    b.inc("read/documents", 3)
    assert a.live.path != b.live.path and a.live.flush() and b.live.flush()
    assert len(list(tmp_path.glob("*.json"))) == 2
    assert progress.read_totals(str(tmp_path))["read/documents"] == 5
    monkeypatch.delenv(progress.ENV)
    assert Counters().live is None
