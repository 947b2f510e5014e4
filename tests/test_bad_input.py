"""A recipe over real Common Crawl data plus a broken file: the job finishes, the
broken file is dead-lettered and counted, and an existing tokenizer can be reused."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from manifests.verify import verify
from pipeline.__main__ import build


def test_broken_input_is_counted_not_fatal(commoncrawl, sample_corpus, tmp_path):
    good = tmp_path / "in" / "good.parquet"
    good.parent.mkdir()
    prose = ("Corpus building is careful work: every record must be read, kept or dropped with a reason, "
             "and the numbers in the manifest must add up exactly for the people who train on it. ") * 5
    pq.write_table(pa.table({"content": [prose, None, prose + " Again, with a twist."]}), good)
    (tmp_path / "in" / "zbroken.parquet").write_bytes(b"PAR1 definitely not a parquet file PAR1")
    recipe = {
        "name": "bad-input", "seed": 1,
        "sources": [
            {"name": "cc", "type": "warc", "paths": [str(commoncrawl / "whirlwind.warc.gz")], "epochs": 1},
            {"name": "pq", "type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")], "epochs": 3},
        ],
        "filters": {"text": [{"name": "min_chars", "minimum": 100}]},
        "tokenizer": {"path": str(sample_corpus / "tokenizer.json")},
        "output": {"shard_tokens": 1000},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    build(["--recipe", str(tmp_path / "r.yaml"), "--output", str(out)])

    manifest = json.loads((out / "manifest.json").read_text())
    funnel = manifest["funnel"]
    assert funnel["cc"] == {"read": 1, "kept": 1, "dropped": {}, "errors": {}}
    assert funnel["pq"] == {"read": 4, "kept": 2, "dropped": {},
                            "errors": {"read/corrupt_parquet": 1, "read/no_text": 1}}
    dead = [json.loads(line) for line in (out / "dead_letters.jsonl").read_text().splitlines()]
    assert [(d["source"], d["reason"]) for d in dead] == [("pq", "read/no_text"), ("pq", "read/corrupt_parquet")]
    assert dead[0]["location"].endswith("good.parquet@1")
    assert manifest["tokenizer"]["sha256"] == json.loads((sample_corpus / "manifest.json").read_text())["tokenizer"]["sha256"]
    assert manifest["sources"]["pq"]["stream_tokens"] == 3 * manifest["sources"]["pq"]["tokens"]
    assert verify(str(out)) == []
