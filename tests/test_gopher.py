"""Our shared-signal Gopher rules against datatrove's, the reference: the same words,
the same n-gram figures, and the same keep/drop decision and reason on a real corpus."""
import random

import pytest
from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_top_duplicate, get_n_grams
from datatrove.utils.text import split_into_words

from pipeline.rules.gopher import NGrams, SpacyWords, duplicate_ngram_chars, top_ngram_chars
from pipeline.rules.quality import DatatroveRule, build_rule, first_failure
from sources.document import Document


def test_ngram_figures_equal_datatrove_on_random_word_lists():
    rng = random.Random(0)
    for _ in range(2000):
        vocab = [rng.choice(["a", "b", "ab", "c", "bc", "x", "é", "naïve"]) for _ in range(rng.randint(1, 6))]
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 60))]
        grams = NGrams(words)
        for n in (2, 3, 4, 5, 7, 10):
            if n <= min(len(words), 4):
                assert top_ngram_chars(grams, n) == find_top_duplicate(get_n_grams(words, n))
            assert duplicate_ngram_chars(grams, n) == find_all_duplicate(words, n), (words, n)
        assert duplicate_ngram_chars(NGrams(words), 5, limit=10 ** 9) >= find_all_duplicate(words, 5)


def test_concatenation_collisions_count_as_datatrove_counts_them():
    words = ["ab", "c", "x", "a", "bc", "y"]           # "abc" twice as a 2-gram concatenation
    assert duplicate_ngram_chars(NGrams(words), 2) == find_all_duplicate(words, 2) == 3


@pytest.fixture(scope="module")
def corpus(sample_documents):
    """Real text: the sample's documents before filtering would be better, but the kept ones
    plus their halves and the installed packages' READMEs give over 1,000 documents."""
    from bench.filters import package_readmes
    docs = [d for d in sample_documents if d.kind == "text"]
    docs += [Document(id=f"readme/{i}", text=t, kind="text", source="readme") for i, t in enumerate(package_readmes())]
    docs += [Document(id=d.id + "#half", text=d.text[len(d.text) // 2:], kind="text", source=d.source) for d in docs]
    return docs


def test_words_are_spacy_words(corpus):
    # Chunk by chunk equals spaCy on the whole text except where its special-case
    # matcher looks across a space; on this corpus that is no document at all.
    words = SpacyWords()
    sample = corpus[::5]
    same = sum(words(doc.text) == split_into_words(doc.text) for doc in sample)
    assert same / len(sample) >= 0.99


@pytest.mark.parametrize("settings", [
    {},                                                                     # Gopher paper defaults
    {"gopher_repetition": {"dup_n_grams": [[5, 0.30], [6, 0.28], [7, 0.26], [8, 0.24], [9, 0.22], [10, 0.20]]},
     "gopher_quality": {"max_non_alpha_words_ratio": 0.5}},                 # the sample recipe's
])
def test_decisions_and_reasons_equal_datatrove(corpus, settings):
    assert len(corpus) >= 1000
    specs = [{"name": n, **settings.get(n, {})} for n in ("gopher_repetition", "gopher_quality")]
    ours = [build_rule(s) for s in specs]
    theirs = [DatatroveRule({"gopher_repetition": "GopherRepetitionFilter",
                             "gopher_quality": "GopherQualityFilter"}[s["name"]],
                            **{k: v for k, v in s.items() if k != "name"}) for s in specs]
    if settings:   # the reference is slow: the defaults run on every document, the recipe's on a third
        corpus = corpus[::3]
    mine = [first_failure(d, ours) for d in corpus]
    reference = [first_failure(d, theirs) for d in corpus]
    assert mine == reference
    assert 0 < sum(r is None for r in reference) < len(corpus), "the corpus has both kept and dropped documents"
