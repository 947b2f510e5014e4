"""PlanPhases and CountPhases: the continuation phases' plans and figures.

A continuation phase (manifests/phases.py) draws its stream from the documents the
pretraining stream holds: each source gets the phase's tokens in its pretraining
share, long documents fill a set share of them, short ones the rest, each by copies
a hash decides. The plan needs every training document's length first, so it runs
on the counting pass (the first Tokenize) and the shard plans and ExpandEpochs take
it as a side input. The counting pass's documents are reduced to stubs (id, source,
tokens, cluster, repository) before anything waits for the plan: a few numbers per
document wait in the runner, never their tokens.
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping, NamedTuple

import apache_beam as beam
import numpy as np

from manifests.phases import PHASE_BINS, draw_bin, length_bucket, length_class, phase_copy_keys, plan_source, \
    source_budget
from manifests.splits import TRAIN
from pipeline.rules.epochs import EpochCopy, StreamLayout
from pipeline.transforms.common import sum_columns


class DocStub(NamedTuple):
    """What the phase plan and the shard plans need of a tokenized document."""
    id: str
    source: str
    tokens: int          # EOS included
    cluster: int
    repository: bool


def stub(td) -> DocStub:
    return DocStub(td.id, td.source, len(td.tokens), td.cluster, td.repository)


def phase_record(spec, plan: Mapping) -> dict:
    """What a phase's copies follow: its name, long threshold and per-source plans."""
    return {"name": spec.name, "long_min_tokens": spec.long_min_tokens, "plan": dict(plan)}


def all_copies(layout: StreamLayout, plans: Mapping[str, dict], doc_id: str, source: str, tokens: int,
               cluster: int = 1, repository: bool = False) -> list[tuple[str, list[EpochCopy]]]:
    """A document's copies in every stream: (split, copies) for the pretraining stream or the
    validation split first, then (phase name, copies) for each continuation phase it trains in."""
    out = [layout.copies(doc_id, source, cluster, repository)]
    for name, record in plans.items():
        if layout.in_phase(doc_id, source, repository, name):
            keys = phase_copy_keys(record, layout.seed, doc_id, source, tokens)
            out.append((name, [EpochCopy(e, k) for e, k in enumerate(keys)]))
    return out


STREAM = ""   # PlanPhases' row key for the pretraining stream's tokens


def plan_rows(layout: StreamLayout, specs, s: DocStub) -> list[tuple]:
    """(phase, source, class, draw bin, tokens) rows: the document's pretraining stream
    tokens (phase STREAM), and its tokens by draw in each continuation phase it trains in."""
    split, copies = layout.copies(s.id, s.source, s.cluster, s.repository)
    rows = [(STREAM, s.source, "", 0, s.tokens * len(copies))] if split == TRAIN and copies else []
    for spec in specs:
        if layout.in_phase(s.id, s.source, s.repository, spec.name):
            rows.append((spec.name, s.source, length_class(s.tokens, spec.long_min_tokens),
                         draw_bin(layout.seed, s.id, spec.name), s.tokens))
    return rows


class PhaseHistograms(beam.CombineFn):
    """plan_rows -> {"stream": {source: tokens}, "classes": {(phase, source, class): tokens per draw bin}}."""

    def create_accumulator(self):
        return {"stream": Counter(), "classes": {}}

    def add_input(self, acc, row):
        phase, source, cls, b, tokens = row
        if phase == STREAM:
            acc["stream"][source] += tokens
        else:
            key = (phase, source, cls)
            if key not in acc["classes"]:
                acc["classes"][key] = np.zeros(PHASE_BINS, np.int64)
            acc["classes"][key][b] += tokens
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for acc in accs:
            out["stream"].update(acc["stream"])
            for key, hist in acc["classes"].items():
                out["classes"][key] = out["classes"][key] + hist if key in out["classes"] else hist.copy()
        return out

    def extract_output(self, acc):
        return acc


def make_plans(acc: dict, specs) -> dict[str, dict]:
    """The histograms -> {phase: phase_record}, in the recipe's phase order."""
    stream = acc["stream"]
    total = sum(stream.values())
    out = {}
    for spec in specs:
        plans = {}
        for source in sorted({s for p, s, _ in acc["classes"] if p == spec.name} | set(stream)):
            classes = {cls: (hist, int(hist.sum())) for (p, s, cls), hist in acc["classes"].items()
                       if p == spec.name and s == source}
            plans[source] = plan_source(source_budget(spec.tokens, stream.get(source, 0), total), spec.long_share,
                                        spec.max_copies, classes)
        out[spec.name] = phase_record(spec, plans)
    return out


class PlanPhases(beam.PTransform):
    """DocStubs -> one {phase name: phase record} ({} without continuation phases)."""

    def __init__(self, layout: StreamLayout, specs):
        super().__init__()
        self.layout, self.specs = layout, tuple(specs)

    def expand(self, stubs):
        layout, specs = self.layout, self.specs
        if not specs:
            return stubs.pipeline | "NoPhases" >> beam.Create([{}])
        return (stubs
                | "PlanRows" >> beam.FlatMap(lambda s: plan_rows(layout, specs, s))
                | "SumHistograms" >> beam.CombineGlobally(PhaseHistograms())
                | "MakePlans" >> beam.Map(make_plans, specs))


def count_rows(layout: StreamLayout, plans: Mapping[str, dict], s: DocStub) -> list[tuple]:
    """((phase, source, class, copies, length bucket), (documents, tokens, stream tokens))
    for the pretraining phase (class "") and each continuation phase the document trains in
    (copies 0 when it was not drawn)."""
    out = []
    for i, (split, copies) in enumerate(all_copies(layout, plans, s.id, s.source, s.tokens, s.cluster,
                                                    s.repository)):
        if i == 0 and (split != TRAIN or not copies):
            continue
        phase = layout.pretrain if i == 0 else split
        cls = "" if i == 0 else length_class(s.tokens, plans[phase]["long_min_tokens"])
        n = len(copies)
        out.append(((phase, s.source, cls, n, length_bucket(s.tokens), s.repository), (1, s.tokens, s.tokens * n)))
    return out


class CountPhases(beam.PTransform):
    """DocStubs -> (phase, source, class, copies, length bucket, repository, documents, tokens,
    stream tokens) rows: the manifest's phase figures."""

    def __init__(self, layout: StreamLayout, plans: beam.PCollection):
        super().__init__()
        self.layout, self.plans = layout, plans

    def expand(self, stubs):
        layout = self.layout
        return (stubs
                | "KeyByPhase" >> beam.FlatMap(lambda s, plans: count_rows(layout, plans, s),
                                               plans=beam.pvalue.AsSingleton(self.plans))
                | "SumPhases" >> beam.CombinePerKey(sum_columns)
                | "FlattenPhases" >> beam.MapTuple(lambda key, sums: (*key, *sums)))
