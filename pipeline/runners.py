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
