"""python -m pipeline build --recipe R --output O [any Beam pipeline option]
   python -m pipeline plan --recipe R [--sample-mb 64] [--workers N]

Builds the corpus the recipe describes into O (shards, tokenizer.json,
manifest.json, dead_letters.jsonl) and prints the manifest summary. Runs on the
DirectRunner unless a Beam --runner option says otherwise. `plan` reads a sample
of the inputs and estimates the full build's documents, tokens, output size,
time and memory, writing nothing (pipeline/plan.py).

Re-running into the same O after a failure or a kill resumes: a finished clean
stage (read, filter, dedup) is reused when the recipe, inputs and code are
unchanged, and the output is rewritten to the same bytes (pipeline/resume.py).
"""
from __future__ import annotations

import argparse
import re
import sys
import time
import traceback

from pipeline.recipe import RecipeError


def build(argv: list[str]) -> str:
    """Builds the corpus (pipeline/build.py); here so callers need not know that module."""
    from pipeline.build import build as run
    return run(argv)


ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception|Denied|Failed|NotFound)\w*): (.+)$", re.M)


def root_cause(exc: BaseException) -> str:
    """The first failure under `exc`, as `Type: message`: the innermost exception of its
    chain, and inside the text of a runner's wrapped traceback (Beam reports a worker's
    exception as text) the last `SomethingError: message` line."""
    while exc.__cause__ is not None or (exc.__context__ is not None and not exc.__suppress_context__):
        exc = exc.__cause__ or exc.__context__
    lines = ERROR_LINE.findall(str(exc))
    if lines:
        kind, message = lines[-1]
        return f"{kind}: {message.strip()}"
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": ")


def check_recipe_first(argv: list[str]) -> None:
    """Loads the `--recipe` a command names before anything imports Beam's runners, so a
    bad recipe fails in a fraction of a second (RecipeError); the command loads it again."""
    from pipeline.recipe import load_recipe
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--recipe")
    known, _ = parser.parse_known_args(argv)
    if known.recipe:
        load_recipe(known.recipe)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("build", "plan"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        check_recipe_first(argv[1:])
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from pipeline.build import SETUP_ERRORS, EmptyCorpus, summarize
    start = time.perf_counter()
    try:
        if argv[0] == "plan":
            from pipeline.plan import main as plan
            return plan(argv[1:])
        output = build(argv[1:])
    except SETUP_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except EmptyCorpus as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:   # the runner's or the storage's failure: its traceback, then one line
        traceback.print_exc()
        print(f"error: {root_cause(exc)}", file=sys.stderr)
        return 1
    print(summarize(output))
    print(f"\nbuilt in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
