"""Our shared-signal Gopher rules against datatrove's, the reference: the same words,
the same n-gram figures, and the same keep/drop decision and reason on a real corpus."""
import random

import pytest
from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_top_duplicate, get_n_grams
from datatrove.utils.text import split_into_words

from pipeline.rules.gopher import NGrams, SpacyWords, duplicate_ngram_chars, top_ngram_chars


def test_ngram_figures_equal_datatrove_on_random_word_lists():
    rng = random.Random(0)
    for _ in range(2000):
        vocab = [rng.choice(["a", "b", "ab", "c", "bc", "x", "é", "naïve"]) for _ in range(rng.randint(1, 6))]
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 60))]
        grams = NGrams.of_words(words)
        for n in (2, 3, 4, 5, 7, 10):
            if n <= min(len(words), 4):
                assert top_ngram_chars(grams, n) == find_top_duplicate(get_n_grams(words, n))
            assert duplicate_ngram_chars(grams, n) == find_all_duplicate(words, n), (words, n)
        assert duplicate_ngram_chars(NGrams.of_words(words), 5, limit=10 ** 9) >= find_all_duplicate(words, 5)


def test_concatenation_collisions_count_as_datatrove_counts_them():
    words = ["ab", "c", "x", "a", "bc", "y"]           # "abc" twice as a 2-gram concatenation
    assert duplicate_ngram_chars(NGrams.of_words(words), 2) == find_all_duplicate(words, 2) == 3


@pytest.fixture(scope="module")
def corpus():
    """Over 1,000 real documents, unfiltered: the sample's text after extraction and
    normalisation, and the READMEs of every installed package (bench/filters.py)."""
    from bench.filters import corpus
    from tests.conftest import in_repo
    with in_repo():
        return corpus(1000)


def test_words_are_spacy_words(corpus):
    # Chunk by chunk equals spaCy on the whole text except where its special-case
    # matcher looks across a space; on this corpus that is no document at all.
    words = SpacyWords()
    sample = corpus[::5]
    same = sum(words(doc.text) == split_into_words(doc.text) for doc in sample)
    assert same / len(sample) >= 0.99


def test_chunk_shortcut_equals_spacy_on_every_chunk(corpus):
    """The letters-and-punctuation shortcut in SpacyWords._learn against spaCy itself."""
    import spacy
    chunks = sorted({c for d in corpus for c in d.text.split()} |
                    {"cannot", "Cannot,", "id,", "(e.", "etc.", "GiB.", "A.", "naïve,", "x²", "ﬁne."})
    words = SpacyWords()
    words._learn(chunks)
    tokenizer = spacy.blank("en").tokenizer
    wrong = [c for c in chunks if words.split(c) != tuple(t.text for t in tokenizer(c))]
    assert wrong == []


@pytest.mark.parametrize("chain,step", [("fineweb", 1), ("sample", 4)])
def test_fused_chain_decides_as_datatrove_chain(corpus, chain, step):
    """FineWeb's filter chain (Gopher repetition, Gopher quality, C4, FineWeb) on every
    document, and with the sample recipe's looser Gopher settings (more documents reach
    C4 and FineWeb) on a quarter: keep/drop, reason and the C4-edited text."""
    from bench.filters import CHAINS, compare
    docs = corpus[::step]
    assert len(corpus) >= 1000
    r = compare(CHAINS[chain], docs)
    assert r["same_decision"] >= 0.995 and r["same_reason"] >= 0.995 and r["same_outcome"] >= 0.995
    kept = r["kept"][1]
    assert 0 < kept < len(docs), "the corpus has both kept and dropped documents"


def test_full_memo_forgets_words_and_ids_together():
    """When the chunk memo fills, the vocabulary goes with it: ids stay consistent."""
    words = SpacyWords()
    words.MAX_MEMO = 8
    texts = ["the cat sat on the mat.", "a dog (barked) twice, loudly!", "the cat sat on the mat."]
    fresh = SpacyWords()
    for text in texts:
        assert words(text) == fresh(text) == split_into_words(text)
        assert len(words.memo) <= 8 or len(set(text.split())) > 8


def test_fast_affix_searches_answer_as_spacy_regexes(corpus):
    """SuffixSearch (tail search plus the unbounded rules) and the prefix `match` give
    spaCy's own spans on every chunk of the corpus and on shapes built to trip them."""
    import spacy

    from pipeline.rules.nlp import SuffixSearch
    nlp = spacy.blank("en")
    suffix, prefix = nlp.tokenizer.suffix_search, nlp.tokenizer.prefix_search
    fast_suffix, fast_prefix = SuffixSearch(nlp.Defaults.suffixes), prefix.__self__.match
    tricky = ["a" + "." * k for k in range(1, 12)] + ["5km", "10km²", "x5km", "é..", "…", "a……", "''''''''",
                                                     "(x)).", "3.5%", "$5", "x.\n", "...\n", "A.", "a.", "°C."]
    chunks = sorted({c for d in corpus for c in d.text.split()}) + tricky

    def span(match):
        return match and match.span()
    assert [c for c in chunks if span(suffix(c)) != span(fast_suffix(c))] == []
    assert [c for c in chunks if span(prefix(c)) != span(fast_prefix(c))] == []
