"""Each stage's PTransform on small inputs, with TestPipeline and assert_that."""
import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to, is_not_empty

from manifests.shard_format import IndexedShard
from pipeline.recipe import SourceSpec, TokenizerSpec
from pipeline.rules.epochs import StreamLayout
from pipeline.transforms.dedup import Deduplicate
from pipeline.transforms.documents import ExtractText, FilterQuality, Normalize
from pipeline.transforms.accounting import CountFunnel
from pipeline.transforms.materialize import ReadCleanParts, WriteCleanParts
from pipeline.transforms.read import ReadSources
from pipeline.transforms.shards import ExpandEpochs, WriteShards
from pipeline.transforms.tokenize import TokenizedDoc, Tokenize, TokenizerInfo, TrainTokenizer
from sources.document import Document
from tests.conftest import SAMPLES
from tests.test_rules import PROSE


def doc(i, text, kind="text", source="s", **meta):
    return Document(id=f"{source}/f@{i}", text=text, kind=kind, source=source, meta=meta)


def test_read_sources_accounts_for_every_record():
    sources = (SourceSpec("cc", "warc", (str(SAMPLES / "cc" / "*.warc.gz"),), "text", 2.0),
               SourceSpec("code", "parquet", (str(SAMPLES / "code" / "part-00000.parquet"),), "code", 4.0,
                          {"text": "content", "path": "max_stars_repo_path"}))
    with BeamTestPipeline() as p:
        out = p | ReadSources(sources)
        assert_that(out.documents | beam.Map(lambda d: d.source) | beam.combiners.Count.PerElement(),
                    equal_to([("cc", 160), ("code", 214)]), label="CountDocs")
        assert_that(out.dropped, equal_to([("cc", "read/http_status"), ("cc", "read/non_html")]), label="Drops")
        assert_that(out.read_counts | beam.CombinePerKey(sum), equal_to([("cc", 162), ("code", 214)]),
                    label="Reads")
        assert_that(out.dead_letters, equal_to([]), label="Dead")


def test_document_stages_keep_and_drop_with_reasons():
    html = f"<html><body><article><p>{PROSE}</p></article></body></html>"
    docs = [doc(0, html, format="html"), doc(1, "<html><body> </body></html>", format="html"),
            doc(2, PROSE + "\r\n\r\n\r\n\r\nend."), doc(3, "tiny text"), doc(4, "x = 1\n" * 20, "code"),
            doc(5, "y" * 2000, "code")]
    filters = {"text": ({"name": "min_chars", "minimum": 200}, {"name": "gopher_quality"}),
               "code": ({"name": "max_line_length", "maximum": 1000},)}
    with BeamTestPipeline() as p:
        extracted = p | beam.Create(docs) | ExtractText("resiliparse")
        normalized = extracted.kept | Normalize()
        filtered = normalized.kept | FilterQuality(filters)
        assert_that(extracted.dropped, equal_to([("s", "extract/empty")]), label="ExtractDrops")
        assert_that(filtered.dropped, equal_to([("s", "filter/too_short"), ("s", "filter/max_line_length")]),
                    label="FilterDrops")
        assert_that(filtered.kept | beam.Map(lambda d: d.id), equal_to(["s/f@0", "s/f@2", "s/f@4"]), label="Kept")
        assert_that(filtered.kept | beam.Filter(lambda d: d.id == "s/f@2") | beam.Map(lambda d: d.text.endswith("\n\nend.")),
                    equal_to([True]), label="Normalized")


def test_deduplicate_keeps_one_per_group_by_kind():
    docs = [doc(1, "same text"), doc(2, "same text", source="t"), doc(3, "same text!"),
            doc(4, "same text", "code"), doc(5, "longer same"), doc(6, "longer same")]
    with BeamTestPipeline() as p:
        out = p | beam.Create(docs) | Deduplicate(exact=True)
        assert_that(out.drop_list, equal_to([("t/f@2", ("t", "dedup/exact")), ("s/f@6", ("s", "dedup/exact"))]),
                    label="Drops")
        assert_that(out.groups, equal_to([("s/f@1", "exact", 2), ("s/f@5", "exact", 2)]), label="Groups")


def test_clean_parts_round_trip_minus_drop_list(tmp_path):
    docs = [doc(i, f"text number {i}", meta={"n": i, "nested": {"a": [1, 2]}}) for i in range(50)]
    with BeamTestPipeline() as p:
        drops = p | "Drops" >> beam.Create([("s/f@3", ("s", "dedup/exact")), ("s/f@7", ("s", "dedup/exact"))])
        parts = p | "Docs" >> beam.Create(docs) | WriteCleanParts(str(tmp_path))
        back = parts | ReadCleanParts(drops)
        assert_that(back, equal_to([d for d in docs if d.id not in ("s/f@3", "s/f@7")]))


def test_drops_are_subtracted_part_by_part(tmp_path):
    """Three parts, drops in two of them; a part without drops is read whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.transforms.materialize import CLEAN_SCHEMA, to_row
    docs = [doc(i, f"text number {i}") for i in range(30)]
    paths = []
    for k in range(3):
        paths.append(str(tmp_path / f"part-{k}.parquet"))
        pq.write_table(pa.Table.from_pylist([to_row(d) for d in docs[k::3]], CLEAN_SCHEMA), paths[-1])
    dropped = {"s/f@0", "s/f@3", "s/f@4", "s/f@28"}
    with BeamTestPipeline() as p:
        drops = p | "Drops" >> beam.Create([(i, ("s", "dedup/near")) for i in sorted(dropped)])
        back = p | "Parts" >> beam.Create(paths) | ReadCleanParts(drops)
        assert_that(back, equal_to([d for d in docs if d.id not in dropped]))


def test_train_tokenizer_and_tokenize_append_eos(tmp_path):
    texts = [PROSE, "def add(a, b):\n    return a + b\n" * 5, "Ünïcödé and emoji 😀 " * 10]
    docs = [doc(i, t) for i, t in enumerate(texts)]

    def check(tokenized):
        from tokenizers import Tokenizer
        hf = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
        eos = hf.token_to_id("<|endoftext|>")
        assert sorted(hf.decode(list(t.tokens[:-1])) for t in tokenized) == sorted(texts)
        assert all(t.tokens[-1] == eos and t.tokens.dtype == np.uint16 for t in tokenized)

    with BeamTestPipeline() as p:
        docs_pc = p | beam.Create(docs)
        tok = docs_pc | TrainTokenizer(TokenizerSpec(vocab_size=400, sample_docs=2, min_frequency=1),
                                        StreamLayout(1, {}), str(tmp_path))
        # Three short texts run out of pairs to merge before 400: the vocabulary stops
        # early, and the special tokens still follow it directly.
        assert_that(tok | beam.Map(lambda i: (256 < i.vocab_size <= 400, i.dtype, i.vocab_size - i.eos_id)),
                    equal_to([(True, "uint16", 5)]), label="Info")
        tokens = (docs_pc | Tokenize(tok)).docs
        assert_that(tokens | beam.combiners.ToList(), lambda lists: check(lists[0]), label="Tokens")
    trained = json.loads((tmp_path / "tokenizer.json").read_text())
    assert len(trained["model"]["vocab"]) + 5 == max(t["id"] for t in trained["added_tokens"]) + 1


LAYOUT = StreamLayout(5, {"t": 2.0, "c": 4.0}, {"t": 0.2})


def write_test_shards(out) -> None:
    tokens = [TokenizedDoc(f"t/{i}", "t", "text", np.array([i, i + 1, 9], np.uint16), f"https://t/{i}", "en", 10 + i)
              for i in range(30)] + \
             [TokenizedDoc(f"c/{i}", "c", "code", np.array([100 + i, 9], np.uint16), f"c/{i}.py", "python",
                           200 + i) for i in range(10)]
    held_out = [t.id for t in tokens if LAYOUT.split(t.id, t.source) == "validation"]
    assert len(held_out) == 4 and all(i.startswith("t/") for i in held_out)
    info = TokenizerInfo(json="{}", sha256="", vocab_size=300, eos_id=9, special_ids={}, dtype="uint16")
    with BeamTestPipeline() as p:
        keyed = p | "Docs" >> beam.Create(tokens) | ExpandEpochs(LAYOUT, shard_tokens=50)
        # 26 docs x 3 tokens x 2 epochs + 10 docs x 2 tokens x 4 epochs = 236 tokens -> 5 shards of 47.2 (4 would be
        # 18% over the target of 50); 4 validation docs x 3 tokens, once -> 1 shard
        assert_that(keyed | beam.Map(lambda kv: kv[0]) | beam.Distinct(),
                    equal_to([("train", i) for i in range(5)] + [("validation", 0)]), label="Shards")
        assert_that(keyed | beam.Map(lambda kv: (kv[0][0], kv[1].source)) | beam.combiners.Count.PerElement(),
                    equal_to([(("train", "t"), 52), (("train", "c"), 40), (("validation", "t"), 4)]), label="Copies")
        records = keyed | WriteShards(str(out), p | "Info" >> beam.Create([info]))
        assert_that(records | beam.MapTuple(lambda split, r: (split, r["tokens"])) | beam.CombinePerKey(sum),
                    equal_to([("train", 236), ("validation", 12)]), label="Tokens")


def shard_files(prefixes) -> list[str]:
    return sorted(f"{p}{ext}" for p in prefixes for ext in (".bin", ".bin.index", ".idx", ".docs.parquet"))


def test_expand_epochs_and_write_shards(tmp_path):
    write_test_shards(tmp_path)
    files = sorted(f.name for f in tmp_path.iterdir() if f.name != "_work")
    assert files == shard_files([f"shard-{i:05d}" for i in range(5)] + ["validation-00000"])
    # fragments stay until the build removes the work folder: a retried merge needs them
    assert [f for f in (tmp_path / "_work").rglob("*.tokens")], "merging deleted its own inputs"
    copies = {}
    for i in range(5):
        shard = IndexedShard(tmp_path / f"shard-{i:05d}")
        for j in range(len(shard)):
            key = tuple(shard[j])
            copies[key] = copies.get(key, 0) + 1
    assert sorted(copies.values()) == [2] * 26 + [4] * 10
    validation = IndexedShard(tmp_path / "validation-00000")
    held_out = [tuple(validation[j]) for j in range(len(validation))]
    assert len(held_out) == 4 and not set(held_out) & set(copies), "validation documents are never in training"


def test_lineage_maps_every_token_to_its_document(tmp_path):
    from manifests.lineage import locate_row, read_lineage
    write_test_shards(tmp_path)
    for prefix in [f"shard-{i:05d}" for i in range(5)] + ["validation-00000"]:
        shard, table = IndexedShard(tmp_path / prefix), read_lineage(str(tmp_path / f"{prefix}.docs.parquet"))
        rows = table.to_pylist()
        assert [r["position"] for r in rows] == list(range(len(shard)))
        offset = 0
        for row in rows:
            tokens = shard[row["position"]]
            assert row["tokens"] == len(tokens) and row["token_offset"] == offset
            # the test documents' first token names them: i for t/i, 100 + i for c/i
            assert row["id"] == (f"t/{tokens[0]}" if tokens[0] < 100 else f"c/{tokens[0] - 100}")
            assert row["url"] == (f"https://t/{tokens[0]}" if row["source"] == "t" else f"{row['id']}.py")
            assert row["epoch"] < (2 if row["source"] == "t" else 4)
            assert row["bytes"] == (10 + tokens[0] if row["source"] == "t" else 100 + tokens[0])
            assert locate_row(table, offset) == locate_row(table, offset + len(tokens) - 1) == row["position"]
            offset += len(tokens)
        with pytest.raises(IndexError):
            locate_row(table, offset)


def test_shards_merged_from_many_fragments_are_identical(tmp_path, monkeypatch):
    """Flushing every few tokens gives each shard many fragments; the merge restores
    stream order, so the files are byte-identical to those from one fragment per shard."""
    from pipeline.transforms import shards
    from pipeline.transforms.shards import write_fragment
    write_test_shards(tmp_path / "one")
    monkeypatch.setattr(shards, "FRAGMENT_BYTES", 12)
    written = []
    monkeypatch.setattr(shards, "write_fragment", lambda *a: written.append(a[1]) or write_fragment(*a))
    write_test_shards(tmp_path / "many")
    assert len(written) > 30 and set(written) == {("train", i) for i in range(5)} | {("validation", 0)}
    names = sorted(f.name for f in (tmp_path / "one").iterdir() if f.name != "_work")
    assert len(names) == 24
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes(), name


def test_count_funnel_counts_reasons_per_source():
    with BeamTestPipeline() as p:
        a = p | "A" >> beam.Create([("s", "filter/x"), ("s", "filter/x"), ("t", "read/y")])
        b = p | "B" >> beam.Create([("s", "dedup/exact")])
        assert_that((a, b) | CountFunnel(), equal_to([("s", "filter/x", 2), ("t", "read/y", 1), ("s", "dedup/exact", 1)]))


def test_strict_mode_fails_on_unparseable_input(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    sources = (SourceSpec("bad", "parquet", (str(bad),), "text", 2.0),)
    with pytest.raises(Exception, match="read/corrupt_parquet"):
        with BeamTestPipeline() as p:
            p | ReadSources(sources, strict=True)
    with BeamTestPipeline() as p:
        out = p | "Lenient" >> ReadSources(sources, strict=False)
        assert_that(out.dead_letters | beam.Map(lambda r: r["reason"]), equal_to(["read/corrupt_parquet"]))
        assert_that(out.read_counts, is_not_empty(), label="Counted")
