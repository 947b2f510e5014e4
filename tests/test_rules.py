"""Pure document rules: extraction, normalisation, quality, dedup survivor."""
import itertools

import pytest

from pipeline.rules.dedup import DedupCandidate, content_hash, split_duplicates
from pipeline.rules.extract import extract_document
from pipeline.rules.normalize import normalize_document, normalize_text
from pipeline.rules.code import alnum_fraction
from pipeline.rules.quality import build_rule
from pipeline.rules.verdict import Measured, first_failure
from sources.document import Document

PROSE = ("The quick brown fox jumps over the lazy dog and then it runs to the river with the other "
         "animals of the forest, where they all have a drink of water and rest in the shade. ") * 6


def doc(text, kind="text", **meta):
    return Document(id="s/f@1", text=text, kind=kind, source="s", meta=meta)


def test_document_rejects_unknown_kind():
    with pytest.raises(ValueError):
        doc("x", kind="image")


def test_html_is_extracted_and_plain_text_passes_through():
    html = "<html><body><nav>Home | About</nav><article><h1>Title</h1><p>" + PROSE + "</p></article></body></html>"
    out = extract_document(doc(html, format="html"))
    assert "quick brown fox" in out.text and "<p>" not in out.text
    assert out.meta["format"] == "text" and out.meta["extractor"] == "resiliparse"
    assert extract_document(doc("<b>kept as is</b>", format="text")).text == "<b>kept as is</b>"
    assert extract_document(doc("<html><body></body></html>", format="html")) == "empty"
    traf = extract_document(doc(html, format="html"), "trafilatura")
    assert "quick brown fox" in traf.text


def test_extraction_limits_drop_with_reasons_and_recover():
    from pipeline.rules.extract import ExtractLimits, Extractor
    page = doc("<html><body><article><p>" + PROSE * 40 + "</p></article></body></html>", format="html")
    assert Extractor("resiliparse", ExtractLimits(max_bytes=1000))(page) == "too_large"
    slow = Extractor("trafilatura", ExtractLimits(timeout_s=1e-4))   # no child process answers that fast
    try:
        assert slow(page) == "timeout"
        assert slow._pool is None, "the stuck child is killed"
    finally:
        slow.close()
    patient = Extractor("trafilatura", ExtractLimits(timeout_s=60))
    try:
        assert "quick brown fox" in patient(page).text     # a fresh child after a timeout works
    finally:
        patient.close()


def test_normalize_text_and_code():
    assert normalize_text("Cafe\u0301 \r\nline\x00two  \n\n\n\nend  ") == "Café\nlinetwo\n\nend"
    code = "def f():\r\n\tx = 1   \n\n\n\n    return x\n\n"
    assert normalize_text(code, "code") == "def f():\n\tx = 1   \n\n\n\n    return x\n"
    assert normalize_document(doc(" \n\t ")) == "empty"
    same = doc("already clean")
    assert normalize_document(same) is same


def test_quality_rules_name_their_reason():
    assert build_rule({"name": "min_chars", "minimum": 10})(doc("short")) == "too_short"
    assert build_rule({"name": "min_chars", "minimum": 3})(doc("short")) is None
    long_line = "x = " + "1" * 2000
    assert build_rule({"name": "max_line_length", "maximum": 1000})(doc(long_line, "code")) == "max_line_length"
    assert build_rule({"name": "mean_line_length", "maximum": 100})(doc("a\n" * 50, "code")) == \
        Measured({"code_mean_line_length": 0.9804})   # 50 characters over 51 lines
    assert alnum_fraction("ab--") == 0.5
    assert build_rule({"name": "min_alnum_fraction", "minimum": 0.25})(doc("{}[]();" * 20 + "a", "code")) == "alnum_fraction"


def test_datatrove_filters_are_wrapped_with_their_own_reasons():
    gopher = build_rule({"name": "gopher_quality"})
    assert isinstance(gopher(doc(PROSE)), Measured)
    assert gopher(doc("only five words here now")) == "gopher_short_doc"
    repetition = build_rule({"name": "gopher_repetition"})
    assert repetition(doc("the same line again\n" * 40)) == "dup_line_frac"
    generic = build_rule({"name": "datatrove", "class": "GopherQualityFilter", "min_doc_words": 5000})
    assert generic(doc(PROSE)) == "gopher_short_doc"
    rules = [build_rule({"name": "min_chars", "minimum": 10}), gopher]
    assert first_failure(doc("tiny"), rules) == "too_short"
    with pytest.raises(ValueError, match="unknown filter rule"):
        build_rule({"name": "no_such_rule"})


def test_content_hash_separates_texts():
    assert content_hash("a") == content_hash("a") != content_hash("b")
    assert len(content_hash("a")) == 16


def test_survivor_is_longest_then_smallest_id_whatever_the_order():
    group = [DedupCandidate(10, "b", "s1"), DedupCandidate(12, "z", "s2"), DedupCandidate(12, "c", "s1"),
             DedupCandidate(3, "a", "s3")]
    for order in itertools.permutations(group):
        survivor, dropped = split_duplicates(order)
        assert survivor.id == "c"
        assert sorted(d.id for d in dropped) == ["a", "b", "z"]
    survivor, dropped = split_duplicates([DedupCandidate(5, "only", "s")])
    assert survivor.id == "only" and dropped == []


def test_word_rules_refuse_a_language_they_would_split_as_english():
    """The bug: `language` was accepted and ignored, every text split by spaCy's English rules."""
    for name in ("gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality"):
        assert build_rule({"name": name, "language": "eng"}) is not None
        with pytest.raises(ValueError, match="language: 'de' is not supported by"):
            build_rule({"name": name, "language": "de"})
    with pytest.raises(ValueError, match="unexpected argument 'signals'"):
        build_rule({"name": "gopher_quality", "signals": 1})


def test_a_chain_shares_word_signals_and_two_chains_share_nothing():
    """The bug: the word splitter and the last document's signals were class attributes of
    Signals, seen by every rule instance and thread in the process."""
    from pipeline.rules.quality import build_chain
    specs = [{"name": "gopher_repetition"}, {"name": "gopher_quality"}, {"name": "fineweb_quality"}]
    first, second = build_chain(specs), build_chain(specs)
    assert first[0].signals is first[1].signals is first[2].signals
    assert first[0].signals is not second[0].signals
    text = PROSE
    assert [rule(doc(text)) for rule in first] == [rule(doc(text)) for rule in second]
    assert first[0].signals.splitter is not second[0].signals.splitter
    assert build_chain([{"name": "min_chars"}])[0](doc("x" * 300)) is None
