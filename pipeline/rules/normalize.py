"""Unicode and whitespace normalisation, before filters and hashing see the text.

Text: NFC, control characters removed, CRLF/CR to LF, trailing spaces per line cut,
runs of blank lines capped at one, ends stripped. Code keeps its layout (indentation
and blank lines carry meaning): only NFC, line endings and control characters.

Mojibake repair (UTF-8 read as Latin-1 or cp1252: "donâ€™t" for "don't") is an
option (`normalize: {fix_mojibake: true}`), for text only, with ftfy limited to
its encoding fixes: its quote uncurling, HTML unescaping and width folding would
change correct text too. Each repaired document is counted (`mojibake_fixed`).
"""
from __future__ import annotations

import re
import unicodedata

from pipeline.rules.verdict import Edited
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


# What ftfy may change in an ASCII line under the configuration below: the control
# characters it removes and the escape that starts a terminal sequence. Anything else
# ASCII is left as it is (mojibake needs bytes above 127).
_FTFY_ASCII = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def fix_mojibake(text: str) -> str:
    """ftfy.fix_text with its encoding fixes only. ftfy fixes a text line by line; lines
    it would leave unchanged (ASCII, no control characters) are passed over here without
    calling it, which on web text is most of them (tests/test_filters.py compares)."""
    import ftfy
    config = ftfy.TextFixerConfig(unescape_html=False, uncurl_quotes=False, fix_latin_ligatures=False,
                                  fix_character_width=False, fix_line_breaks=False, explain=False)
    if text.isascii() and not _FTFY_ASCII.search(text):
        return text
    parts = text.split("\n")   # ftfy's own segments: up to and including each \n
    lines = [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return "".join(line if line.isascii() and not _FTFY_ASCII.search(line) else ftfy.fix_text(line, config)
                   for line in lines)


class Normalizer:
    def __init__(self, fix_mojibake: bool = False):
        self.fix_mojibake = fix_mojibake

    def __call__(self, doc: Document) -> Document | Edited | str:
        text = doc.text
        repaired = self.fix_mojibake and doc.kind == "text"
        if repaired:
            text = fix_mojibake(text)
            repaired = text != doc.text
        text = normalize_text(text, doc.kind)
        if not text:
            return "empty"
        if repaired:
            return Edited(doc.with_text(text), {"mojibake_fixed": 1})
        return doc if text == doc.text else doc.with_text(text)


normalize_document = Normalizer()
