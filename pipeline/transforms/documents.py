"""The per-document stages: ExtractText, Normalize, FilterQuality, Decontaminate.

Each is one ParDo around a pure rule from pipeline/rules/, returning the kept
documents, the (source, reason) drops, the edit counts and, when the recipe asks
for them, the rejects' audit records.
"""
from __future__ import annotations

from typing import Any, Mapping

import apache_beam as beam

from pipeline.rules.decontaminate import EvalSetSpec, MatchEvalSets
from pipeline.rules.extract import ExtractLimits, Extractor
from pipeline.rules.normalize import Normalizer
from pipeline.rules.quality import QualityRules
from pipeline.transforms.common import DROPPED, REJECTS, TALLIES, StageOutput, apply_rule


class ExtractText(beam.PTransform):
    def __init__(self, method: str = "resiliparse", limits: ExtractLimits = ExtractLimits(), rejects: bool = False):
        super().__init__()
        self.method, self.limits, self.rejects = method, limits, rejects

    def expand(self, docs):
        method, limits = self.method, self.limits
        return apply_rule(docs, "ExtractHtml", "extract", lambda: Extractor(method, limits), self.rejects)


class Normalize(beam.PTransform):
    def __init__(self, fix_mojibake: bool = False, rejects: bool = False):
        super().__init__()
        self.fix_mojibake, self.rejects = fix_mojibake, rejects

    def expand(self, docs):
        fix = self.fix_mojibake
        return apply_rule(docs, "NormalizeText", "normalize", lambda: Normalizer(fix), self.rejects)


class FilterQuality(beam.PTransform):
    """`signals`: kept documents carry what the rules measured (the documents dataset's columns).
    A quality classifier the recipe trains (`train:`) splits its kind's chain in three:
    the rules before it, the classifier once TrainClassifier has trained it on the
    documents the first part kept, the rules after it (pipeline/transforms/classify.py);
    `training` is what that needs. The stage's outputs are the three parts' together."""

    def __init__(self, filters: Mapping[str, tuple[Mapping[str, Any], ...]], rejects: bool = False,
                 signals: bool = False, training=None):
        super().__init__()
        self.filters, self.rejects, self.signals, self.training = filters, rejects, signals, training

    def expand(self, docs) -> StageOutput:
        from pipeline.transforms.classify import ApplyTrained, TrainClassifier, split_filters
        signals, rejects = self.signals, self.rejects
        before, trained, after = split_filters(self.filters)
        first = apply_rule(docs, "ApplyFilters", "filter", lambda: QualityRules(before, signals), rejects)
        if not trained:
            return first
        models = [first.kept | f"Train{kind.title()}Classifier" >> TrainClassifier(kind, spec, self.training)
                  for kind, spec in sorted(trained.items())]
        models = models | "CollectModels" >> beam.Flatten()
        scored = first.kept | "ApplyClassifiers" >> beam.ParDo(
            ApplyTrained(trained, signals, rejects), beam.pvalue.AsList(models)).with_outputs(
            DROPPED, TALLIES, REJECTS, main="kept")
        second = StageOutput(scored.kept, scored[DROPPED], scored[TALLIES], scored[REJECTS])
        third = apply_rule(second.kept, "ApplyFiltersAfter", "filter", lambda: QualityRules(after, signals), rejects)
        parts = (first, second, third)
        return StageOutput(third.kept, *(tuple(getattr(part, name) for part in parts) | f"Merge{name.title()}"
                                         >> beam.Flatten() for name in ("dropped", "tallies", "rejects")))


class Decontaminate(beam.PTransform):
    def __init__(self, sets: tuple[EvalSetSpec, ...], ngram: int = 13, mode: str = "remove", rejects: bool = False):
        super().__init__()
        self.sets, self.ngram, self.mode, self.rejects = sets, ngram, mode, rejects

    def expand(self, docs) -> StageOutput:
        sets, ngram, mode = self.sets, self.ngram, self.mode
        return apply_rule(docs, "MatchEvalSets", "decontaminate", lambda: MatchEvalSets(sets, ngram, mode),
                          self.rejects)
