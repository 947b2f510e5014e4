"""Builds that cannot, or must not, produce a corpus say so in one line: an output another
build holds (two builds raced, and a crashed one's stray shard once stayed beside the
other's), a training stream with nothing in it (it exited 0 with `shards: []` and
verify said OK), and a failure of the machine or the storage (one line after the
traceback, exit status 1)."""
import json
import os
import shutil
import socket

import pytest
import yaml

from manifests.splits import in_validation
from manifests.verify import verify
from pipeline.__main__ import main
from manifests.io import LOCK_FILE
from pipeline.lock import LockInfo

TEXT = ("A corpus is only as good as its accounting: every page read is kept, dropped with a reason, "
        "or dead-lettered with the place it was found. ") * 4


def tiny_recipe(tmp_path, sample_corpus, texts, **source) -> str:
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n")
    recipe = {"name": "tiny", "seed": 5,
              "sources": [{"name": "js", "type": "jsonl", "paths": [str(tmp_path / "in.jsonl")], **source}],
              "filters": {"text": [{"name": "min_chars", "minimum": 100}]}, "dedup": {"exact": False},
              "tokenizer": {"path": str(sample_corpus / "tokenizer.json")}, "output": {"shard_tokens": 5000}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def run(recipe: str, out, *extra) -> int:
    return main(["build", "--recipe", recipe, "--output", str(out), "--no_progress", "--direct_num_workers=1", *extra])


def last_error(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def write_lock(out, host: str, pid: int) -> LockInfo:
    out.mkdir(parents=True, exist_ok=True)
    held = LockInfo(host, pid, "2026-11-26T10:00:00+00:00", "someone-else")
    (out / LOCK_FILE).write_bytes(held.encode())
    return held


def test_a_busy_output_is_refused_a_stale_lock_taken_over_and_force_wins(tmp_path, sample_corpus, capsys):
    recipe = tiny_recipe(tmp_path, sample_corpus, [f"{i} {TEXT}" for i in range(6)])
    out = tmp_path / "out"
    write_lock(out, socket.gethostname(), os.getpid())          # a live build on this host
    assert run(recipe, out) == 2
    assert last_error(capsys) == (f"error: {out} is being built by {socket.gethostname()} pid {os.getpid()} since "
                                  f"2026-11-26T10:00:00+00:00 (lock {out}/{LOCK_FILE}; --force takes it over)")
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE], "the refused build wrote nothing"
    write_lock(out, "another-host", 1)                           # cannot be judged from here
    assert run(recipe, out) == 2 and "another-host pid 1" in last_error(capsys)
    assert run(recipe, out, "--force") == 0
    assert not (out / LOCK_FILE).exists() and verify(str(out)) == []
    finished = sorted(p.name for p in out.iterdir())
    dead = os.fork()                                             # a pid that is gone: a killed build's lock
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    write_lock(out, socket.gethostname(), dead)
    assert run(recipe, out) == 0
    assert not (out / LOCK_FILE).exists() and sorted(p.name for p in out.iterdir()) == finished


def test_a_recipe_that_keeps_nothing_fails_and_writes_no_manifest(tmp_path, sample_corpus, capsys):
    recipe = tiny_recipe(tmp_path, sample_corpus, ["too short"] * 3 + [""])
    out = tmp_path / "out"
    assert run(recipe, out) == 1
    assert last_error(capsys) == ("error: no document survived the recipe: 4 records read, all dropped or "
                                  "dead-lettered (filter/too_short 3, read/empty 1); no manifest written")
    assert not (out / "manifest.json").exists() and not (out / LOCK_FILE).exists()
    assert verify(str(out)) != []


def test_a_validation_split_that_takes_everything_fails(tmp_path, sample_corpus, capsys):
    ids = [i for i in range(40) if in_validation(f"js/in.jsonl@{i}", 0.9)]
    texts = [f"{i} {TEXT}" if i in ids else "x" for i in range(max(ids[:3]) + 1)]   # the kept ones: held out
    recipe = tiny_recipe(tmp_path, sample_corpus, texts, validation=0.9)
    out = tmp_path / "out"
    assert run(recipe, out) == 1
    assert last_error(capsys) == ("error: the training stream is empty: all 3 kept documents fell in the validation "
                                  "split (output.validation or a source's validation); no manifest written")
    assert not (out / "manifest.json").exists()


def test_a_storage_failure_ends_in_one_error_line_and_leaves_a_finished_output_alone(tmp_path, sample_corpus, capsys):
    recipe = tiny_recipe(tmp_path, sample_corpus, [f"{i} {TEXT}" for i in range(3)])
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    assert run(recipe, blocked / "out") == 1
    assert last_error(capsys).startswith(f"error: NotADirectoryError: [Errno 20] Not a directory: '{blocked}")
    finished = tmp_path / "finished"
    shutil.copytree(sample_corpus, finished)
    with open(recipe) as f:
        broken = yaml.safe_load(f)
    broken["decontaminate"] = {"sets": [{"name": "e", "paths": [str(tmp_path / "no-such-eval.jsonl")]}]}
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    # the bug: an evaluation set matching no file was listed as nothing, the earlier corpus deleted
    assert run(str(tmp_path / "broken.yaml"), finished) == 2
    assert last_error(capsys) == f"error: no input file matches '{tmp_path / 'no-such-eval.jsonl'}'"
    assert verify(str(finished)) == [], "the earlier finished corpus is untouched"


@pytest.fixture(autouse=True)
def _no_leftover_env(monkeypatch):
    monkeypatch.delenv("CORPUSMILL_PROGRESS_DIR", raising=False)
