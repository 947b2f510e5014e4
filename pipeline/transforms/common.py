"""Shared wiring: drop counters and the DoFn that applies a document rule.

Every drop is counted twice on purpose: a Beam counter `dropped/<stage>/<reason>`
(live progress in the runner's UI) and a (source, reason) element that the
manifest's funnel adds up, because counters are not exact on every runner
(retried bundles) while elements are.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from sources.document import Document

NAMESPACE = "corpusmill"
DROPPED = "dropped"


class Counters:
    """Lazily created Beam counters, one per name."""

    def __init__(self):
        self._counters = {}

    def inc(self, name: str, n: int = 1) -> None:
        if name not in self._counters:
            self._counters[name] = Metrics.counter(NAMESPACE, name)
        self._counters[name].inc(n)

    def drop(self, source: str, reason: str) -> beam.pvalue.TaggedOutput:
        """Counts `dropped/<reason>` and returns the funnel element for the drop."""
        self.inc(f"dropped/{reason}")
        return beam.pvalue.TaggedOutput(DROPPED, (source, reason))


class StageOutput(NamedTuple):
    kept: beam.PCollection       # Documents
    dropped: beam.PCollection    # (source, "stage/reason")


class ApplyRule(beam.DoFn):
    """Calls `make_rule()`'s rule on each Document: a Document keeps it, a str drops it."""

    def __init__(self, stage: str, make_rule: Callable[[], Callable[[Document], "Document | str"]]):
        self.stage = stage
        self.make_rule = make_rule

    def setup(self):
        self.rule = self.make_rule()
        self.counters = Counters()

    def teardown(self):
        close = getattr(self.rule, "close", None)   # e.g. an extractor's child process
        if close:
            close()

    def process(self, doc: Document):
        result = self.rule(doc)
        if isinstance(result, Document):
            yield result
            return
        yield self.counters.drop(doc.source, f"{self.stage}/{result}")


def apply_rule(docs: beam.PCollection, label: str, stage: str, make_rule) -> StageOutput:
    outs = docs | label >> beam.ParDo(ApplyRule(stage, make_rule)).with_outputs(DROPPED, main="kept")
    return StageOutput(outs.kept, outs[DROPPED])
