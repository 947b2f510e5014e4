"""The manifest's versioned JSON Schema: what builds write, and what older corpora keep."""
import json

import pytest

from manifests.io import SCHEMA_VERSIONS, dumps, read_manifest, schema, validation_errors
from pipeline.transforms.manifest import write_manifest


@pytest.fixture(scope="module")
def manifest(sample_corpus):
    return json.loads((sample_corpus / "manifest.json").read_text())


def as_version_4(manifest: dict) -> dict:
    """What release 4 wrote: one documents dataset file per shard, no resolved recipe, no
    dedup index, no phases."""
    old = json.loads(json.dumps(manifest))
    old["schema_version"] = 4
    old.pop("resolved_recipe")
    old.pop("dedup_index", None)
    old.pop("phases", None)
    for shard in old["shards"] + old["validation"]["shards"]:
        if "dataset" in shard:
            assert len(shard["dataset"]) == 1
            shard["dataset"] = shard["dataset"][0]
            shard["dataset"]["path"] = shard["dataset"]["path"].replace("-000.parquet", ".parquet")
    return old


def as_version_1(manifest: dict) -> dict:
    """What release 1 wrote: no validation split, lineage or corpus statistics."""
    old = as_version_4(manifest)
    old["schema_version"] = 1
    old.pop("validation")
    for shard in old["shards"]:
        shard.pop("lineage")
        shard.pop("dataset", None)
    for source in old["sources"].values():
        for key in ("bytes", "bytes_per_token", "validation", "languages", "words"):
            source.pop(key)
    return old


def test_builds_write_the_newest_version_and_it_round_trips(manifest, tmp_path):
    assert manifest["schema_version"] == SCHEMA_VERSIONS[-1] == 5
    assert schema()["$id"] == "corpusmill/manifest/v5"
    assert validation_errors(manifest) == []
    write_manifest(str(tmp_path), manifest)
    assert read_manifest(str(tmp_path)) == manifest
    assert (tmp_path / "manifest.json").read_bytes() == dumps(manifest)


def test_an_older_manifest_still_validates_against_its_own_version(manifest):
    old = as_version_1(manifest)
    assert validation_errors(old) == []
    # ...but not as a version 2 one, and a version 2 one is not a valid version 1
    assert any("validation" in e for e in validation_errors({**old, "schema_version": 2}))
    assert validation_errors({**manifest, "schema_version": 1})


def as_version_3(manifest: dict) -> dict:
    """What release 3 wrote: no documents dataset."""
    old = as_version_4(manifest)
    old["schema_version"] = 3
    for shard in old["shards"] + old["validation"]["shards"]:
        shard.pop("dataset", None)
    return old


def test_a_version_3_manifest_still_validates_and_knows_no_dataset(manifest):
    assert any("dataset" in s for s in manifest["shards"])
    old = as_version_3(manifest)
    assert validation_errors(old) == []
    assert any("dataset" in e for e in validation_errors({**as_version_4(manifest), "schema_version": 3}))


def as_version_2(manifest: dict) -> dict:
    """What release 2 wrote: no hashes of the transformers files, dead letters or rejects."""
    old = as_version_3(manifest)
    old["schema_version"] = 2
    old["tokenizer"].pop("files")
    old.pop("dead_letters", None)
    old.get("rejects", {}).pop("files", None)
    return old


def test_a_version_2_manifest_still_validates_and_version_3_requires_the_file_hashes(manifest):
    old = as_version_2(manifest)
    assert validation_errors(old) == []
    assert any("'files' is a required property" in e for e in validation_errors({**old, "schema_version": 3}))


def test_unknown_versions_and_bad_fields_are_named(manifest):
    assert validation_errors({**manifest, "schema_version": 99}) == ["schema_version: 99 is not one of [1, 2, 3, 4, 5]"]
    with pytest.raises(ValueError, match="unknown manifest schema_version"):
        schema(99)
    bad = json.loads(json.dumps(manifest))
    bad["shards"][0]["lineage"]["path"] = "shard-00000.csv"
    bad["stats"]["words_sample"] = 2
    errors = validation_errors(bad)
    assert any(e.startswith("shards/0/lineage/path") for e in errors)
    assert any(e.startswith("stats/words_sample") for e in errors)
    with pytest.raises(ValueError, match="does not match its schema"):
        write_manifest("/nonexistent", bad)


def test_a_version_4_manifest_lists_one_dataset_file_per_shard_and_still_reads(manifest):
    """Version 5 cut a shard's documents dataset into files (output.documents.file_mb); what
    version 4 wrote, one file record per shard, validates as version 4 and reads the same."""
    from manifests.documents import shard_dataset_files
    old = as_version_4(manifest)
    assert validation_errors(old) == []
    assert validation_errors({**old, "schema_version": 5})
    assert [f["rows"] for s in old["shards"] for f in shard_dataset_files(s)] == \
        [f["rows"] for s in manifest["shards"] for f in shard_dataset_files(s)]
