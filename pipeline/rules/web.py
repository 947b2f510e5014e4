"""C4 and FineWeb quality rules on the shared signals, with datatrove's parameters.

C4 (Raffel et al. 2020; TFDS `c4_utils.clean_page`) works line by line: lines
without terminal punctuation, with under 3 words, a word over 1,000 characters,
"javascript" or a cookie/terms-of-use phrase are removed; "lorem ipsum" or a
curly bracket drops the page; a page needs 5 sentences in its kept lines.
Settings chosen here, and why:
- lines, not sentences, are the unit (`split_paragraph=True`): the paper's and
  TFDS's choice, and datatrove's default;
- sentences are counted with spaCy's rule-based sentencizer (datatrove's), not
  NLTK punkt as TFDS does: punkt needs a data download at run time, which this
  project refuses. Every kept line holds at least one sentence, so the count is
  only needed when fewer than `min_num_sentences` lines survive; the rule counts
  exactly then and skips the sentencizer otherwise (same decision as datatrove's,
  without its per-line spaCy call);
- the kept lines become the text (as in TFDS and datatrove); the rule reports
  `c4_lines_removed`. FineWeb's recipe runs C4 with `filter_no_terminal_punct:
  false`, which the recipe can say.

FineWeb's own rules (Penedo et al. 2024) read line endings, short lines,
duplicated lines and the newline-per-word ratio; the word count comes from the
same memoised spaCy split the Gopher rules use (pipeline/rules/gopher.py).
"""
from __future__ import annotations

import re
from typing import Sequence

from pipeline.rules.gopher import WordSignals, check_english, duplicates
from pipeline.rules.verdict import Edited, Failed, Measured, signal
from sources.document import Document

CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                     "use cookies")


def _sentences(line: str) -> int:
    from pipeline.rules.nlp import import_spacy
    import_spacy()   # before datatrove's sentence splitter imports it with torch
    from datatrove.utils.text import split_into_sentences
    return len(split_into_sentences(line))


class C4Quality:
    def __init__(self, split_paragraph: bool = True, remove_citations: bool = True,
                 filter_no_terminal_punct: bool = True, min_num_sentences: int = 5,
                 min_words_per_line: int = 3, max_word_length: int = 1000, filter_lorem_ipsum: bool = True,
                 filter_javascript: bool = True, filter_curly_bracket: bool = True, filter_policy: bool = True,
                 language: str = "en"):
        check_english(language, "c4_quality")
        if not split_paragraph:
            raise ValueError("c4_quality: only split_paragraph: true (line units, as C4) is supported; "
                             "use {name: datatrove, class: C4QualityFilter} for sentence units")
        self.remove_citations, self.filter_no_terminal_punct = remove_citations, filter_no_terminal_punct
        self.min_num_sentences, self.min_words_per_line = min_num_sentences, min_words_per_line
        self.max_word_length, self.filter_lorem_ipsum = max_word_length, filter_lorem_ipsum
        self.filter_javascript, self.filter_curly_bracket = filter_javascript, filter_curly_bracket
        self.filter_policy = filter_policy

    def __call__(self, doc: Document) -> Edited | str | None:
        kept = []
        lines = doc.text.splitlines()
        for line in lines:
            line = line.strip()
            words = line.split()
            if self.max_word_length != -1 and any(len(w) > self.max_word_length for w in words):
                continue
            if self.remove_citations:
                line = CITATION.sub("", line)
            if self.filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith("...")):
                continue
            if len(words) < self.min_words_per_line:
                continue
            lower = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lower:
                return "lorem_ipsum"
            if self.filter_javascript and "javascript" in lower:
                continue
            if self.filter_curly_bracket and "{" in line:
                return "curly_bracket"
            if self.filter_policy and any(p in lower for p in POLICY_SUBSTRINGS):
                continue
            kept.append(line)
        if self.min_num_sentences != -1 and len(kept) < self.min_num_sentences \
                and sum(map(_sentences, kept)) < self.min_num_sentences:
            return "too_few_sentences"
        text = "\n".join(kept).strip()
        found = {"c4_lines": len(lines), "c4_lines_kept": len(kept)}
        if text == doc.text:
            return Measured(found)
        return Edited(doc.with_text(text), {"c4_lines_removed": len(lines) - len(kept)}, found)


class FineWebQuality:
    def __init__(self, line_punct_thr: float = 0.12, line_punct_exclude_zero: bool = False,
                 stop_chars: Sequence[str] | None = None, short_line_thr: float = 0.67,
                 short_line_length: int = 30, char_duplicates_ratio: float = 0.01,
                 new_line_ratio: float = 0.3, language: str = "en", signals: WordSignals | None = None):
        from datatrove.utils.text import TERMINAL_PUNCTUATION
        check_english(language, "fineweb_quality")
        self.signals = signals or WordSignals()
        self.line_punct_thr, self.line_punct_exclude_zero = line_punct_thr, line_punct_exclude_zero
        self.stop_chars = tuple(stop_chars) if stop_chars is not None else tuple(TERMINAL_PUNCTUATION)
        self.short_line_thr, self.short_line_length = short_line_thr, short_line_length
        self.char_duplicates_ratio, self.new_line_ratio = char_duplicates_ratio, new_line_ratio

    def __call__(self, doc: Document) -> Measured | str:
        text = doc.text
        lines = [line for line in text.split("\n") if line.strip() != ""]
        if not lines:
            return "empty"
        found = {"fineweb_line_punct_ratio": signal(
            ratio := sum(1 for line in lines if line.endswith(self.stop_chars)) / len(lines))}
        if ratio < self.line_punct_thr and not (ratio == 0 and self.line_punct_exclude_zero):
            return Failed("line_punct_ratio", ratio, "<", self.line_punct_thr)
        short = sum(1 for line in lines if len(line) <= self.short_line_length) / len(lines)
        found["fineweb_short_line_ratio"] = signal(short)
        if short > self.short_line_thr:
            return Failed("short_line_ratio", short, ">", self.short_line_thr)
        found["fineweb_char_dup_ratio"] = signal(dup := duplicates(lines)[1] / len(text.replace("\n", "")))
        if dup > self.char_duplicates_ratio:
            return Failed("char_dup_ratio", dup, ">", self.char_duplicates_ratio)
        found["fineweb_list_ratio"] = signal(breaks := text.count("\n") / len(self.signals.of(text).ids))
        if breaks > self.new_line_ratio:
            return Failed("list_ratio", breaks, ">", self.new_line_ratio)
        return Measured(found)
