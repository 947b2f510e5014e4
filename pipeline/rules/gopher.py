"""Gopher quality and repetition rules on signals computed once per document.

datatrove's GopherQualityFilter and GopherRepetitionFilter (the reference, kept
in the tests) split words by running a spaCy English pipeline over the whole
document, which is nearly all of their cost (about 25 docs/s per core on 10 kB
pages here). spaCy's tokenizer splits on whitespace first, so nearly the same
words come from tokenizing each *distinct* chunk once and remembering the
result: across a corpus most chunks are words seen before, and a dictionary
look-up replaces the tokenizer. ("Nearly": spaCy's special-case matcher can look
across a space, so a chunk alone can split differently than in its sentence;
tests/test_gopher.py bounds that and requires the decisions to equal datatrove's.)
The word list is shared by both rules, which take datatrove's parameters and give
its reasons in its order. bench/filters.py measures speed and agreement.
"""
from __future__ import annotations

import re
from itertools import chain
from typing import Sequence

import numpy as np

from pipeline.rules.arrays import WORD_BASE
from pipeline.rules.verdict import Failed, Measured, signal
from sources.document import Document

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
PARAGRAPHS = re.compile(r"\n{2,}")
_SIMPLE_CHUNK = re.compile(r"([(\[]?)([^\W\d_]+)([,;:!?)\].]?)")
LINES = re.compile(r"\n+")


def _punctuation() -> frozenset[str]:
    from datatrove.utils.text import PUNCTUATION_SET   # the same symbol set as the reference
    return frozenset(PUNCTUATION_SET)


ENGLISH = ("en", "eng", "eng_Latn")   # ISO 639-1, ISO 639-3 (datatrove's Languages.english), with script


def check_english(language: str, rule: str) -> None:
    """The word rules split words with spaCy's English tokenizer and its speed-ups, which
    are checked against English only (rules/nlp.py): another language is refused here,
    where the recipe is checked, rather than silently split as English."""
    if language not in ENGLISH:
        raise ValueError(f"language: {language!r} is not supported by {rule} (English only: one of "
                         f"{list(ENGLISH)}); for another language use {{name: datatrove, class: ...}} "
                         "with that language's word tokenizer")


_CHAR_BASE = 1_000_003                   # the characters' polynomial hash


class Vocabulary:
    """Every word met so far, numbered, with its per-word figures in NumPy arrays, so
    that a document's figures are array look-ups on its word ids: the hashes the
    n-gram rules combine, the length, and the two flags Gopher quality counts. The
    arrays grow by doubling: appending by copy cost O(vocabulary) per document that
    brings a new word, 31 ms each at two million words. Ids index them directly."""

    COLUMNS = (("char_hash", np.uint64),    # polynomial hash of the characters
               ("char_power", np.uint64),   # 1_000_003 ** len, to append a word to a hash
               ("salted_hash", np.uint64),  # the word as one symbol: Python's hash(), equal only
                                            # within a process, which is all one document's n-grams need
               ("word_len", np.int64),
               ("wordy", bool),             # not all punctuation (Gopher's "non-symbol word")
               ("alpha", bool))             # holds a letter

    def __init__(self):
        self.index: dict[str, int] = {}
        self.words: list[str] = []
        for name, dtype in self.COLUMNS:
            setattr(self, name, np.empty(1024, dtype))
        self._punctuation: frozenset[str] | None = None

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, words: list[str]) -> np.ndarray:
        self.learn(words)
        return np.fromiter(map(self.index.__getitem__, words), dtype=np.int64, count=len(words))

    def learn(self, words) -> None:
        """Numbers the words not met before, in sorted order."""
        new = set(words).difference(self.index)
        if new:
            self.add(sorted(new))

    def add(self, words: list[str]) -> None:
        """Numbers words not met before (the caller has checked they are new)."""
        if self._punctuation is None:
            self._punctuation = _punctuation()
        punctuation, mask, figures = self._punctuation, (1 << 64) - 1, []
        for word in words:
            h = 0
            for ch in word:
                h = (h * _CHAR_BASE + ord(ch)) & mask
            figures.append((h, pow(_CHAR_BASE, len(word), 1 << 64), hash(word) & mask, len(word),
                            not punctuation.issuperset(word), any(ch.isalpha() for ch in word)))
        start, end = len(self.words), len(self.words) + len(words)
        self.index.update((w, start + i) for i, w in enumerate(words))
        self.words.extend(words)
        for (name, dtype), column in zip(self.COLUMNS, zip(*figures)):
            array = getattr(self, name)
            if end > len(array):
                array = np.resize(array, max(end, 2 * len(array)))
                setattr(self, name, array)
            array[start:end] = np.array(column, dtype=dtype)


class SpacyWords:
    """spaCy's English word split (as datatrove uses it), memoised per whitespace chunk
    as word ids in a Vocabulary."""

    MAX_MEMO = 2_000_000   # chunks (and words) remembered; both forgotten when full, which only costs speed

    def __init__(self):
        from pipeline.rules.nlp import fast_tokenizer
        self.tokenizer = fast_tokenizer("en")
        self.specials = frozenset(self.tokenizer.rules or ())
        self.memo: dict[str, tuple[int, ...]] = {}
        self.vocabulary = Vocabulary()

    def ids(self, text: str) -> np.ndarray:
        """The text's word ids, in order."""
        chunks = text.split()
        memo = self.memo
        missing = set(chunks).difference(memo)
        if missing:
            if len(memo) + len(missing) > self.MAX_MEMO or len(self.vocabulary) > self.MAX_MEMO:
                self.memo, self.vocabulary = {}, Vocabulary()
                memo, missing = self.memo, set(chunks)
            self._learn(sorted(missing))
        return np.fromiter(chain.from_iterable(map(memo.__getitem__, chunks)), dtype=np.int64)

    def __call__(self, text: str) -> list[str]:
        ids = self.ids(text).tolist()         # first: it may start a new vocabulary
        return list(map(self.vocabulary.words.__getitem__, ids))

    def split(self, chunk: str) -> tuple[str, ...]:
        """One learnt chunk's words."""
        return tuple(self.vocabulary.words[i] for i in self.memo[chunk])

    def _learn(self, chunks: list[str]) -> None:
        """Tokenizes each new chunk on its own: spaCy's special-case matcher can look
        across a space, so chunks joined into one text would meet false neighbours.
        Chunks of letters with at most an opening bracket before and one closing
        punctuation mark after (`word`, `word,`, `(word`, `word.`) skip spaCy: its
        prefix and suffix rules split those marks off (a full stop only after a
        lower-case letter: "GiB." stays whole), no rule splits letters, and special
        cases ("cannot", "id", "etc.") are looked up first, as spaCy does.
        tests/test_gopher.py holds this shortcut to spaCy on every chunk of a corpus."""
        specials, split, rest = self.specials, {}, []
        for chunk in chunks:
            m = _SIMPLE_CHUNK.fullmatch(chunk)
            if m and _simple(m) and specials.isdisjoint((chunk, m.group(2), m.group(1) + m.group(2),
                                                         m.group(2) + m.group(3))):
                split[chunk] = tuple(part for part in m.groups() if part)
            else:
                rest.append(chunk)
        for chunk, doc in zip(rest, self.tokenizer.pipe(rest, batch_size=1000)):
            split[chunk] = tuple([token.text for token in doc])   # chunks hold no whitespace
        self.vocabulary.learn(chain.from_iterable(split.values()))
        index = self.vocabulary.index
        self.memo.update((chunk, tuple(map(index.__getitem__, words))) for chunk, words in split.items())


def _simple(m: re.Match) -> bool:
    stem = m.group(2)
    return stem.isalpha() and (m.group(3) != "." or "a" <= stem[-1] <= "z")


class Signals:
    """One document's figures the rules read; computed on first use, once."""

    def __init__(self, text: str, splitter: SpacyWords):
        self.text, self.splitter = text, splitter
        self._ids: np.ndarray | None = None

    @property
    def ids(self) -> np.ndarray:
        """The document's words, as ids in `vocabulary`."""
        if self._ids is None:
            self._ids = self.splitter.ids(self.text)
        return self._ids

    @property
    def vocabulary(self) -> Vocabulary:
        return self.splitter.vocabulary


class WordSignals:
    """What the word-level rules of one chain share: one memoised spaCy split (created on
    first use) and the Signals of the document the chain is on, so the rules that run
    back to back on a document split it once. A chain (rules/quality.build_chain) owns
    one and hands it to each of its rules; nothing is shared between chains, rule
    instances built alone, or threads."""

    def __init__(self):
        self._splitter: SpacyWords | None = None
        self._last: Signals | None = None

    @property
    def splitter(self) -> SpacyWords:
        if self._splitter is None:
            self._splitter = SpacyWords()
        return self._splitter

    def of(self, text: str) -> Signals:
        if self._last is None or self._last.text is not text:
            self._last = Signals(text, self.splitter)
        return self._last


def duplicates(items: Sequence) -> tuple[int, int]:
    """(repeated elements, their characters), counting every repeat after the first."""
    seen, count, chars = set(), 0, 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


class NGrams:
    """Hashes of every n-gram of a word list, for n = 1, 2, ... in turn, in NumPy.

    Two hashes per n-gram, both polynomial and wrapping mod 2**64: `joined` hashes
    the n-gram's space-less concatenation (datatrove compares duplicate n-grams so,
    and ("ab", "c") equals ("a", "bc") there), `words` hashes the word sequence
    (top n-grams are compared joined by spaces, which is the same as word by word).
    """

    def __init__(self, ids: np.ndarray, vocabulary: Vocabulary):
        v = vocabulary
        self.char_hash, self.char_power = v.char_hash[ids], v.char_power[ids]
        self.salted_hash, self.word_len = v.salted_hash[ids], v.word_len[ids]
        self._reset()

    @classmethod
    def of_words(cls, words: list[str]) -> "NGrams":
        vocabulary = Vocabulary()
        return cls(vocabulary.ids(words), vocabulary)

    def _reset(self) -> None:
        self.n = 1
        self.joined, self.words, self.chars = self.char_hash.copy(), self.salted_hash.copy(), self.word_len.copy()

    def grow(self, n: int) -> None:
        """Moves the hashes to n-grams: forward cheaply, or back by starting over."""
        if n < self.n:
            self._reset()
        while self.n < n:
            k = self.n
            self.joined = self.joined[:-1] * self.char_power[k:] + self.char_hash[k:]
            self.words = self.words[:-1] * WORD_BASE + self.salted_hash[k:]
            self.chars = self.chars[:-1] + self.word_len[k:]
            self.n += 1


class Groups:
    """Positions grouped by equal hash, from one stable sort (np.unique would sort twice
    and costs more in its Python layer than the sort itself on these short arrays)."""

    def __init__(self, hashes: np.ndarray):
        self.order = np.argsort(hashes, kind="stable")     # positions, by hash, ascending within a hash
        ordered = hashes[self.order]
        self.starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        self.counts = np.diff(np.append(self.starts, len(hashes)))
        self.first = self.order[self.starts]                  # each group's first position

    def repeats(self) -> np.ndarray:
        """Ascending positions whose hash occurred at an earlier position."""
        later = np.ones(len(self.order), dtype=bool)
        later[self.starts] = False
        return np.sort(self.order[later])

    def group_of(self) -> np.ndarray:
        """Per position, the index of its group."""
        group = np.empty(len(self.order), dtype=np.int64)
        group[self.order] = np.repeat(np.arange(len(self.starts)), self.counts)
        return group


def top_ngram_chars(grams: NGrams, n: int) -> int:
    """Characters of the most frequent n-gram (joined with spaces) times its count; ties go
    to the n-gram seen first, as with Counter.most_common."""
    grams.grow(n)
    groups = Groups(grams.words)
    top = groups.counts.max()
    i = groups.first[groups.counts == top].min()
    return int(grams.chars[i] + n - 1) * int(top)


def duplicate_ngram_chars(grams: NGrams, n: int, limit: float | None = None) -> int:
    """Characters in repeated n-grams, skipping past each repeat (the Gopher paper's rule;
    n-grams compared as their space-less concatenation, exactly as datatrove does).
    With `limit` the caller only asks whether the count exceeds it, so an upper bound
    at or under it is returned without the scan.

    datatrove's scan is sequential: at a repeat it counts and jumps n positions, whose
    n-grams are then never 'seen'. Only positions whose n-gram occurred earlier
    (candidates, found in NumPy) can count, and they come in runs: the stretches
    between runs hold first occurrences only, which the scan marks seen in one NumPy
    step, and Python walks the runs position by position (a jump skips n at once)."""
    grams.grow(n)
    hashes, lengths = grams.joined, grams.chars
    if len(hashes) < 2:
        return 0
    groups = Groups(hashes)
    candidates = groups.repeats()
    if not len(candidates):
        return 0
    if limit is not None:
        bound = int(lengths[candidates].sum())
        if bound <= limit:
            return bound
    codes = groups.group_of()
    seen = np.zeros(len(groups.starts), dtype=np.uint8)
    flags = memoryview(seen)              # the same bytes, read and set per item without NumPy scalars
    breaks = np.flatnonzero(np.diff(candidates) != 1) + 1
    run_starts = candidates[np.concatenate(([0], breaks))].tolist()
    run_ends = (candidates[np.append(breaks - 1, len(candidates) - 1)] + 1).tolist()
    code_list, size_list = codes.tolist(), lengths.tolist()
    chars, i = 0, 0
    for start, end in zip(run_starts, run_ends):
        if i < start:                     # first occurrences only: each is seen, none counts
            seen[codes[i:start]] = 1
            i = start
        while i < end:
            c = code_list[i]
            if flags[c]:
                chars += size_list[i]
                i += n
            else:
                flags[c] = 1
                i += 1
    return chars


class GopherRepetition:
    def __init__(self, dup_line_frac=0.3, dup_para_frac=0.3, dup_line_char_frac=0.2, dup_para_char_frac=0.2,
                 top_n_grams=((2, 0.2), (3, 0.18), (4, 0.16)),
                 dup_n_grams=((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)), language="eng",
                 signals: WordSignals | None = None):
        check_english(language, "gopher_repetition")
        self.signals = signals or WordSignals()
        self.dup_line_frac, self.dup_para_frac = dup_line_frac, dup_para_frac
        self.dup_line_char_frac, self.dup_para_char_frac = dup_line_char_frac, dup_para_char_frac
        self.top_n_grams = [tuple(x) for x in top_n_grams]
        self.dup_n_grams = [tuple(x) for x in dup_n_grams]

    def __call__(self, doc: Document) -> Measured | str:
        text = doc.text
        if not text:
            return "empty"
        found = {}
        paragraphs = PARAGRAPHS.split(text.strip())
        count, chars = duplicates(paragraphs)
        found["gopher_dup_para_frac"] = signal(count / len(paragraphs))
        found["gopher_dup_para_char_frac"] = signal(chars / len(text))
        if self.dup_para_frac and count / len(paragraphs) > self.dup_para_frac:
            return Failed("dup_para_frac", count / len(paragraphs), ">", self.dup_para_frac)
        if self.dup_para_char_frac and chars / len(text) > self.dup_para_char_frac:
            return Failed("dup_para_char_frac", chars / len(text), ">", self.dup_para_char_frac)
        lines = LINES.split(text)
        count, chars = duplicates(lines)
        found["gopher_dup_line_frac"] = signal(count / len(lines))
        found["gopher_dup_line_char_frac"] = signal(chars / len(text))
        if self.dup_line_frac and count / len(lines) > self.dup_line_frac:
            return Failed("dup_line_frac", count / len(lines), ">", self.dup_line_frac)
        if self.dup_line_char_frac and chars / len(text) > self.dup_line_char_frac:
            return Failed("dup_line_char_frac", chars / len(text), ">", self.dup_line_char_frac)
        signals = self.signals.of(text)
        grams = NGrams(signals.ids, signals.vocabulary)
        for n, frac in sorted(self.top_n_grams):
            if len(signals.ids) >= n:
                found[f"gopher_top_{n}_gram_frac"] = signal(top := top_ngram_chars(grams, n) / len(text))
                if top > frac:
                    return Failed(f"top_{n}_gram", top, ">", frac)
        for n, frac in sorted(self.dup_n_grams):
            # counting stops at the limit, so the figure is "at least" this much when it fails,
            # and "at most" when it passes (a bound under the limit is not refined)
            dup = duplicate_ngram_chars(grams, n, limit=frac * len(text)) / len(text)
            found[f"gopher_dup_{n}_gram_frac_max"] = signal(dup)
            if dup > frac:
                return Failed(f"duplicated_{n}_n_grams", dup, ">", frac)
        return Measured(found)


class GopherQuality:
    def __init__(self, min_doc_words=50, max_doc_words=100000, min_avg_word_length=3, max_avg_word_length=10,
                 max_symbol_word_ratio=0.1, max_bullet_lines_ratio=0.9, max_ellipsis_lines_ratio=0.3,
                 max_non_alpha_words_ratio=0.8, min_stop_words=2, stop_words=None, language="eng",
                 signals: WordSignals | None = None):
        check_english(language, "gopher_quality")
        self.signals = signals or WordSignals()
        self.min_doc_words, self.max_doc_words = min_doc_words, max_doc_words
        self.min_avg_word_length, self.max_avg_word_length = min_avg_word_length, max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio, self.max_ellipsis_lines_ratio = max_bullet_lines_ratio, max_ellipsis_lines_ratio
        self.max_non_alpha_words_ratio, self.min_stop_words = max_non_alpha_words_ratio, min_stop_words
        self.stop_words = frozenset(STOP_WORDS if stop_words is None else stop_words)

    def __call__(self, doc: Document) -> Measured | str:
        text = doc.text
        signals = self.signals.of(text)
        ids, v = signals.ids, signals.vocabulary
        n_words = len(ids)
        wordy = v.wordy[ids]     # per word: the vocabulary's flags and lengths, looked up in NumPy
        n_wordy = int(np.count_nonzero(wordy))
        found = {"gopher_words": n_wordy}
        if self.min_doc_words and n_wordy < self.min_doc_words:
            return Failed("gopher_short_doc", n_wordy, "<", self.min_doc_words)
        if self.max_doc_words and n_wordy > self.max_doc_words:
            return Failed("gopher_long_doc", n_wordy, ">", self.max_doc_words)
        mean = int(v.word_len[ids[wordy]].sum()) / n_wordy if n_wordy else float("nan")
        if n_wordy:
            found["gopher_mean_word_length"] = signal(mean)
        if self.min_avg_word_length and mean < self.min_avg_word_length:
            return Failed("gopher_below_avg_threshold", mean, "<", self.min_avg_word_length)
        if self.max_avg_word_length and mean > self.max_avg_word_length:
            return Failed("gopher_above_avg_threshold", mean, ">", self.max_avg_word_length)
        if self.max_symbol_word_ratio:
            found["gopher_hash_ratio"] = signal(hashes := text.count("#") / n_words)
            if hashes > self.max_symbol_word_ratio:
                return Failed("gopher_too_many_hashes", hashes, ">", self.max_symbol_word_ratio)
            found["gopher_ellipsis_ratio"] = signal(ellipses := (text.count("...") + text.count("…")) / n_words)
            if ellipses > self.max_symbol_word_ratio:
                return Failed("gopher_too_many_ellipsis", ellipses, ">", self.max_symbol_word_ratio)
        lines = text.splitlines()
        if self.max_bullet_lines_ratio:
            bullets = sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines)
            found["gopher_bullet_lines_ratio"] = signal(bullets)
            if bullets > self.max_bullet_lines_ratio:
                return Failed("gopher_too_many_bullets", bullets, ">", self.max_bullet_lines_ratio)
        if self.max_ellipsis_lines_ratio:
            ending = sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines)
            found["gopher_end_ellipsis_lines_ratio"] = signal(ending)
            if ending > self.max_ellipsis_lines_ratio:
                return Failed("gopher_too_many_end_ellipsis", ending, ">", self.max_ellipsis_lines_ratio)
        if self.max_non_alpha_words_ratio:
            found["gopher_alpha_words_ratio"] = signal(alpha := np.count_nonzero(v.alpha[ids]) / n_words)
            if alpha < self.max_non_alpha_words_ratio:
                return Failed("gopher_below_alpha_threshold", alpha, "<", self.max_non_alpha_words_ratio)
        if self.min_stop_words:
            stop_ids = [v.index[w] for w in self.stop_words if w in v.index]
            found["gopher_stop_words"] = (n_stop := int(np.count_nonzero(np.isin(stop_ids, ids))))
            if n_stop < self.min_stop_words:
                return Failed("gopher_enough_stop_words", n_stop, "<", self.min_stop_words)
        return Measured(found)
