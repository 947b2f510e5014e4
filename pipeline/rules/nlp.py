"""spaCy, patched for speed where it is measured to matter, with the same words.

Every patch of spaCy in the project is here:
- `import_spacy`: spaCy's thinc imports torch whenever it is installed (it is,
  with the `[torch]` and test extras, for the loader): 1.7 s and about 200 MB in
  every process that tokenizes words, for a tokenizer that never touches it. It
  hides torch while spaCy and thinc load (thinc then records that torch is
  absent), then unhides it, so anything that wants torch later still imports it.
  datatrove's filters and sentence splitter import spaCy through it too.
- `fast_tokenizer`: the word tokenizer the Gopher and FineWeb rules use, with
  two more patches (see its docstring).
"""
from __future__ import annotations

import sys


def import_spacy():
    if "spacy" not in sys.modules and "torch" not in sys.modules:
        sys.modules["torch"] = None   # `import torch` raises ImportError while this is set
        try:
            import spacy
        finally:
            del sys.modules["torch"]
    import spacy
    return spacy


class SuffixSearch:
    """spaCy's suffix search, the same answers in a fraction of the time.

    spaCy compiles its suffix rules into one regex, `rule1$|rule2$|...`, and calls
    its `search` on every token candidate: Python's engine then tries every rule at
    every position of the string, which is most of spaCy's tokenizer time on
    code-like chunks. Every rule ends at the end of the string, so the answer is
    the leftmost position from which some rule matches to the end. Rules of bounded
    width W can only start in the last W characters, so the whole regex is searched
    from there (lookbehinds still see the characters before); the few unbounded
    rules (`\\.\\.+`) get a small regex of their own over the whole string, and the
    leftmost of the two answers wins."""

    def __init__(self, suffixes):
        import re
        try:
            from re import _parser as sre_parse
        except ImportError:   # Python < 3.11
            import sre_parse
        pieces = [piece for piece in suffixes if piece.strip()]
        bounded, unbounded = [], []
        for piece in pieces:
            width = sre_parse.parse(piece + "$").getwidth()[1]
            (bounded if width < sre_parse.MAXREPEAT else unbounded).append((piece, width))
        self.regex = re.compile("|".join(piece + "$" for piece in pieces))   # spaCy's own expression
        self.width = max((w for _, w in bounded), default=0)
        self.unbounded = re.compile("|".join(p + "$" for p, _ in unbounded)) if unbounded else None

    def __call__(self, string: str):
        if string.endswith("\n"):   # `$` also matches before a final newline: ask the whole regex
            return self.regex.search(string)
        match = self.regex.search(string, max(0, len(string) - self.width))
        if self.unbounded is not None:
            long = self.unbounded.search(string)
            if long is not None and (match is None or long.start() < match.start()):
                return long
        return match


def fast_tokenizer(language: str = "en"):
    """spaCy's blank `language` tokenizer (datatrove's word splitter), patched:

    1. spaCy imported without torch (`import_spacy`);
    2. `vocab.lex_attr_getters` emptied: lexical attributes (shape, like_num, ...)
       are computed for every new word and never read by the tokenizer; 35% of its
       time here, the same tokens without them;
    3. the prefix and suffix searches replaced by `fast_affixes`: the same spans
       without trying every rule at every position (about half the tokenizer's
       time on code and markup chunks).

    The words are proven unchanged by tests/test_gopher.py:
    test_fast_affix_searches_answer_as_spacy_regexes (both searches against spaCy's
    own regexes on every chunk of a real corpus and on shapes built to trip them),
    test_words_are_spacy_words and test_chunk_shortcut_equals_spacy_on_every_chunk
    (the patched, memoised split against unpatched spaCy)."""
    nlp = import_spacy().blank(language)
    nlp.vocab.lex_attr_getters = {}
    fast_affixes(nlp)
    return nlp.tokenizer


def fast_affixes(nlp) -> None:
    """Gives `nlp`'s tokenizer equivalent, faster prefix and suffix searches, when its
    regexes are the ones spaCy compiles from its language defaults (checked): the
    prefix rules all start with `^`, so `match` answers what `search` does."""
    from spacy.util import compile_prefix_regex, compile_suffix_regex
    tokenizer, defaults = nlp.tokenizer, nlp.Defaults
    prefix = getattr(tokenizer.prefix_search, "__self__", None)
    if defaults.prefixes and prefix is not None and prefix.pattern == compile_prefix_regex(defaults.prefixes).pattern:
        tokenizer.prefix_search = prefix.match
    suffix = getattr(tokenizer.suffix_search, "__self__", None)
    if defaults.suffixes and suffix is not None and suffix.pattern == compile_suffix_regex(defaults.suffixes).pattern:
        tokenizer.suffix_search = SuffixSearch(defaults.suffixes)
