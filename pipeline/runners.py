"""The local runner: Beam's FnApiRunner, named explicitly.

Beam 2.77's DirectRunner first tries the PrismRunner, which downloads a Go binary
from GitHub at run time and runs the pipeline there when the download works,
falling back to the FnApiRunner when it does not (as on a machine that reaches
package registries only). A corpus build downloads nothing but its data and runs
on the runner its tests cover, so without a --runner, or with
--runner=DirectRunner, it runs on that FnApiRunner directly; it still honours
--direct_running_mode and --direct_num_workers. --runner=PrismRunner asks for
Prism explicitly.
"""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def with_local_runner(options: PipelineOptions) -> PipelineOptions:
    standard = options.view_as(StandardOptions)
    if standard.runner in (None, "DirectRunner", "SwitchingDirectRunner"):
        standard.runner = LOCAL_RUNNER
    return options
