"""python -m manifests {inspect,verify,locate,diff,report} ...

  inspect OUT [--json]          the manifest as tables (or JSON)
  verify OUT                    re-check every file; exit 1 naming each problem
  locate OUT SHARD OFFSET       the document at a token offset of a shard, and its text
  diff A B [--json]             what changed between two builds; exit 1 if anything did
  diff A B --documents          the documents kept by one build and not the other, with why
  rejects OUT [--reason R] [--sample N]   a fixed sample of what each rule removed
  report OUT [--html PATH]      a self-contained HTML page with plots (OUT/report.html)
"""
from __future__ import annotations

import argparse
import json
import sys

from manifests.inspect import summary
from manifests.io import corpus_root, manifest_path, read_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m manifests", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ins = sub.add_parser("inspect", help="print the manifest summary")
    ins.add_argument("output", help="corpus output directory (or its manifest.json)")
    ins.add_argument("--json", action="store_true", help="print the manifest as JSON")
    ins.add_argument("--shards", type=int, default=8, metavar="N", help="list N shards (default 8; 0: none)")
    ver = sub.add_parser("verify", help="re-check every shard; exit 1 on any mismatch")
    ver.add_argument("output")
    loc = sub.add_parser("locate", help="which document sits at a token offset of a shard")
    loc.add_argument("output")
    loc.add_argument("shard", help="shard index (training), name (shard-00003, validation-00000) or .bin path")
    loc.add_argument("offset", type=int, help="token offset inside the shard's .bin")
    loc.add_argument("--chars", type=int, default=2000, help="print at most this many characters of the text")
    dif = sub.add_parser("diff", help="what changed between two corpus builds")
    dif.add_argument("a")
    dif.add_argument("b")
    dif.add_argument("--json", action="store_true")
    dif.add_argument("--documents", action="store_true",
                     help="compare the documents datasets: ids added and removed, with the reason in the other build")
    rej = sub.add_parser("rejects", help="a sample of the dropped documents of each reason (output.rejects)")
    rej.add_argument("output")
    rej.add_argument("--reason", help="only this reason, e.g. filter/gopher_short_doc")
    rej.add_argument("--sample", type=int, default=20, metavar="N", help="records shown per reason (default 20)")
    rep = sub.add_parser("report", help="write an HTML report with plots")
    rep.add_argument("output")
    rep.add_argument("--html", help="where to write it (default OUT/report.html)")
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


def inspect_command(args) -> int:
    manifest = read_manifest(args.output)
    print(json.dumps(manifest, indent=2, sort_keys=True) if args.json
          else summary(manifest, manifest_path(args.output), args.shards, corpus_root(args.output)))
    return 0


def verify_command(args) -> int:
    from manifests.verify import verify
    problems = verify(args.output)
    for p in problems:
        print(f"FAIL {p}")
    print(f"{'FAILED' if problems else 'OK'}: {manifest_path(args.output)} "
          f"({len(problems)} problem{'s' * (len(problems) != 1)})")
    return 1 if problems else 0


def locate_command(args) -> int:
    from manifests.lineage import locate
    try:
        doc = locate(args.output, args.shard, args.offset)
    except (KeyError, IndexError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    text = doc.pop("text")
    for key in ("split", "shard", "position", "id", "source", "epoch", "url", "token_offset", "tokens", "bytes",
                "offset_in_document"):
        print(f"{key:>18}: {doc[key]}")
    print("-" * 72)
    print(text[:args.chars] + (f"\n[... {len(text) - args.chars:,} more characters]" if len(text) > args.chars else ""))
    return 0


def diff_command(args) -> int:
    from manifests.diff import diff_manifests, is_identical, render
    if args.documents:
        from manifests.audit import document_changes, render_changes
        try:
            changes = document_changes(args.a, args.b)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(changes, indent=2) if args.json else render_changes(changes, args.a, args.b))
        return 0 if not (changes["added"] or changes["removed"]) else 1
    d = diff_manifests(read_manifest(args.a), read_manifest(args.b))
    print(json.dumps(d, indent=2, sort_keys=True, default=str) if args.json else render(d, args.a, args.b))
    return 0 if is_identical(d) else 1


def rejects_command(args) -> int:
    from manifests.audit import reject_samples, render_samples
    print(render_samples(reject_samples(args.output, args.reason, args.sample)))
    return 0


def report_command(args) -> int:
    from manifests.report import write_report
    print(write_report(args.output, args.html))
    return 0


COMMANDS = {"inspect": inspect_command, "verify": verify_command, "locate": locate_command, "diff": diff_command,
            "report": report_command, "rejects": rejects_command}

if __name__ == "__main__":
    sys.exit(main())
