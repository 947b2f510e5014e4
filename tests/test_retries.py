"""Safe to run twice: runners retry bundles and re-run stages after a lost worker, so every
DoFn (or function a transform maps) that writes files writes the same files when it
runs again on the same input, and deletes nothing another attempt needs. The bug:
MergeShard deleted its input fragments inside `process`, so a retried merge found
none. Each writer here runs twice on one element and the files are compared."""
import json

import numpy as np

from pipeline.transforms.accounting import (
    write_accounting,
    write_dead_letters,
    write_reject_bucket,
)
from pipeline.transforms.manifest import write_manifest
from pipeline.transforms.shards import MergeShard, ShardEntry, WriteFragments
from pipeline.transforms.tokenize import TokenizerInfo, save_tokenizer

INFO = TokenizerInfo(json="{}", sha256="", vocab_size=300, eos_id=9, special_ids={}, dtype="uint16")


def snapshot(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def entries(n: int) -> list[tuple]:
    return [(("train", 0), ShardEntry(i / n, f"s/{i}", 0, "s", f"https://s/{i}", 10 + i,
                                      np.array([i + 1, i + 2, 9], np.uint16))) for i in range(n)]


def fragments_of(fn: WriteFragments, elements) -> list:
    fn.start_bundle()
    out = [x for e in elements for x in fn.process(e, INFO)]
    return out + [w.value for w in fn.finish_bundle()]


def test_write_fragments_then_merge_twice_gives_one_shard(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    first = fragments_of(WriteFragments(str(work)), entries(20))
    second = fragments_of(WriteFragments(str(work)), entries(20))   # a retried bundle: its own names
    assert [f["prefix"] for _, f in first] != [f["prefix"] for _, f in second]
    merge = MergeShard(str(out))
    merge.setup()
    key = ("train", 0)
    (split, record), = merge.process((key, [f for _, f in first]), INFO)
    written = snapshot(out)
    (_, again), = merge.process((key, [f for _, f in first]), INFO)           # the retried merge
    assert again == record and snapshot(out) == written
    (_, other), = merge.process((key, [f for _, f in second]), INFO)          # the other attempt's fragments
    assert other == record and snapshot(out) == written
    assert sorted(written) == ["shard-00000.bin", "shard-00000.bin.index", "shard-00000.docs.parquet",
                               "shard-00000.idx"]
    assert split == "train" and record["documents"] == 20


def test_small_file_writers_write_the_same_bytes_twice(tmp_path):
    dead = [{"source": "s", "location": f"f@{i}", "reason": "read/io_error", "error": "x"} for i in (3, 1, 2)]
    rejects = [{"id": f"s/{i}", "source": "s", "reason": "filter/too_short", "text": "é"} for i in (2, 0, 1)]
    figures = {"reads": [("s", 3)], "drops": [("s", "filter/too_short", 3)], "errors": [], "tallies": [],
               "groups": [], "rejects": [3]}
    for _ in range(2):
        assert write_dead_letters(str(tmp_path / "dead_letters.jsonl"), dead) == 3
        assert write_reject_bucket(str(tmp_path), ("s", 7), rejects) == 3
        write_accounting(str(tmp_path / "accounting.json"), figures)
        files = snapshot(tmp_path)
        if _ == 0:
            first = files
    assert files == first
    assert [json.loads(line)["location"] for line in files["dead_letters.jsonl"].decode().splitlines()] == \
        ["f@1", "f@2", "f@3"]
    assert "rejects/s-07.jsonl" in files


def test_tokenizer_and_manifest_writers_write_the_same_bytes_twice(tmp_path, sample_corpus):
    trained = ((sample_corpus / "tokenizer.json").read_text(), 0.5)
    manifest = json.loads((sample_corpus / "manifest.json").read_text())
    for attempt in range(2):
        info = save_tokenizer(trained, str(tmp_path))
        write_manifest(str(tmp_path), manifest)
        files = snapshot(tmp_path)
        if attempt == 0:
            first, first_info = files, info
    assert files == first and info == first_info
    assert sorted(files) == ["manifest.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    assert info.files == manifest["tokenizer"]["files"]


def test_a_retried_parts_commit_keeps_the_parts_it_renamed(tmp_path):
    """The bug: Beam's WriteToParquet finalisation, restarted by Flink, first deleted every
    finished part and then found its temporary files gone. A second commit of the same
    list is a no-op; a commit of another list removes the first list's parts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.transforms.parts import commit_parts
    prefix = str(tmp_path / "clean" / "part")
    (tmp_path / "clean" / "_tmp").mkdir(parents=True)
    written = []
    for i in range(3):
        written.append(str(tmp_path / "clean" / "_tmp" / f"{i}.parquet"))
        pq.write_table(pa.table({"id": [str(i)]}), written[-1])
    first = commit_parts(prefix, written)
    before = snapshot(tmp_path / "clean")
    assert commit_parts(prefix, written) == first and snapshot(tmp_path / "clean") == before
    assert sorted(before) == [f"part-0000{i}-of-00003.parquet" for i in range(3)]
    again = str(tmp_path / "clean" / "_tmp" / "again.parquet")
    pq.write_table(pa.table({"id": ["0", "1", "2"]}), again)
    assert commit_parts(prefix, [again]) == [f"{prefix}-00000-of-00001.parquet"]
    assert sorted(snapshot(tmp_path / "clean")) == ["part-00000-of-00001.parquet"]


def test_the_fault_hook_is_off_unless_asked_and_fails_each_bundle_once(tmp_path, monkeypatch):
    import apache_beam as beam
    import pytest
    from apache_beam.testing.test_pipeline import TestPipeline

    from pipeline.transforms import faults
    with TestPipeline() as p:
        pcoll = p | beam.Create([1, 2])
        assert faults.after(pcoll, "Stage") is pcoll            # off: nothing in the graph
    monkeypatch.setenv(faults.MARKERS_ENV, str(tmp_path))
    monkeypatch.setenv(faults.STAGES_ENV, "Other,Stage")
    with pytest.raises(Exception, match="test-only failure"), TestPipeline() as p:
        faults.after(p | beam.Create([1, 2]), "Stage")
    assert len(list(tmp_path.iterdir())) == 1                   # the bundle's marker
    with TestPipeline() as p:                                   # the retry passes
        faults.after(p | beam.Create([1, 2]), "Stage")
