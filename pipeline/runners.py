"""The local runner: Beam's FnApiRunner, named explicitly.

Beam 2.77's DirectRunner first tries the PrismRunner, which downloads a Go binary
from GitHub at run time and runs the pipeline there when the download works,
falling back to the FnApiRunner when it does not (as on a machine that reaches
package registries only). A corpus build downloads nothing but its data and runs
on the runner its tests cover, so without a --runner, or with
--runner=DirectRunner, it runs on that FnApiRunner directly; it still honours
--direct_running_mode and --direct_num_workers. --runner=PrismRunner asks for
Prism explicitly.

With more than one core and neither option given, a local build runs one worker
process per core (`local_parallelism`): the same bytes (tests/test_end_to_end.py
builds with two workers and compares), in less time (bench/README.md).
"""
from __future__ import annotations

import contextlib
import json
import os

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def with_local_runner(options: PipelineOptions) -> PipelineOptions:
    standard = options.view_as(StandardOptions)
    if standard.runner in (None, "DirectRunner", "SwitchingDirectRunner"):
        standard.runner = LOCAL_RUNNER
    return options


LOCAL_RUNNERS = (None, "DirectRunner", "SwitchingDirectRunner", LOCAL_RUNNER)


def local_parallelism(argv: list[str], cores: int | None = None) -> list[str]:
    """The options that make a local build use every core, unless `argv` names a
    non-local runner or sets the direct runner's mode or workers itself."""
    cores = cores or os.cpu_count() or 1
    runner = PipelineOptions(argv).view_as(StandardOptions).runner
    chosen = any(a.split("=")[0] in ("--direct_running_mode", "--direct_num_workers") for a in argv)
    # Beam's local worker processes do not receive filesystem options given as flags
    # (--s3_endpoint_url, --s3_access_key_id, ...): their S3 client would have no
    # credentials. Such builds stay in one process (credentials from the environment
    # reach the workers, so those builds still get every core).
    filesystem_flags = any(a.startswith(("--s3_", "--hdfs_")) for a in argv)
    if cores < 2 or chosen or filesystem_flags or runner not in LOCAL_RUNNERS:
        return []
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={cores}"]


@contextlib.contextmanager
def quiet_local_workers():
    """Local worker processes log at WARNING, not INFO: their start-up and shut-down
    chatter (about 70 lines a build) broke the progress line. The local runner hands
    its workers empty pipeline options, which they read from PIPELINE_OPTIONS_FILE
    when that is set; gRPC's core logging follows GRPC_VERBOSITY. Variables the user
    has set win."""
    import tempfile
    with tempfile.NamedTemporaryFile("w", prefix="corpusmill-worker-options-", suffix=".json") as f:
        json.dump({"options": {"default_sdk_harness_log_level": "WARNING",
                               # its warning that it has no semi-persistent directory, which a local run never has
                               "sdk_harness_log_level_overrides": {"__main__": "ERROR"}}}, f)
        f.flush()
        quiet = {"PIPELINE_OPTIONS_FILE": f.name, "GRPC_VERBOSITY": "ERROR"}
        added = [name for name in quiet if name not in os.environ]
        os.environ.update({name: quiet[name] for name in added})
        try:
            yield
        finally:
            for name in added:
                os.environ.pop(name, None)
