"""A real engine: the sample recipe through Apache Flink's runtime (1.19, embedded in Beam's
Flink job server, fetched from Maven Central by `make engines`), its Python stages in
a worker pool started in a folder of its own, builds the local runner's corpus byte
for byte. A missing Java or Maven, or an unreachable Maven Central, fails here with
one line naming what to install; it does not skip."""
import pytest

from engines.local import EngineError, down, free_port, up
from tests.conftest import assert_same_files, build_sample


@pytest.fixture(scope="module")
def flink():
    try:
        running = up("flink", free_port(), free_port())
    except EngineError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield running
    down("flink")


def test_flink_builds_the_local_runners_bytes(flink, sample_corpus, tmp_path):
    out = build_sample(tmp_path / "flink", *flink.build_args(), "--parallelism=2", "--no_progress")
    names = assert_same_files(sample_corpus, out)
    assert "manifest.json" in names and "shard-00000.bin" in names
