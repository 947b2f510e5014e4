"""Unicode and whitespace normalisation, before filters and hashing see the text.

Text: NFC, control characters removed, CRLF/CR to LF, trailing spaces per line cut,
runs of blank lines capped at one, ends stripped. Code keeps its layout (indentation
and blank lines carry meaning): only NFC, line endings and control characters.
"""
from __future__ import annotations

import re
import unicodedata

from sources.document import Document

# C0/C1 controls except tab, LF and form feed (form feed is legal in Python source).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0d-\x1f\x7f-\x9f]")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalize_text(text: str, kind: str = "text") -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    if kind == "code":
        return text.rstrip() + "\n" if text.strip() else ""
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def normalize_document(doc: Document) -> Document | str:
    text = normalize_text(doc.text, doc.kind)
    if not text:
        return "empty"
    return doc if text == doc.text else doc.with_text(text)
