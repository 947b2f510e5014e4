"""The Python SDK harness as Beam's PROCESS environment starts it: the command an engine's
executor runs for each worker it needs (`--environment_type=PROCESS`), in place of Beam's
container `boot` binary, which the Python package does not ship. Each executor starts
harness processes of its own, so two executors never share one (a shared EXTERNAL worker
pool keyed them by worker id, which every executor numbers from 1: two executors asking
for worker "3-1" replaced each other's harness, and a Spark task waited for it forever)."""
from __future__ import annotations

import argparse
import logging


def control_endpoint(provision_endpoint: str, worker_id: str) -> str:
    """Where the harness connects: the runner's provision service says, to the worker that
    names itself in the call's metadata (as it tells `boot`)."""
    import grpc
    from apache_beam.portability.api import (
        beam_provision_api_pb2,
        beam_provision_api_pb2_grpc,
    )
    with grpc.insecure_channel(provision_endpoint) as channel:
        info = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel).GetProvisionInfo(
            beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=(("worker_id", worker_id),)).info
    return info.control_endpoint.url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", default="")
    parser.add_argument("--provision_endpoint", required=True)
    parser.add_argument("--control_endpoint", default="")
    args, _ = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from apache_beam.runners.worker.sdk_worker import SdkHarness
    control = args.control_endpoint or control_endpoint(args.provision_endpoint, args.id)
    SdkHarness(control, worker_id=args.id, state_cache_size=0, data_buffer_time_limit_ms=-1).run()


if __name__ == "__main__":
    main()
