"""Hugging Face datasets saved on disk, read file by file through `datasets`."""
import json

import apache_beam as beam
import datasets
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.recipe import SourceSpec
from pipeline.transforms.read import ReadSources
from sources.document import DeadLetter, Document
from sources.hf import read_hf
from sources.files import ReadContext

ROWS = {"text": [f"hugging face row {i} with some words" for i in range(40)],
        "url": [f"https://hf/{i}" for i in range(40)], "score": [i / 10 for i in range(40)]}


def test_saved_dataset_is_read_per_data_file(tmp_path):
    datasets.Dataset.from_dict(ROWS).save_to_disk(str(tmp_path / "ds"), num_shards=3)
    files = sorted((tmp_path / "ds").glob("data-*.arrow"))
    assert len(files) == 3
    spec = SourceSpec("hf", "hf", (f"{tmp_path}/ds/data-*.arrow",), "text", 2.0)
    with BeamTestPipeline() as p:
        out = p | ReadSources((spec,))
        assert_that(out.documents | beam.Map(lambda d: d.text), equal_to(ROWS["text"]), label="Texts")
        assert_that(out.read_counts | beam.Map(lambda kv: kv[1]), equal_to([14, 13, 13]), label="PerFile")
    ctx = ReadContext("hf", "text", str(files[0]), files[0].name)
    first = list(read_hf(open(files[0], "rb"), ctx))[0]
    assert first.url == "https://hf/0" and first.meta["score"] == 0.0 and first.id == f"hf/{files[0].name}@0"


def test_jsonl_data_file_and_bad_rows(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"body": "one"}, {"body": None}, {"body": "two"}]) + "\n")
    ctx = ReadContext("hf", "text", str(path), path.name, columns={"text": "body"})
    records = list(read_hf(open(path, "rb"), ctx))
    assert [type(r).__name__ for r in records] == ["Document", "DeadLetter", "Document"]
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    (dead,) = list(read_hf(open(bad, "rb"), ReadContext("hf", "text", str(bad), bad.name)))
    assert isinstance(dead, DeadLetter) and dead.reason == "read/corrupt_dataset"
    assert not any(isinstance(r, Document) and r.text is None for r in records)


def test_named_dataset_is_split_by_shard(tmp_path):
    # A dataset directory is resolved exactly as a hub name is (data files found by
    # load_dataset), without the network.
    repo = tmp_path / "my-dataset"
    (repo / "data").mkdir(parents=True)
    datasets.Dataset.from_dict({"text": [f"a{i}" for i in range(30)]}).to_parquet(str(repo / "data" / "train-00000-of-00002.parquet"))
    datasets.Dataset.from_dict({"text": [f"b{i}" for i in range(20)]}).to_parquet(str(repo / "data" / "train-00001-of-00002.parquet"))
    from pipeline.recipe import parse_recipe
    recipe = parse_recipe({"sources": [{"name": "named", "type": "hf", "dataset": str(repo)}]})
    spec = recipe.sources[0]
    assert spec.paths == () and spec.options == {"dataset": str(repo)}
    with BeamTestPipeline() as p:
        out = p | ReadSources((spec,))
        assert_that(out.documents | beam.Map(lambda d: d.text),
                    equal_to([f"a{i}" for i in range(30)] + [f"b{i}" for i in range(20)]), label="Texts")
        assert_that(out.read_counts, equal_to([("named", 30), ("named", 20)]), label="PerShard")
        assert_that(out.documents | beam.Filter(lambda d: d.text == "b3") | beam.Map(lambda d: d.id),
                    equal_to([f"named/{str(repo).strip('/').replace('/', '--')}/train/shard-00001@3"]), label="Id")


def test_dataset_naming_a_save_to_disk_folder_reads_its_arrow_files(tmp_path):
    """The bug: `dataset:` naming a `save_to_disk` folder failed before the pipeline started
    (load_dataset cannot open one); a DatasetDict's folder is read by its split."""
    from pipeline.recipe import parse_recipe
    datasets.Dataset.from_dict(ROWS).save_to_disk(str(tmp_path / "saved"), num_shards=2)
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["t0", "t1"]}),
                          "test": datasets.Dataset.from_dict({"text": ["x0"]})}).save_to_disk(str(tmp_path / "dict"))
    plain = parse_recipe({"sources": [{"name": "saved", "type": "hf", "dataset": str(tmp_path / "saved")}]})
    split = parse_recipe({"sources": [{"name": "dict", "type": "hf", "dataset": str(tmp_path / "dict"),
                                       "split": "test"}]})
    with BeamTestPipeline() as p:
        out = p | "Plain" >> ReadSources(plain.sources)
        assert_that(out.documents | beam.Map(lambda d: d.text), equal_to(ROWS["text"]), label="Texts")
        assert_that(out.read_counts | beam.Map(lambda kv: kv[1]), equal_to([20, 20]), label="PerFile")
        test = p | "Split" >> ReadSources(split.sources)
        assert_that(test.documents | beam.Map(lambda d: d.text), equal_to(["x0"]), label="TestSplit")
