"""What a document rule may answer, and how a chain of rules combines the answers.

A rule is a callable `Document -> verdict`:
- None: keep the document as it is;
- a str: drop it, for that reason (the funnel's `<stage>/<reason>`); a Failed is such
  a str that also says what the rule measured against which threshold, which the
  reject record keeps (`gopher_below_alpha_threshold`: `0.7412 < 0.8`);
- a Document: keep this copy instead (new metadata, such as a language label);
- an Edited: keep this copy, whose text the rule changed, with counts of what it
  changed (PII replaced, lines removed), which the manifest reports per source;
- a Dropped: drop it for `reason`, and count what the rule found (the evaluation
  sets a contaminated document matched).
The counts of Edited and Dropped are the stage's tallies: counted events that are
not drops.
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


@dataclass(frozen=True)
class Edited:
    doc: Document
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Dropped:
    reason: str
    counts: Mapping[str, int] = field(default_factory=dict)


Verdict = Union[None, str, Document, Edited, Dropped]
Rule = Callable[[Document], Verdict]


def apply_rules(doc: Document, rules: Sequence[Rule]) -> Document | Edited | Dropped | str:
    """Runs `rules` in order on the document as each leaves it: the first reason to drop
    it, else the final document (an Edited when any rule changed its text)."""
    counts: Counter = Counter()
    for rule in rules:
        verdict = rule(doc)
        if verdict is None:
            continue
        if isinstance(verdict, (str, Dropped)):
            return verdict
        if isinstance(verdict, Edited):
            counts.update(verdict.counts)
            doc = verdict.doc
        else:
            doc = verdict
    return Edited(doc, dict(sorted(counts.items()))) if counts else doc


def first_failure(doc: Document, rules: Sequence[Rule]) -> str | None:
    """The reason of the first rule that drops `doc`, in recipe order, or None."""
    verdict = apply_rules(doc, rules)
    if isinstance(verdict, Dropped):
        return verdict.reason
    return verdict if isinstance(verdict, str) else None
