"""Quality rules for text and code, built from the recipe's named rule specs.

A rule is a callable `Document -> reason | None`. Text rules wrap datatrove's filters
(the field's reference implementation: Gopher quality and repetition, C4, FineWeb)
plus a minimum length; code rules follow StarCoder/The Stack's data cleaning
(maximum and mean line length, alphanumeric fraction). Thresholds come from the
recipe; the reason names the rule so the funnel says exactly why a document went.
`gopher_quality` and `gopher_repetition` run our shared-signal versions
(pipeline/rules/gopher.py), measured against datatrove's in bench/filters.py.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from sources.document import Document

Rule = Callable[[Document], "str | None"]

# Our shared-signal versions of datatrove filters (pipeline/rules/gopher.py), same
# parameters and reasons; datatrove's own stay available as {name: datatrove, class: ...}.
FAST_RULES = {"gopher_quality": "GopherQuality", "gopher_repetition": "GopherRepetition"}

# Recipe name -> datatrove filter class, for the filters a recipe may name directly.
DATATROVE_FILTERS = {
    "c4_quality": "C4QualityFilter",
    "fineweb_quality": "FineWebQualityFilter",
}


class DatatroveRule:
    """Any datatrove filter as a rule: its own drop reason, else 'datatrove_<class>'."""

    def __init__(self, class_name: str, **kwargs: Any):
        from datatrove.pipeline import filters
        self.name = class_name
        self.filter = getattr(filters, class_name)(**kwargs)

    def __call__(self, doc: Document) -> str | None:
        from datatrove.data import Document as DatatroveDocument
        verdict = self.filter.filter(DatatroveDocument(text=doc.text, id=doc.id, metadata={}))
        if isinstance(verdict, tuple):
            keep, reason = verdict
            return None if keep else str(reason)
        return None if verdict else f"datatrove_{self.name}"


def min_chars(minimum: int = 200) -> Rule:
    return lambda doc: "too_short" if len(doc.text) < minimum else None


def line_lengths(text: str) -> list[int]:
    return [len(line) for line in text.split("\n")]


def max_line_length(maximum: int = 1000) -> Rule:
    return lambda doc: "max_line_length" if max(line_lengths(doc.text)) > maximum else None


def mean_line_length(maximum: float = 100.0) -> Rule:
    def rule(doc: Document) -> str | None:
        lengths = line_lengths(doc.text)
        return "mean_line_length" if sum(lengths) / len(lengths) > maximum else None
    return rule


def alnum_fraction(text: str) -> float:
    return sum(c.isalnum() for c in text) / max(len(text), 1)


def min_alnum_fraction(minimum: float = 0.25) -> Rule:
    return lambda doc: "alnum_fraction" if alnum_fraction(doc.text) < minimum else None


RULES: dict[str, Callable[..., Rule]] = {
    "min_chars": min_chars,
    "max_line_length": max_line_length,
    "mean_line_length": mean_line_length,
    "min_alnum_fraction": min_alnum_fraction,
}


def build_rule(spec: Mapping[str, Any]) -> Rule:
    """`{name: gopher_quality, min_doc_words: 50}` or `{name: datatrove, class: X, ...}`."""
    args = {k: v for k, v in spec.items() if k not in ("name", "class")}
    name = spec["name"]
    if name in RULES:
        return RULES[name](**args)
    if name in FAST_RULES:
        from pipeline.rules import gopher
        return getattr(gopher, FAST_RULES[name])(**args)
    if name in DATATROVE_FILTERS:
        return DatatroveRule(DATATROVE_FILTERS[name], **args)
    if name == "datatrove":
        return DatatroveRule(spec["class"], **args)
    raise ValueError(f"unknown filter rule {name!r}; known: "
                     f"{sorted([*RULES, *FAST_RULES, *DATATROVE_FILTERS, 'datatrove'])}")


def first_failure(doc: Document, rules: Sequence[Rule]) -> str | None:
    """The reason of the first rule that drops `doc`, in recipe order, or None."""
    for rule in rules:
        reason = rule(doc)
        if reason:
            return reason
    return None


class QualityRules:
    """The recipe's rules per kind as one document rule: the document, or the first reason.
    Built where it runs (datatrove filters do not pickle well)."""

    def __init__(self, filters: Mapping[str, Sequence[Mapping[str, Any]]]):
        self.rules = {kind: [build_rule(spec) for spec in specs] for kind, specs in filters.items()}

    def __call__(self, doc: Document) -> Document | str:
        reason = first_failure(doc, self.rules.get(doc.kind, ()))
        return reason if reason else doc
