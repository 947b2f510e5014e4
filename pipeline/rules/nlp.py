"""Importing spaCy without PyTorch.

spaCy's thinc imports torch whenever it is installed (it is, with the `[torch]`
and test extras, for the loader): 1.7 s and about 200 MB in every process that
tokenizes words, for a tokenizer that never touches it. `import_spacy` hides
torch while spaCy and thinc load (thinc then records that torch is absent), then
unhides it, so anything that does want torch later still imports it.
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
