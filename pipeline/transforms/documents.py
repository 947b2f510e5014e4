"""The per-document stages: ExtractText, Normalize, FilterQuality.

Each is one ParDo around a pure rule from pipeline/rules/, returning the kept
documents and the (source, reason) drops.
"""
from __future__ import annotations

from typing import Any, Mapping

import apache_beam as beam

from pipeline.rules.extract import ExtractLimits, Extractor
from pipeline.rules.normalize import normalize_document
from pipeline.rules.quality import build_rule, first_failure
from pipeline.transforms.common import StageOutput, apply_rule
from sources.document import Document


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


class QualityRules:
    """The recipe's rules per kind, built on the worker (datatrove filters do not pickle well)."""

    def __init__(self, filters: Mapping[str, tuple[Mapping[str, Any], ...]]):
        self.rules = {kind: [build_rule(spec) for spec in specs] for kind, specs in filters.items()}

    def __call__(self, doc: Document) -> Document | str:
        reason = first_failure(doc, self.rules.get(doc.kind, ()))
        return reason if reason else doc


class FilterQuality(beam.PTransform):
    def __init__(self, filters: Mapping[str, tuple[Mapping[str, Any], ...]]):
        super().__init__()
        self.filters = filters

    def expand(self, docs) -> StageOutput:
        filters = self.filters
        return apply_rule(docs, "ApplyFilters", "filter", lambda: QualityRules(filters))
