"""Shared wiring: drop counters and the DoFn that applies a document rule.

A rule's verdict (pipeline/rules/verdict.py) becomes up to three outputs: the
kept document, a (source, "<stage>/<reason>") drop, and the rule's tallies as
(source, "<stage>/<what>", n): PII replaced, C4 lines removed, eval-set matches.
With rejects on, each drop also emits its audit record (id, source, reason, the
text's first 200 characters, and what the rule measured against which threshold).

Every drop is counted twice on purpose: a Beam counter `dropped/<stage>/<reason>`
(live progress in the runner's UI, and in pipeline/progress.py's line on a local
terminal) and a (source, reason) element that the manifest's funnel adds up,
because counters are not exact on every runner (retried bundles) while elements are.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.progress import LiveTally
from pipeline.rules.verdict import Dropped, passed_on
from sources.document import Document

NAMESPACE = "corpusmill"
DROPPED = "dropped"
TALLIES = "tallies"
REJECTS = "rejects"
REJECT_CHARS = 200


def reject_record(doc: Document, reason: str, measured: str = "") -> dict:
    """The audit record of a drop: what the rule measured against its threshold (a
    rules.verdict.Failed's `measured`), and the document's language where it was labelled."""
    record = {"id": doc.id, "source": doc.source, "reason": reason, "text": doc.text[:REJECT_CHARS]}
    if measured:
        record["measured"] = measured
    if "language" in doc.meta:
        record["language"], record["language_score"] = doc.meta["language"], doc.meta.get("language_score")
    return record


def in_global_window(value) -> WindowedValue:
    """What finish_bundle yields: a value flushed from a bundle's buffer, in the global window
    (every stage here is batch and unwindowed)."""
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


def sum_columns(rows) -> tuple:
    """Rows of numbers -> their column sums (a CombineFn as a callable: it also sums
    partial sums); () for no rows."""
    return tuple(map(sum, zip(*rows)))


class Counters:
    """Lazily created Beam counters, one per name, mirrored to a LiveTally of their own for
    a local run's progress line (pipeline/progress.py). Created in a DoFn's setup, in
    the process that runs it."""

    def __init__(self):
        self._counters = {}
        self.live = LiveTally.from_environment()

    def inc(self, name: str, n: int = 1) -> None:
        if name not in self._counters:
            self._counters[name] = Metrics.counter(NAMESPACE, name)
        self._counters[name].inc(n)
        if self.live is not None:
            self.live.add(name, n)

    def drop(self, source: str, reason: str) -> beam.pvalue.TaggedOutput:
        """Counts `dropped/<reason>` and returns the funnel element for the drop."""
        self.inc(f"dropped/{reason}")
        return beam.pvalue.TaggedOutput(DROPPED, (source, reason))


class StageOutput(NamedTuple):
    kept: beam.PCollection                          # Documents
    dropped: beam.PCollection                       # (source, "stage/reason")
    tallies: Optional[beam.PCollection] = None      # (source, "stage/what", n)
    rejects: Optional[beam.PCollection] = None      # reject_record dicts, when asked for


class ApplyRule(beam.DoFn):
    """Calls `make_rule()`'s rule on each Document and routes its verdict."""

    def __init__(self, stage: str, make_rule: Callable[[], Callable[[Document], object]], rejects: bool = False):
        self.stage = stage
        self.make_rule = make_rule
        self.rejects = rejects

    def setup(self):
        self.rule = self.make_rule()
        self.counters = Counters()

    def teardown(self):
        close = getattr(self.rule, "close", None)   # e.g. an extractor's child process
        if close:
            close()

    def process(self, doc: Document):
        self.counters.inc(f"{self.stage}/documents")
        result = self.rule(doc)
        for what, n in getattr(result, "counts", {}).items():
            self.counters.inc(f"{self.stage}/{what}", n)
            yield beam.pvalue.TaggedOutput(TALLIES, (doc.source, f"{self.stage}/{what}", n))
        passed = passed_on(result, doc)
        if passed is not None:
            yield passed
        else:
            reason = f"{self.stage}/{result.reason if isinstance(result, Dropped) else result}"
            yield self.counters.drop(doc.source, reason)
            if self.rejects:
                labelled = getattr(result, "doc", None) or doc    # a chain's Dropped: with its language label
                yield beam.pvalue.TaggedOutput(REJECTS, reject_record(labelled, reason,
                                                                      getattr(result, "measured", "")))


def apply_rule(docs: beam.PCollection, label: str, stage: str, make_rule, rejects: bool = False) -> StageOutput:
    outs = docs | label >> beam.ParDo(ApplyRule(stage, make_rule, rejects)).with_outputs(
        DROPPED, TALLIES, REJECTS, main="kept")
    return StageOutput(outs.kept, outs[DROPPED], outs[TALLIES], outs[REJECTS])
