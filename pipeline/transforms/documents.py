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
from pipeline.transforms.common import StageOutput, apply_rule


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
    """`signals`: kept documents carry what the rules measured (the documents dataset's columns)."""

    def __init__(self, filters: Mapping[str, tuple[Mapping[str, Any], ...]], rejects: bool = False,
                 signals: bool = False):
        super().__init__()
        self.filters, self.rejects, self.signals = filters, rejects, signals

    def expand(self, docs) -> StageOutput:
        filters, signals = self.filters, self.signals
        return apply_rule(docs, "ApplyFilters", "filter", lambda: QualityRules(filters, signals), self.rejects)


class Decontaminate(beam.PTransform):
    def __init__(self, sets: tuple[EvalSetSpec, ...], ngram: int = 13, mode: str = "remove", rejects: bool = False):
        super().__init__()
        self.sets, self.ngram, self.mode, self.rejects = sets, ngram, mode, rejects

    def expand(self, docs) -> StageOutput:
        sets, ngram, mode = self.sets, self.ngram, self.mode
        return apply_rule(docs, "MatchEvalSets", "decontaminate", lambda: MatchEvalSets(sets, ngram, mode),
                          self.rejects)
