"""Beam's portable path: the sample recipe submitted to Beam's local job service
(`local_job_service_main`, on loopback, workers in this process) builds a corpus
byte-identical to the local runner's, the way a Flink or Spark job server would
receive it."""
import subprocess
import sys
import time

import pytest

from engines.local import free_port, listening
from tests.conftest import assert_same_files, build_sample


@pytest.fixture
def job_service():
    port = free_port()
    service = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if listening(port):
                break
            assert service.poll() is None, service.stdout.read()
            time.sleep(0.2)
        else:
            pytest.fail("the job service did not start listening")
        yield f"localhost:{port}"
    finally:
        service.kill()
        service.wait()


def test_portable_runner_on_loopback_builds_the_same_bytes(sample_corpus, job_service, tmp_path):
    portable = build_sample(tmp_path / "portable", "--runner=PortableRunner", f"--job_endpoint={job_service}",
                            "--environment_type=LOOPBACK")
    assert_same_files(sample_corpus, portable)
