"""The filter registry: a recipe's `{name: rule, ...args}` specs turned into rules.

Text: minimum length, language ID (fastText lid.176), URL blocklist, Gopher
quality and repetition, C4 and FineWeb quality, PII redaction, a fastText quality
classifier (pipeline/rules/classifier.py; for code too). Code: StarCoder's
cleaning rules (pipeline/rules/code.py). The Gopher, C4 and FineWeb names run our
shared-signal versions (pipeline/rules/gopher.py, web.py), which take datatrove's
parameters and give its reasons; datatrove's own filters stay the reference in
the tests and in bench/filters.py, and any of them can still be named directly
as `{name: datatrove, class: GopherQualityFilter, ...}`. See verdict.py for what
a rule answers; the recipe's order is the order the rules run in.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from pipeline.rules.code import CODE_RULES
from pipeline.rules.verdict import Dropped, Edited, Failed, Rule, apply_rules
from sources.document import Document


class DatatroveRule:
    """Any datatrove filter as a rule: its own drop reason, else 'datatrove_<class>'.
    Filters that rewrite the text (C4QualityFilter removes lines) keep the rewrite."""

    def __init__(self, class_name: str, **kwargs: Any):
        from pipeline.rules.nlp import import_spacy
        import_spacy()   # datatrove's filters import spaCy, which would bring torch
        from datatrove.pipeline import filters
        self.name = class_name
        self.filter = getattr(filters, class_name)(**kwargs)

    def __call__(self, doc: Document) -> Document | str | None:
        from datatrove.data import Document as DatatroveDocument
        theirs = DatatroveDocument(text=doc.text, id=doc.id, metadata={"url": doc.url} if doc.url else {})
        verdict = self.filter.filter(theirs)
        if isinstance(verdict, tuple):
            keep, reason = verdict
            if not keep:
                return str(reason)
        elif not verdict:
            return f"datatrove_{self.name}"
        return doc.with_text(theirs.text) if theirs.text != doc.text else None


def min_chars(minimum: int = 200) -> Rule:
    return lambda doc: Failed("too_short", len(doc.text), "<", minimum) if len(doc.text) < minimum else None


def _lazy(module: str, name: str) -> Callable[..., Rule]:
    """A factory importing its module on first use (fastText, spaCy and the URL lists are heavy)."""
    def make(**args: Any) -> Rule:
        return target(module, name)(**args)
    make.target = (module, name)
    return make


def target(module: str, name: str) -> Callable[..., Rule]:
    import importlib
    return getattr(importlib.import_module(f"pipeline.rules.{module}"), name)


RULES: dict[str, Callable[..., Rule]] = {
    "min_chars": min_chars,
    "language": _lazy("language", "LanguageId"),
    "url_filter": _lazy("url", "UrlBlocklist"),
    "gopher_quality": _lazy("gopher", "GopherQuality"),
    "gopher_repetition": _lazy("gopher", "GopherRepetition"),
    "c4_quality": _lazy("web", "C4Quality"),
    "fineweb_quality": _lazy("web", "FineWebQuality"),
    "pii": _lazy("pii", "Pii"),
    "quality_classifier": _lazy("classifier", "QualityClassifier"),
    **CODE_RULES,
}

# The datatrove class each shared-signal rule reproduces: the reference in tests and bench.
DATATROVE_REFERENCE = {"gopher_quality": "GopherQualityFilter", "gopher_repetition": "GopherRepetitionFilter",
                       "c4_quality": "C4QualityFilter", "fineweb_quality": "FineWebQualityFilter",
                       "url_filter": "URLFilter"}


# Rules that read the shared word signals (rules/gopher.WordSignals): a chain hands them one.
WORD_RULES = frozenset({"gopher_quality", "gopher_repetition", "fineweb_quality"})


def resolved_spec(spec: Mapping[str, Any]) -> dict:
    """A rule spec with every argument its rule takes, the defaults filled in (what the
    manifest's resolved recipe shows, so a diff says `50 -> 100`, not `None -> 100`).
    A `{name: datatrove, class: ...}` spec stays as written."""
    factory = RULES.get(spec.get("name"))
    if factory is None:
        return dict(spec)
    import inspect
    made = target(*factory.target) if hasattr(factory, "target") else factory
    defaults = {k: p.default for k, p in inspect.signature(made).parameters.items()
                if p.default is not inspect.Parameter.empty and k not in ("signals", "trained")}
    return {"name": spec["name"], **{k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()},
            **{k: v for k, v in spec.items() if k != "name"}}


def build_rule(spec: Mapping[str, Any], signals=None) -> Rule:
    """`{name: gopher_quality, min_doc_words: 50}` or `{name: datatrove, class: X, ...}`.
    `signals`: the chain's shared WordSignals, for the rules that read words."""
    args = {k: v for k, v in spec.items() if k not in ("name", "class")}
    name = spec["name"]
    for internal in ("signals", "trained"):     # handed over by the pipeline, never by a recipe
        if internal in args:
            raise ValueError(f"unexpected argument {internal!r}")
    if name in WORD_RULES and signals is not None:
        args["signals"] = signals
    if name in RULES:
        return RULES[name](**args)
    if name == "datatrove":
        return DatatroveRule(spec["class"], **args)
    raise ValueError(f"unknown filter rule {name!r}; known: {sorted([*RULES, 'datatrove'])}")


def build_chain(specs: Sequence[Mapping[str, Any]]) -> list[Rule]:
    """The rules of one chain, in order, the word rules sharing one WordSignals (created
    only if one of them is in the chain: it loads spaCy on first use)."""
    signals = None
    if any(spec.get("name") in WORD_RULES for spec in specs):
        from pipeline.rules.gopher import WordSignals
        signals = WordSignals()
    return [build_rule(spec, signals) for spec in specs]


def reference_rule(spec: Mapping[str, Any]) -> Rule:
    """datatrove's own filter for a spec our rule reproduces (tests, bench)."""
    args = {k: v for k, v in spec.items() if k != "name"}
    return DatatroveRule(DATATROVE_REFERENCE[spec["name"]], **args)


class QualityRules:
    """The recipe's rules per kind as one document rule (see verdict.apply_rules); with
    `signals`, a kept document carries what the rules measured (for the documents dataset).
    Built where it runs (datatrove filters and fastText models do not pickle)."""

    def __init__(self, filters: Mapping[str, Sequence[Mapping[str, Any]]], signals: bool = False):
        self.rules = {kind: build_chain(specs) for kind, specs in filters.items()}
        self.signals = signals

    def __call__(self, doc: Document) -> Document | Edited | Dropped:
        return apply_rules(doc, self.rules.get(doc.kind, ()), self.signals)
