"""python -m manifests {inspect,verify} OUTPUT"""
from __future__ import annotations

import argparse
import json
import sys

from manifests.inspect import summary
from manifests.io import manifest_path, read_manifest
from manifests.verify import verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m manifests", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ins = sub.add_parser("inspect", help="print the manifest summary")
    ins.add_argument("output", help="corpus output directory (or its manifest.json)")
    ins.add_argument("--json", action="store_true", help="print the manifest as JSON")
    ver = sub.add_parser("verify", help="re-check every shard; exit 1 on any mismatch")
    ver.add_argument("output")
    args = parser.parse_args(argv)
    if args.command == "inspect":
        manifest = read_manifest(args.output)
        print(json.dumps(manifest, indent=2, sort_keys=True) if args.json
              else summary(manifest, manifest_path(args.output)))
        return 0
    problems = verify(args.output)
    for p in problems:
        print(f"FAIL {p}")
    print(f"{'FAILED' if problems else 'OK'}: {manifest_path(args.output)} "
          f"({len(problems)} problem{'s' * (len(problems) != 1)})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
