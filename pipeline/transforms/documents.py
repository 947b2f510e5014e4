"""The per-document stages: ExtractText, Normalize, FilterQuality.

Each is one ParDo around a pure rule from pipeline/rules/, returning the kept
documents and the (source, reason) drops.
"""
from __future__ import annotations

from typing import Any, Mapping

import apache_beam as beam

from pipeline.rules.extract import ExtractLimits, Extractor
from pipeline.rules.normalize import normalize_document
from pipeline.rules.quality import QualityRules
from pipeline.transforms.common import StageOutput, apply_rule


class ExtractText(beam.PTransform):
    def __init__(self, method: str = "resiliparse", limits: ExtractLimits = ExtractLimits()):
        super().__init__()
        self.method, self.limits = method, limits

    def expand(self, docs):
        method, limits = self.method, self.limits
        return apply_rule(docs, "ExtractHtml", "extract", lambda: Extractor(method, limits))


class Normalize(beam.PTransform):
    def expand(self, docs):
        return apply_rule(docs, "NormalizeText", "normalize", lambda: normalize_document)


class FilterQuality(beam.PTransform):
    def __init__(self, filters: Mapping[str, tuple[Mapping[str, Any], ...]]):
        super().__init__()
        self.filters = filters

    def expand(self, docs) -> StageOutput:
        filters = self.filters
        return apply_rule(docs, "ApplyFilters", "filter", lambda: QualityRules(filters))
