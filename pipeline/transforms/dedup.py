"""Deduplicate: exact content-hash dedup as a shuffle of small keys.

Only (kind, hash) -> (length, id, source) crosses the GroupByKey; documents stay in
the clean parts on disk. The output is a drop list the tokenize stage subtracts.
"""
from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam

from pipeline.rules.dedup import DedupCandidate, exact_key, split_duplicates
from pipeline.transforms.common import Counters

CLUSTERS = "clusters"


class DedupOutput(NamedTuple):
    drop_list: beam.PCollection   # (doc id, (source, "dedup/exact"))
    clusters: beam.PCollection    # size of each group that had duplicates


class ResolveDuplicates(beam.DoFn):
    def setup(self):
        self.counters = Counters()

    def process(self, group):
        _, candidates = group
        _, losers = split_duplicates(candidates)
        if not losers:
            return
        yield beam.pvalue.TaggedOutput(CLUSTERS, len(losers) + 1)
        for loser in losers:
            self.counters.inc("dropped/dedup/exact")
            yield loser.id, (loser.source, "dedup/exact")


class Deduplicate(beam.PTransform):
    def __init__(self, exact: bool = True):
        super().__init__()
        self.exact = exact

    def expand(self, docs):
        if not self.exact:
            empty = docs | "SkipDedup" >> beam.FlatMap(lambda _: ())
            return DedupOutput(empty, empty)
        outs = (docs
                | "KeyByContent" >> beam.Map(
                    lambda d: (exact_key(d), DedupCandidate(len(d.text), d.id, d.source)))
                | "GroupByContent" >> beam.GroupByKey()
                | "PickSurvivors" >> beam.ParDo(ResolveDuplicates()).with_outputs(CLUSTERS, main="drops"))
        return DedupOutput(outs.drops, outs[CLUSTERS])
