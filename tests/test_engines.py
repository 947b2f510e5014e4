"""Real engines on loopback build the local runner's corpus byte for byte.

- Apache Flink's runtime (1.19, embedded in Beam's Flink job server);
- a standalone Apache Spark 3.5 cluster: a master and two workers of one core each,
  each its own JVM, with Beam's Spark job server submitting to it.

Both are fetched from Maven Central by `make engines`; the Python stages run in a Beam
worker pool started in a folder of its own. A missing Java or Maven, or an unreachable
Maven Central, fails here with one line naming what to install; it does not skip."""
import pytest

from engines.local import EngineError, down, free_port, up
from tests.conftest import assert_same_files, build_sample


def engine(name: str):
    try:
        running = up(name, free_port(), free_port())
    except EngineError as exc:
        pytest.fail(str(exc), pytrace=False)
    return running


@pytest.fixture(scope="module")
def flink():
    yield engine("flink")
    down("flink")


@pytest.fixture(scope="module")
def spark():
    yield engine("spark")
    down("spark")


def test_flink_builds_the_local_runners_bytes(flink, sample_corpus, tmp_path):
    out = build_sample(tmp_path / "flink", *flink.build_args(), "--parallelism=2", "--no_progress")
    names = assert_same_files(sample_corpus, out)
    assert "manifest.json" in names and "shard-00000.bin" in names


def test_a_spark_cluster_builds_the_local_runners_bytes(spark, sample_corpus, tmp_path):
    assert spark.master.startswith("spark://127.0.0.1:")
    out = build_sample(tmp_path / "spark", *spark.build_args(), "--no_progress")
    names = assert_same_files(sample_corpus, out)
    assert "manifest.json" in names and "validation-00000.bin" in names
