"""Deduplication: URL normalisation and newest-capture survivors, MinHash signatures
against true Jaccard similarity, and the Beam stage against the pure reference on
real documents with planted near-duplicates and many vendored copies."""
import dataclasses
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.recipe import DedupSpec, Recipe
from pipeline.reference import duplicate_ids
from pipeline.rules.dedup import crawl_time, normalize_url
from pipeline.rules.minhash import MinHashParams, Signer, estimated_similarity, jaccard, shingles, sketch
from pipeline.transforms.dedup import Deduplicate
from sources.document import Document


def doc(i, text, kind="text", source="s", url="", **meta):
    return Document(id=f"{source}/f@{i:03d}", text=text, kind=kind, source=source, url=url, meta=meta)


def test_url_normalisation():
    assert normalize_url("HTTPS://www.Example.com:443/a/b/?utm_source=x&b=2&a=1#top") == "example.com/a/b?a=1&b=2"
    assert normalize_url("http://example.com") == normalize_url("https://example.com/") == "example.com/"
    assert normalize_url("http://example.com:8080/x") == "example.com:8080/x"
    assert normalize_url("http://example.com/x?b=1") != normalize_url("http://example.com/x?b=2")


def test_crawl_time_reads_warc_and_parquet_dates():
    assert crawl_time({"warc_date": "2024-02-21T10:22:33Z"}) == 1708510953
    assert crawl_time({"timestamp": "2024-02-21 10:22:33"}) == 1708510953
    assert crawl_time({"date": "not a date"}) == 0 == crawl_time({})


@pytest.fixture(scope="module")
def stdlib_texts():
    """Real prose-like text: docstrings of standard-library modules, at least 300 words each."""
    import importlib
    texts = []
    for name in sorted(["argparse", "asyncio", "collections", "csv", "datetime", "decimal", "email", "functools",
                        "http.client", "inspect", "json", "logging", "os", "pathlib", "pickle", "re", "shutil",
                        "socket", "sqlite3", "subprocess", "tarfile", "threading", "typing", "unittest",
                        "urllib.request", "zipfile", "xml.dom.minidom", "imaplib", "ftplib", "smtplib"]):
        module = importlib.import_module(name)
        source = open(module.__file__, encoding="utf-8").read()
        words = source.split()
        if len(words) >= 600:
            texts.append(" ".join(words[:600]))
    return texts


def test_shingle_words_equal_datatrove_simplify_text(stdlib_texts):
    from datatrove.utils.text import simplify_text

    from pipeline.rules.minhash import shingle_words
    from tests.test_filters import REAL_SENTENCES
    texts = [*stdlib_texts, *REAL_SENTENCES.values(), "Crème brûlée, naïve café: 3,14 € — ǅemal Ñandú ﬁ 1.5e3"]
    # the ASCII road (its own number pattern, punctuation by bytes.translate, str.split): numbers
    # with separators, control characters datatrove's table maps to spaces, and the separators
    # (\x1c-\x1f) that str.split cuts at while datatrove's \s leaves them to its table
    texts += ["1.2.3,4 5,,6 7..8 0x1F 1e5 12,345.67 a1b2 v3.11", "\x1c\x1dx\x1ey\x1f z\x0b\x0c\r\n\t w",
              "MONDAY January __init__ self.x=1; a['k']", "", "   ", "!!!", "\x00a\x7fb", "x\u00a0y 3\u0663"]
    # the other road: punctuation runs, marks after punctuation, and code points sampled over
    # the planes (U+1AD3 and its neighbours are Mn to the regex module's newer Unicode, which
    # removed them where datatrove, asking unicodedata, keeps them)
    texts += ["ǅemal Ñandú ﬁ ٣٤.٥ x\u0301!\u0301 a\u00a0b\u2028c \u1fed «¿¡»", "x\u1ad3y",
              "".join(map(chr, range(0, 0x3000, 7))), "".join(map(chr, range(0x3000, 0x30000, 13)))]
    assert any(text.isascii() for text in texts) and not all(text.isascii() for text in texts)
    for text in texts:
        assert shingle_words(text) == simplify_text(text).split(), text


def edit(text, fraction, rng):
    """Replaces `fraction` of the words with fresh ones: roughly controls the Jaccard similarity."""
    words = text.split()
    for i in rng.sample(range(len(words)), int(len(words) * fraction)):
        words[i] = f"edit{rng.randrange(10 ** 9)}"
    return " ".join(words)


def test_signature_estimates_jaccard(stdlib_texts):
    signer, rng = Signer(MinHashParams()), random.Random(0)
    errors = []
    for text in stdlib_texts[:10]:
        for fraction in (0.01, 0.05, 0.15):
            other = edit(text, fraction, rng)
            a, b = shingles(text), shingles(other)
            estimate = float(np.mean(signer.signature(a) == signer.signature(b)))
            errors.append(abs(estimate - jaccard(a, b)))
    assert np.mean(errors) < 0.05 and max(errors) < 0.2


def test_near_duplicates_go_and_distinct_texts_stay(stdlib_texts):
    rng = random.Random(1)
    docs = [doc(i, t) for i, t in enumerate(stdlib_texts)]
    near = [doc(100 + i, edit(t, 0.01, rng)[:-1]) for i, t in enumerate(stdlib_texts[:8])]    # ~0.95 similar
    far = [doc(200 + i, edit(t, 0.5, rng)) for i, t in enumerate(stdlib_texts[8:14])]          # ~0.1 similar
    recipe = Recipe(name="t", seed=0, sources=(), dedup=DedupSpec(exact=True, near=MinHashParams()))
    dropped = duplicate_ids(recipe, docs + near + far)
    # each near copy competes with its original: the longer survives, the other goes
    for original, copy in zip(docs[:8], near):
        assert (original.id in dropped) != (copy.id in dropped)
    assert not dropped & {d.id for d in far + docs[8:]}


def test_beam_stage_equals_reference_with_vendored_copies_and_scopes(stdlib_texts):
    rng = random.Random(2)
    code = [doc(i, t, "code", source="vendor") for i, t in enumerate(stdlib_texts[:6])]
    copies = [dataclasses.replace(c, id=f"vendor/copy{j}/f@{i:03d}") for j in range(30) for i, c in enumerate(code)]
    text = [doc(i, t, source="web", url=f"https://example.com/{i}", warc_date=f"2024-0{1 + i % 3}-01T00:00:00Z")
            for i, t in enumerate(stdlib_texts[6:16])]
    recrawl = [doc(50 + i, t.text + " addendum", source="web2", url=t.url.replace("https://", "http://www."),
                   warc_date="2025-01-01T00:00:00Z") for i, t in enumerate(text[:3])]
    near = [doc(80 + i, edit(t.text, 0.02, rng), source="web2") for i, t in enumerate(text[3:6])]
    docs = code + copies + text + recrawl + near
    for scope in ("all", "source"):
        spec = DedupSpec(exact=True, url=True, near=MinHashParams(), scope=scope)
        expected = duplicate_ids(Recipe(name="t", seed=0, sources=(), dedup=spec), docs)
        with BeamTestPipeline() as p:
            out = p | f"Create{scope}" >> beam.Create(docs) | f"Dedup{scope}" >> Deduplicate(
                spec.exact, spec.url, spec.near, spec.scope)
            assert_that(out.drop_list | f"Ids{scope}" >> beam.Keys(), equal_to(sorted(expected)), label=f"Same{scope}")
        assert len([c for c in code + copies if c.id in expected]) == 6 * 30, "all but one of each vendored file"
        if scope == "all":
            assert {t.id for t in text[:3]} <= expected, "the newest capture of a URL survives"
            for original, copy in zip(text[3:6], near):
                assert (original.id in expected) != (copy.id in expected), "one of each near pair goes"
        else:
            assert not {t.id for t in text[:3]} & expected, "within a source, other sources' captures do not count"


def test_drop_reasons_follow_priority():
    same = "the same words in the same order " * 20
    docs = [doc(1, same, url="https://a.example/x"), doc(2, same, url="https://a.example/x")]
    with BeamTestPipeline() as p:
        out = p | beam.Create(docs) | Deduplicate(exact=True, url=True, near=MinHashParams())
        assert_that(out.drop_list, equal_to([("s/f@002", ("s", "dedup/exact"))]), label="OneReason")
        assert_that(out.groups, equal_to([("s/f@001", "exact", 2)]), label="GroupedOnce")
        assert_that(out.rejects, equal_to([{"id": "s/f@002", "source": "s", "reason": "dedup/exact",
                                            "kept": "s/f@001", "similarity": 1.0}]), label="KeptInstead")


def test_known_clusters_chain_pairs_copies_and_one_giant(stdlib_texts):
    """Keep-if-best-in-every-bucket on clusters whose answer is known: a chain A~B~C where A
    and C are not similar keeps A and C (B ranks last); each disjoint pair keeps one;
    exact copies keep one; 40 mutual near-copies keep exactly one. LSH at 20x4 bands and
    verification at 0.5, so a chain with dissimilar ends fits in 600 words."""
    params = MinHashParams(bands=20, rows=4, min_similarity=0.5)
    rng = random.Random(3)
    words = stdlib_texts[0].split()
    chain = [doc(1, " ".join(words[0:400])), doc(2, " ".join(words[100:490])), doc(3, " ".join(words[200:600]))]
    pair_bases = stdlib_texts[1:5]
    pairs = [(doc(10 + i, t), doc(20 + i, edit(t, 0.01, rng)[:-3])) for i, t in enumerate(pair_bases)]
    copies = [doc(30 + i, stdlib_texts[5]) for i in range(6)]
    giant = [doc(100 + i, edit(stdlib_texts[6], 0.005, rng) + " x" * i) for i in range(40)]
    a, b, c = (shingles(d.text) for d in chain)
    signer = Signer(params)
    assert jaccard(a, b) > 0.54 and jaccard(b, c) > 0.54 and jaccard(a, c) < 0.35
    assert estimated_similarity(sketch(signer.signature(a)), sketch(signer.signature(c))) < 0.5
    docs = chain + [d for pair in pairs for d in pair] + copies + giant
    spec = DedupSpec(exact=True, near=params)
    expected = duplicate_ids(Recipe(name="t", seed=0, sources=(), dedup=spec), docs)
    assert {d.id for d in chain} & expected == {chain[1].id}
    assert all(len({d.id for d in pair} - expected) == 1 for pair in pairs)
    assert [d.id for d in copies if d.id not in expected] == [copies[0].id]
    longest = min(giant, key=lambda d: (-len(d.text), d.id))
    assert [d.id for d in giant if d.id not in expected] == [longest.id], "the longest of the giant survives"
    with BeamTestPipeline() as p:
        out = p | beam.Create(docs) | Deduplicate(spec.exact, spec.url, spec.near, spec.scope)
        assert_that(out.drop_list | beam.Keys(), equal_to(sorted(expected)), label="SameAsReference")
        assert_that(out.groups | beam.MapTuple(lambda _, method, size: (method, size)),
                    equal_to([("exact", 6), ("near", 2), ("near", 2), ("near", 2), ("near", 2),
                              ("near", 40), ("near", 2)]), label="ClusterSizes")
        assert_that(out.groups | beam.MapTuple(lambda kept, method, size: (kept, size))
                    | beam.Filter(lambda kept_size: kept_size[1] == 40), equal_to([(longest.id, 40)]),
                    label="GroupIdIsTheKeptDocument")

        def linked_by(records):
            """Each near drop names a kept document, verified similar (at least min_similarity)."""
            near = [r for r in records if r["reason"] == "dedup/near"]
            assert len(near) == 39 + 4 + 1 and all(r["kept"] not in expected for r in near), near
            assert all(0.5 <= r["similarity"] <= 1.0 for r in near), near
            assert {r["kept"] for r in near if r["id"] in {d.id for d in giant}} == {longest.id}
        assert_that(out.rejects, linked_by, label="NearRejectsNameTheKeptCopy")
