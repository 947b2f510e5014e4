"""Hostile input that once crashed a build or became a wrong document, each file built
here: a parquet file with one damaged row group (the whole file was lost), a parquet
string that is not UTF-8 (the reader crashed), a JSON line holding a lone surrogate
(WriteCleanParts crashed). Every record read is kept, dropped or dead-lettered."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from manifests.verify import verify
from sources.document import DeadLetter, Document
from sources.files import ReadContext
from sources.parquet import read_parquet
from sources.readers import file_records

PROSE = ("Corpus building is careful work: every record must be read, kept or dropped with a reason, "
         "and the numbers in the manifest must add up exactly for the people who train on it. ") * 4


def texts(n: int, tag: str) -> list[str]:
    return [f"{tag} {i}: {PROSE}" for i in range(n)]


def damaged_row_group_file(path, groups: int = 3, rows: int = 10, damaged: int = 1):
    """`groups` row groups of `rows` rows (snappy), the data of row group `damaged` scrambled."""
    pq.write_table(pa.table({"content": texts(groups * rows, "row")}), path, row_group_size=rows,
                   compression="snappy")
    column = pq.ParquetFile(path).metadata.row_group(damaged).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    for i in range(start + 30, start + column.total_compressed_size - 10):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


def invalid_utf8_file(path):
    """Three rows; the last one's string bytes are not UTF-8 (written without validation)."""
    bad = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(np.array([0, 4], np.int32).tobytes()),
                                                 pa.py_buffer(b"ok\xff\xfe")])
    pq.write_table(pa.table({"content": pa.concat_arrays([pa.array(texts(2, "utf8")), bad])}), path)
    return path


def ctx(path, source="pq"):
    return ReadContext(source, "text", str(path), path.name)


def test_a_damaged_row_group_costs_only_its_own_rows(tmp_path):
    path = damaged_row_group_file(tmp_path / "g.parquet")
    with open(path, "rb") as f:
        records = list(read_parquet(f, ctx(path)))
    docs = [r for r in records if isinstance(r, Document)]
    dead = [r for r in records if isinstance(r, DeadLetter)]
    assert [d.id.rpartition("@")[2] for d in docs] == [str(i) for i in (*range(10), *range(20, 30))]
    assert len(dead) == 1 and dead[0].reason == "read/corrupt_row_group"
    assert dead[0].location == f"{path}@10" and "10 of its 10 rows" in dead[0].error


def test_invalid_utf8_in_a_parquet_string_is_that_row_alone(tmp_path):
    path = invalid_utf8_file(tmp_path / "u.parquet")
    with open(path, "rb") as f:
        records = list(read_parquet(f, ctx(path)))
    assert [type(r).__name__ for r in records] == ["Document", "Document", "DeadLetter"]
    assert records[2].reason == "read/invalid_utf8" and records[2].location == f"{path}@2"


def test_a_lone_surrogate_in_json_is_dead_lettered_where_it_is_read(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join([json.dumps({"text": PROSE}), '{"text": "bad \\ud800 text"}',
                               '{"text": "fine", "metadata": {"title": "\\udfff"}}', json.dumps({"text": PROSE})]))
    records = list(file_records("jsonl", ctx(path, "j")))
    assert [type(r).__name__ for r in records] == ["Document", "DeadLetter", "DeadLetter", "Document"]
    assert [r.reason for r in records if isinstance(r, DeadLetter)] == ["read/invalid_unicode"] * 2
    assert records[1].location == f"{path}@1" and "surrogate" in records[1].error


def test_a_build_over_all_of_them_finishes_and_accounts_for_every_record(sample_corpus, tmp_path):
    from pipeline.__main__ import build
    inputs = tmp_path / "in"
    inputs.mkdir()
    damaged_row_group_file(inputs / "a.parquet")
    invalid_utf8_file(inputs / "b.parquet")
    (inputs / "c.jsonl").write_text("\n".join(
        [json.dumps({"text": t}) for t in texts(5, "json")] + ['{"text": "lone \\ud800 surrogate"}']))
    recipe = {"name": "hostile", "seed": 3,
              "sources": [{"name": "pq", "type": "parquet", "paths": [str(inputs / "*.parquet")], "epochs": 1},
                          {"name": "js", "type": "jsonl", "paths": [str(inputs / "c.jsonl")], "epochs": 1}],
              "dedup": {"exact": False},
              "tokenizer": {"path": str(sample_corpus / "tokenizer.json")}, "output": {"shard_tokens": 5000}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    build(["--recipe", str(tmp_path / "r.yaml"), "--output", str(out)])
    funnel = json.loads((out / "manifest.json").read_text())["funnel"]
    # a.parquet: 20 rows and one dead letter for the damaged group; b.parquet: 2 rows and one
    assert funnel["pq"] == {"read": 24, "kept": 22, "dropped": {},
                            "errors": {"read/corrupt_row_group": 1, "read/invalid_utf8": 1}}
    assert funnel["js"] == {"read": 6, "kept": 5, "dropped": {}, "errors": {"read/invalid_unicode": 1}}
    assert verify(str(out)) == []
