"""python -m engines {fetch,up,down} ENGINE [--job-port N] [--worker-port N] [--workers N (spark)]"""
from __future__ import annotations

import argparse
import sys

from engines.local import ENGINES, SPARK_WORKERS, EngineError, down, fetch, up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engines", description=__doc__)
    parser.add_argument("command", choices=("fetch", "up", "down"))
    parser.add_argument("engine", choices=ENGINES)
    parser.add_argument("--job-port", type=int, default=8099)
    parser.add_argument("--worker-port", type=int, default=50000)
    parser.add_argument("--workers", type=int, default=SPARK_WORKERS, help="Spark workers of one core each")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(fetch(args.engine))
        elif args.command == "up":
            running = up(args.engine, args.job_port, args.worker_port, args.workers)
            print(" ".join(running.build_args()))
        else:
            down(args.engine)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
