"""Object storage for real: an S3-compatible server (moto's standalone server) on
loopback, read and written through Beam's own S3 filesystem, not a client mock.
The same recipe built from s3:// and from local disk gives byte-identical shards."""
import json
import logging
import os
import shutil

import pytest
import yaml

from pipeline.__main__ import build
from tests.conftest import SAMPLES

boto3 = pytest.importorskip("boto3", reason="the [aws] extra is part of the test environment")


@pytest.fixture(scope="module")
def s3():
    from moto.server import ThreadedMotoServer
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                          region_name="us-east-1")
    client.create_bucket(Bucket="crawl")
    yield endpoint, client
    server.stop()


def recipe(root: str, tokenizer: str) -> dict:
    return {"name": "s3", "seed": 7,
            "sources": [{"name": "cc", "type": "warc", "paths": [f"{root}/cc/*.warc.gz"], "epochs": 2},
                        {"name": "code", "type": "parquet", "paths": [f"{root}/code/*.parquet"], "kind": "code",
                         "columns": {"path": "max_stars_repo_path"}}],
            "filters": {"text": [{"name": "min_chars", "minimum": 500}]},
            "tokenizer": {"path": tokenizer}, "output": {"shard_tokens": 500_000}}


def test_build_from_and_to_s3_matches_local(s3, sample_corpus, tmp_path):
    endpoint, client = s3
    client.upload_file(str(SAMPLES / "cc" / "CC-SAMPLE-00001.warc.gz"), "crawl", "in/cc/CC-SAMPLE-00001.warc.gz")
    client.upload_file(str(SAMPLES / "code" / "part-00001.parquet"), "crawl", "in/code/part-00001.parquet")
    local_in = tmp_path / "in"
    (local_in / "cc").mkdir(parents=True)
    (local_in / "code").mkdir()
    shutil.copy(SAMPLES / "cc" / "CC-SAMPLE-00001.warc.gz", local_in / "cc")
    shutil.copy(SAMPLES / "code" / "part-00001.parquet", local_in / "code")
    tokenizer = str(sample_corpus / "tokenizer.json")
    s3_options = [f"--s3_endpoint_url={endpoint}", "--s3_access_key_id=test", "--s3_secret_access_key=test",
                  "--s3_region_name=us-east-1"]

    (tmp_path / "s3.yaml").write_text(yaml.safe_dump(recipe("s3://crawl/in", tokenizer)))
    (tmp_path / "local.yaml").write_text(yaml.safe_dump(recipe(str(local_in), tokenizer)))
    build(["--recipe", str(tmp_path / "s3.yaml"), "--output", "s3://crawl/corpus", *s3_options])
    build(["--recipe", str(tmp_path / "local.yaml"), "--output", str(tmp_path / "local")])

    remote = json.loads(client.get_object(Bucket="crawl", Key="corpus/manifest.json")["Body"].read())
    local = json.loads((tmp_path / "local" / "manifest.json").read_text())
    assert remote["funnel"] == local["funnel"] and remote["funnel"]["code"]["read"] == 215
    assert remote["shards"] == local["shards"] and len(remote["shards"]) >= 2
    for shard in remote["shards"]:
        body = client.get_object(Bucket="crawl", Key=f"corpus/{shard['path']}")["Body"].read()
        assert body == (tmp_path / "local" / shard["path"]).read_bytes()
    keys = {o["Key"] for o in client.list_objects_v2(Bucket="crawl", Prefix="corpus/")["Contents"]}
    assert not any("_work" in k or "inprogress" in k for k in keys), "no temporaries left in the bucket"


def test_output_lock_on_s3_is_a_conditional_put(s3):
    """The lock's atomic creation on object storage: a conditional put (If-None-Match: *)
    against the real S3 protocol; the second holder is refused, the lock goes with the first."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from manifests.io import LOCK_FILE
    from pipeline.lock import OutputLock, OutputLocked
    endpoint, client = s3
    options = PipelineOptions([f"--s3_endpoint_url={endpoint}", "--s3_access_key_id=test",
                               "--s3_secret_access_key=test", "--s3_region_name=us-east-1"])
    with OutputLock("s3://crawl/locked", options) as held:
        body = json.loads(client.get_object(Bucket="crawl", Key=f"locked/{LOCK_FILE}")["Body"].read())
        assert body["token"] == held.info.token and body["pid"] == os.getpid()
        with pytest.raises(OutputLocked, match="s3://crawl/locked is being built by .* pid"):
            with OutputLock("s3://crawl/locked", options):
                pass
    assert "Contents" not in client.list_objects_v2(Bucket="crawl", Prefix="locked/")


def test_a_bucket_that_does_not_exist_ends_in_one_error_line_and_leaves_the_corpus(s3, sample_corpus, tmp_path,
                                                                                    capsys):
    """Inputs in a missing bucket: one line, exit 2, the finished corpus in the output left
    as it was. An output in a missing bucket, an infrastructure failure: the traceback,
    then one `error:` line naming the cause, exit status 1."""
    from manifests.verify import verify
    from pipeline.__main__ import main
    endpoint, _ = s3
    flags = [f"--s3_endpoint_url={endpoint}", "--s3_access_key_id=test", "--s3_secret_access_key=test",
             "--s3_region_name=us-east-1", "--no_progress"]
    finished = tmp_path / "finished"
    shutil.copytree(sample_corpus, finished)
    tokenizer = str(sample_corpus / "tokenizer.json")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe("s3://no-such-bucket/in", tokenizer)))
    assert main(["build", "--recipe", str(tmp_path / "r.yaml"), "--output", str(finished), *flags]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "error: no input file matches 's3://no-such-bucket/in/cc/*.warc.gz'"
    assert verify(str(finished)) == []
    local = tmp_path / "in"
    (local / "cc").mkdir(parents=True)
    (local / "code").mkdir()
    shutil.copy(SAMPLES / "cc" / "CC-SAMPLE-00001.warc.gz", local / "cc")
    shutil.copy(SAMPLES / "code" / "part-00001.parquet", local / "code")
    (tmp_path / "l.yaml").write_text(yaml.safe_dump(recipe(str(local), tokenizer)))
    assert main(["build", "--recipe", str(tmp_path / "l.yaml"), "--output", "s3://no-such-bucket/out", *flags]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback (most recent call last):" in err and err[-1].startswith("error: ") and "NoSuchBucket" in err[-1], \
        err[-3:]


def test_a_quality_model_on_s3_is_copied_to_the_worker_and_scores_as_the_local_file(s3, tmp_path):
    """fastText reads local files only: a `model: s3://...` is copied next to the worker
    (pipeline/rules/classifier.local_copy) and the copy removed once loaded."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.rules.classifier import QualityClassifier, train_classifier
    from sources.document import Document
    endpoint, client = s3
    good = ["the river runs through the valley and the town by the old mill"] * 20
    bad = ["buy cheap pills now click here free prize winner casino offer"] * 20
    data = train_classifier(good, bad, seed=2, epochs=5, dim=8, buckets=1_000)
    (tmp_path / "model.bin").write_bytes(data)
    client.put_object(Bucket="crawl", Key="models/quality.bin", Body=data)
    FileSystems.set_options(PipelineOptions([f"--s3_endpoint_url={endpoint}", "--s3_access_key_id=test",
                                             "--s3_secret_access_key=test", "--s3_region_name=us-east-1"]))
    remote = QualityClassifier("s3://crawl/models/quality.bin", "hq")
    local = QualityClassifier(str(tmp_path / "model.bin"), "hq")
    doc = Document(id="s/a@0", text="the valley and the river by the town", kind="text", source="s")
    assert remote(doc) == local(doc) and remote(doc).signals["quality_score"] > 0.5
