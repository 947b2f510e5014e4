"""Boilerplate repeated across pages (dedup.paragraphs, CCNet-style): a cookie banner, a
navigation block and a footer planted into real pages at random places are removed
from every page but the first (by reference, a hash of the id), the rest of the text stays, a page left too
short is dropped with its reason, and the Beam stage agrees with the one-process
reference (pipeline/rules/paragraphs.py)."""
from __future__ import annotations

import glob
import random

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.rules.paragraphs import ParagraphSpec, document_ref, normalize, reference, split_units, without
from pipeline.transforms.dedup import Deduplicate
from sources.document import Document
from tests.conftest import REPO

BANNER = "We use cookies to improve your experience on our site. By continuing you accept our use of cookies."
NAVIGATION = ["Home", "Products and services", "About us", "Contact us"]
FOOTER = "Copyright 2024 Example Media Group. All rights reserved. Terms of use | Privacy policy"


def pages() -> list[str]:
    return [t for f in sorted(glob.glob(str(REPO / "sources/samples/refinedweb/*.parquet")))
            for t in pq.read_table(f, columns=["content"]).column("content").to_pylist()]


def planted(n: int, seed: int = 0) -> list[Document]:
    """n real pages, each with the banner, the navigation block and the footer planted at
    random line positions (numbers in the footer vary: CCNet's digits-to-0 still matches)."""
    rng, docs = random.Random(seed), []
    for i, text in enumerate(pages()[:n]):
        lines = text.split("\n")
        for block in ([BANNER], NAVIGATION, [FOOTER.replace("2024", str(2000 + i % 25))]):
            at = rng.randrange(len(lines) + 1)
            lines[at:at] = block
        docs.append(Document(id=f"s/p@{i:04d}", text="\n".join(lines), kind="text", source="s"))
    return docs


def test_ccnet_normalisation_and_units():
    assert normalize("Copyright 2024, Example — All Rights Reserved!") == "copyright 0000 example all rights reserved"
    assert normalize("Café  NOËL") == "cafe noel" and normalize("-----") == ""
    text = "a\nb\n\nc\n  \nd"
    assert "\n".join(split_units(text, "line")) == text and len(split_units(text, "paragraph")) == 3
    assert without("one\ntwo\nthree", [1], "line") == "one\nthree"


def test_a_paragraph_crosses_the_shuffle_in_20_bytes_whatever_the_id():
    """The bug: each paragraph's shuffle record carried its document's id and source; a
    Common Crawl id is over 100 characters, so the shuffle outweighed the text."""
    from pipeline.rules.paragraphs import Occurrence, occurrences
    crawl_id = "cc/crawl-data/CC-MAIN-2024-10/segments/1707947473347.0/warc/CC-MAIN-20240220-00000.warc.gz@12345"
    for doc_id in ("s@1", crawl_id):
        (key, occurrence), = occurrences(document_ref(doc_id), "One line of text.", "line")
        assert len(key) == 8 and len(occurrence.pack()) == 20
        assert Occurrence.unpack(occurrence.pack()) == occurrence


def test_planted_boilerplate_goes_from_every_page_but_the_first():
    docs = planted(120)
    verdicts = reference([(d.id, d.source, d.text) for d in docs], ParagraphSpec(min_documents=3, min_chars=200))
    first = min(docs, key=lambda d: document_ref(d.id))
    rest = [d for d in docs if d is not first]
    assert first.id not in verdicts or not any(
        split_units(first.text, "line")[i] in (BANNER, FOOTER, *NAVIGATION) for i in verdicts[first.id].removed)
    for doc in rest:
        kept = without(doc.text, verdicts[doc.id].removed, "line") if doc.id in verdicts else doc.text
        lines = set(kept.split("\n"))
        assert BANNER not in lines and not lines & set(NAVIGATION), doc.id
        assert not any(line.startswith("Copyright 20") and "Example Media" in line for line in lines), doc.id


def test_a_page_left_too_short_is_dropped_with_its_reason():
    body = "A short note that is unique to this page, number {}."
    docs = [Document(id=f"s/n@{i}", text="\n".join([BANNER, FOOTER, body.format(chr(97 + i))]), kind="text",
                     source="s") for i in range(4)]
    verdicts = reference([(d.id, d.source, d.text) for d in docs], ParagraphSpec(min_documents=3, min_chars=100))
    first = min((d.id for d in docs), key=document_ref)
    assert first not in verdicts and all(verdicts[d.id].drop for d in docs if d.id != first)


def test_the_beam_stage_agrees_with_the_reference():
    docs = planted(60, seed=3)
    short = [Document(id=f"s/z@{i}", text=f"{BANNER}\n{FOOTER}\nonly this {chr(97 + i)}", kind="text", source="s")
             for i in range(3)]
    docs += short
    spec = ParagraphSpec(min_documents=3, min_chars=100)
    expected = reference([(d.id, d.source, d.text) for d in docs], spec)
    dropped = sorted((i, ("s", "dedup/paragraphs")) for i, v in expected.items() if v.drop)
    edited = sorted((i, v.removed) for i, v in expected.items() if not v.drop)
    assert dropped and edited
    with BeamTestPipeline() as p:
        out = p | beam.Create(docs) | Deduplicate(exact=False, paragraphs=spec)
        assert_that(out.drop_list, equal_to(dropped), label="Drops")
        assert_that(out.edits, equal_to(edited), label="Edits")
        assert_that(out.rejects | beam.Map(lambda r: (r["reason"], r["measured"].endswith(" < 100"))),
                    equal_to([("dedup/paragraphs", True)] * len(dropped)), label="Rejects")
        removed = sum(len(v.removed) for v in expected.values() if not v.drop)
        assert_that(out.tallies | beam.Filter(lambda t: t[1] == "dedup/paragraphs_removed"),
                    equal_to([("s", "dedup/paragraphs_removed", removed)]), label="Tallies")


def test_a_build_removes_boilerplate_the_same_with_one_worker_or_two(tmp_path):
    """The sample with dedup.paragraphs: its funnel and tallies add up (verify), the edits
    reach the tokens, and one worker or two write the same bytes."""
    import json

    import yaml

    from manifests.verify import verify
    from pipeline.__main__ import build
    from tests.conftest import assert_same_files, in_repo
    recipe = yaml.safe_load((REPO / "recipes/sample.yaml").read_text())
    recipe["dedup"]["paragraphs"] = {"min_documents": 3, "min_chars": 200}
    path = tmp_path / "paragraphs.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with in_repo():
        build(["--recipe", str(path), "--output", str(tmp_path / "two"), "--no_progress"])
        build(["--recipe", str(path), "--output", str(tmp_path / "one"), "--no_progress", "--direct_num_workers=1"])
    assert verify(str(tmp_path / "two")) == []
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["dedup"]["paragraphs"]["enabled"]
    assert manifest["tallies"]["cc-sample"]["dedup/paragraphs_removed"] > 0
    assert_same_files(tmp_path / "two", tmp_path / "one")
