"""What a document rule may answer, and how a chain of rules combines the answers.

A rule is a callable `Document -> verdict`:
- None: keep the document as it is;
- a str: drop it, for that reason (the funnel's `<stage>/<reason>`); a Failed is such
  a str that also says what the rule measured against which threshold, which the
  reject record keeps (`gopher_below_alpha_threshold`: `0.7412 < 0.8`);
- a Measured: keep it as it is; `signals` are the figures the rule computed on the
  way (the Gopher ratios, a code file's line lengths), which the documents dataset
  keeps as numeric columns so a team can tune thresholds on what was kept;
- a Document: keep this copy instead (new metadata, such as a language label);
- an Edited: keep this copy, whose text the rule changed, with counts of what it
  changed (PII replaced, lines removed), which the manifest reports per source;
- a Dropped: drop it for `reason`, and count what the rule found (the evaluation
  sets a contaminated document matched).
The counts of Edited and Dropped are the stage's tallies: counted events that are
not drops. A chain (apply_rules) gathers its rules' signals into the kept
document's `signals` metadata, when asked to, and answers a drop with a Dropped
that holds the document as the chain had labelled it (its language) and what the
failing rule measured.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence, Union

from sources.document import Document


class Failed(str):
    """A drop reason that carries its measurement: equal to, and read everywhere as, the
    reason string; `measured` is "<value> <op> <threshold>", what the rule found."""

    measured: str

    def __new__(cls, reason: str, value: float, op: str, threshold: float) -> "Failed":
        failed = super().__new__(cls, reason)
        failed.measured = f"{_figure(value)} {op} {_figure(threshold)}"
        return failed

    def __reduce__(self):
        return _restore_failed, (str(self), self.measured)


def _restore_failed(reason: str, measured: str) -> Failed:
    failed = str.__new__(Failed, reason)
    failed.measured = measured
    return failed


def _figure(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:.4g}"


def signal(x: float) -> float:
    """A measured figure as the dataset keeps it: four significant digits are what a
    threshold is set by, and keep the clean parts' metadata small."""
    return x if isinstance(x, int) else float(f"{x:.4g}")


@dataclass(frozen=True)
class Measured:
    signals: Mapping[str, float]


@dataclass(frozen=True)
class Edited:
    doc: Document
    counts: Mapping[str, int] = field(default_factory=dict)
    signals: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Dropped:
    reason: str
    counts: Mapping[str, int] = field(default_factory=dict)
    measured: str = ""               # a Failed's "<value> <op> <threshold>"
    doc: Document | None = None      # the document as the chain had labelled it when dropped


Verdict = Union[None, str, Measured, Document, Edited, Dropped]
Rule = Callable[[Document], Verdict]


def passed_on(result, doc: Document) -> Document | None:
    """The document a rule's answer passes on: the same one (None), a new one (a Document),
    an edited one (Edited); None when the answer is a drop (a reason or a Dropped)."""
    if result is None:
        return doc
    if isinstance(result, Document):
        return result
    if isinstance(result, Edited):
        return result.doc
    return None


def apply_rules(doc: Document, rules: Sequence[Rule], signals: bool = False) -> Document | Edited | Dropped:
    """Runs `rules` in order on the document as each leaves it: a Dropped for the first
    reason to drop it, else the final document (an Edited when any rule changed its
    text). With `signals`, the kept document's `signals` metadata holds what the rules
    measured (added to any it had)."""
    counts: Counter = Counter()
    measured: dict[str, float] = {}
    for rule in rules:
        verdict = rule(doc)
        if verdict is None:
            continue
        if isinstance(verdict, Measured):
            measured.update(verdict.signals)
        elif isinstance(verdict, str):
            return Dropped(str(verdict), measured=getattr(verdict, "measured", ""), doc=doc)
        elif isinstance(verdict, Dropped):
            return verdict if verdict.doc is not None else Dropped(verdict.reason, verdict.counts, verdict.measured,
                                                                   doc)
        elif isinstance(verdict, Edited):
            counts.update(verdict.counts)
            measured.update(verdict.signals)
            doc = verdict.doc
        else:
            doc = verdict
    if signals and measured:
        doc = doc.with_meta(signals={**doc.meta.get("signals", {}), **measured})
    return Edited(doc, dict(sorted(counts.items()))) if counts else doc


def first_failure(doc: Document, rules: Sequence[Rule]) -> str | None:
    """The reason of the first rule that drops `doc`, in recipe order, or None."""
    verdict = apply_rules(doc, rules)
    return verdict.reason if isinstance(verdict, Dropped) else None
