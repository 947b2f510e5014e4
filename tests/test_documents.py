"""The documents dataset (output.documents, on in the sample recipe): every kept
document once, beside the shards, with its metadata, loadable by HF datasets and
datatrove as it is, and checked by verify against the lineage maps."""
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from manifests.documents import DOCUMENTS_SCHEMA
from manifests.splits import TRAIN, VALIDATION
from manifests.verify import verify
from pipeline.recipe import load_recipe
from tests.conftest import REPO, SAMPLE_RECIPE, build_sample, in_repo


@pytest.fixture(scope="module")
def manifest(sample_corpus):
    return json.loads((sample_corpus / "manifest.json").read_text())


def dataset_files(sample_corpus, split):
    return sorted((sample_corpus / "documents" / split).glob("part-*.parquet"))


def test_every_kept_document_is_in_the_dataset_once_with_its_text(sample_corpus, sample_documents):
    layout = load_recipe(str(REPO / SAMPLE_RECIPE)).layout
    for split in (TRAIN, VALIDATION):
        rows = [r for f in dataset_files(sample_corpus, split) for r in pq.read_table(f).to_pylist()]
        expected = {d.id: d for d in sample_documents if layout.split(d.id, d.source) == split}
        assert [r["id"] for r in rows] and len(rows) == len({r["id"] for r in rows}) == len(expected)
        for row in rows:
            doc = expected[row["id"]]
            assert (row["text"], row["source"], row["kind"], row["url"]) == (doc.text, doc.source, doc.kind, doc.url)
            assert row["copies"] == ({"text": 2, "code": 4}[doc.kind] if split == TRAIN else 1)
            assert row["language"] == doc.meta.get("language", "")


def test_rows_carry_what_the_readers_and_rules_knew(sample_corpus):
    rows = [r for f in dataset_files(sample_corpus, TRAIN) for r in pq.read_table(f).to_pylist()]
    web = [r for r in rows if r["source"] == "cc-sample"]
    assert web and all(r["warc_record_id"].startswith("<urn:uuid:") and r["warc_date"] for r in web)
    assert all(r["dump"] == "CC-SAMPLE" for r in web), "the sample WARCs' warcinfo isPartOf"
    assert all(r["language"] == "en" and 0.5 <= r["language_score"] <= 1 for r in web)
    assert all(r["tokens"] > 1 for r in rows)
    assert all(isinstance(json.loads(r["meta"]), dict) for r in rows)


def test_each_file_is_its_shards_first_copies_in_stream_order(sample_corpus, manifest):
    listed = [f for s in manifest["shards"] + manifest["validation"]["shards"] for f in s.get("dataset", [])]
    assert {d["path"] for d in listed} == {f.relative_to(sample_corpus).as_posix()
                                          for split in (TRAIN, VALIDATION) for f in dataset_files(sample_corpus, split)}
    for shard in manifest["shards"]:
        lineage = pq.read_table(sample_corpus / shard["lineage"]["path"]).to_pylist()
        first = [r["id"] for r in lineage if r["epoch"] == 0]
        if "dataset" in shard:
            assert [i for f in shard["dataset"]
                    for i in pq.read_table(sample_corpus / f["path"], columns=["id"])["id"].to_pylist()] == first
        else:
            assert first == []


def test_it_loads_as_is_with_hf_datasets_and_datatrove(sample_corpus):
    import datasets
    from datatrove.pipeline.readers import ParquetReader
    files = [str(f) for f in dataset_files(sample_corpus, TRAIN)]
    ds = datasets.load_dataset("parquet", data_files=files, split="train")
    assert ds.num_rows == sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    assert set(DOCUMENTS_SCHEMA.names) <= set(ds.column_names)
    reader = ParquetReader(str(sample_corpus / "documents" / TRAIN), glob_pattern="*.parquet", id_key="id")
    docs = list(reader())
    assert [d.id for d in docs] == ds["id"] and docs[0].text == ds[0]["text"]
    assert docs[0].metadata["source"] == ds[0]["source"]


def test_verify_catches_a_dataset_that_lost_a_row(sample_corpus, manifest, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(sample_corpus, broken)
    shard = next(s for s in manifest["shards"] if "dataset" in s)
    path = broken / shard["dataset"][0]["path"]
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path, compression="zstd")
    problems = verify(str(broken))
    assert any(shard["dataset"][0]["path"] in p for p in problems)


def corpus_files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_build_from_its_documents_writes_the_same_shards(sample_corpus, tmp_path):
    """`--from_documents`: no reading, rules or dedup; the same recipe gives every shard,
    lineage map, tokenizer file and dataset file byte for byte; only the manifest (its
    funnel: read = kept), the rejects (none: nothing is dropped) and the dedup index (no
    dedup runs: the earlier build's index holds these documents) differ."""
    again = build_sample(tmp_path / "again", "--from_documents", str(sample_corpus))
    before, after = corpus_files(sample_corpus), corpus_files(again)
    kept = {n for n in before if n != "manifest.json" and not n.startswith(("rejects/", "dedup-index/"))}
    assert kept == set(after) - {"manifest.json"}
    assert all(before[n] == after[n] for n in kept)
    manifest = json.loads(after["manifest.json"])
    assert manifest["options"]["from_documents"] == str(sample_corpus)
    assert all(f["read"] == f["kept"] and not f["dropped"] for f in manifest["funnel"].values())
    assert verify(str(again)) == []


def test_a_new_tokenizer_from_the_documents_keeps_the_documents_and_their_order(sample_corpus, tmp_path):
    import yaml
    recipe = yaml.safe_load((REPO / SAMPLE_RECIPE).read_text())
    recipe["tokenizer"] = {"train": {"vocab_size": 4096, "sample_docs": 300}}
    recipe["output"]["documents"] = {"file_mb": 0.25}     # and its dataset in files of 256 kB of text
    path = tmp_path / "new-tokenizer.yaml"
    path.write_text(yaml.safe_dump(recipe))
    from pipeline.__main__ import build
    with in_repo():
        build(["--recipe", str(path), "--output", str(tmp_path / "out"), "--from_documents", str(sample_corpus),
               "--no_progress"])
    out = tmp_path / "out"
    assert (out / "tokenizer.json").read_bytes() != (sample_corpus / "tokenizer.json").read_bytes()
    for split in (TRAIN, VALIDATION):
        ids = [i for f in dataset_files(sample_corpus, split) for i in pq.read_table(f, columns=["id"])["id"].to_pylist()]
        new = [i for f in dataset_files(out, split) for i in pq.read_table(f, columns=["id"])["id"].to_pylist()]
        assert new == ids
    manifest = json.loads((out / "manifest.json").read_text())
    cut = [s["dataset"] for s in manifest["shards"] if len(s.get("dataset", [])) > 1]
    assert cut and all(f["rows"] for files in cut for f in files)
    assert len(dataset_files(out, TRAIN)) > len(dataset_files(sample_corpus, TRAIN))
    assert verify(str(out)) == []


def test_from_documents_of_a_build_without_a_dataset_fails_before_any_work(tmp_path, sample_corpus):
    from pipeline.__main__ import main
    bare = tmp_path / "bare"
    bare.mkdir()
    manifest = json.loads((sample_corpus / "manifest.json").read_text())
    for shard in manifest["shards"] + manifest["validation"]["shards"]:
        shard.pop("dataset", None)
    (bare / "manifest.json").write_text(json.dumps(manifest))
    with in_repo():
        code = main(["build", "--recipe", SAMPLE_RECIPE, "--output", str(tmp_path / "out"),
                     "--from_documents", str(bare)])
    assert code == 2 and not (tmp_path / "out" / "manifest.json").exists()


def test_rejects_prints_a_fixed_sample_per_reason(sample_corpus, capsys):
    from manifests.__main__ import main
    assert main(["rejects", str(sample_corpus), "--reason", "filter/gopher_short_doc", "--sample", "3"]) == 0
    first = capsys.readouterr().out
    header, *rows = first.splitlines()
    assert header.startswith("filter/gopher_short_doc: ") and header.endswith(", 3 shown") and len(rows) == 3
    main(["rejects", str(sample_corpus), "--reason", "filter/gopher_short_doc", "--sample", "3"])
    assert capsys.readouterr().out == first


def test_a_document_level_diff_names_each_change_and_why(sample_corpus, tmp_path, capsys):
    from manifests.__main__ import main
    from manifests.audit import reject_records
    b = tmp_path / "b"
    shutil.copytree(sample_corpus, b)
    manifest = json.loads((sample_corpus / "manifest.json").read_text())
    path = b / next(s for s in manifest["shards"] if "dataset" in s)["dataset"][0]["path"]
    table = pq.read_table(path)
    gone = table.column("id")[0].as_py()
    rejected = reject_records(str(sample_corpus))[0]
    extra = {**table.slice(0, 1).to_pylist()[0], "id": rejected["id"], "source": rejected["source"]}
    pq.write_table(pa.concat_tables([table.slice(1), pa.Table.from_pylist([extra], schema=table.schema)]), path)
    assert main(["diff", str(sample_corpus), str(b), "--documents"]) == 1
    out = capsys.readouterr().out
    assert f"+ {rejected['id']}  [{rejected['source']}]  {rejected['reason']}" in out
    assert f"- {gone}  [" in out and "not kept, not among its rejects" in out
    assert main(["diff", str(sample_corpus), str(sample_corpus), "--documents"]) == 0


def test_reject_records_say_what_the_rule_measured_against_its_threshold(sample_corpus):
    """The rejects you tune thresholds by: `gopher_short_doc` 36 < 50, `language_uncertain`
    0.27 < 0.5, read from the rule's own figures (rules.verdict.Failed)."""
    from manifests.audit import reject_records
    records = reject_records(str(sample_corpus))
    short = [r for r in records if r["reason"] == "filter/gopher_short_doc"]
    unsure = [r for r in records if r["reason"] == "filter/language_uncertain"]
    assert short and unsure
    for r in short:
        words, op, minimum = r["measured"].split()
        assert op == "<" and minimum == "50" and int(words) < 50
    for r in unsure:
        score, op, threshold = r["measured"].split()
        assert op == "<" and threshold == "0.5" and float(score) < 0.5


def test_a_page_title_from_the_wat_companion_is_a_column():
    from manifests.documents import document_row, row_meta
    meta = {"wat": {"ip": "1.2.3.4", "title": "Escopete", "metas": {"description": "x"}}, "dump": "CC-MAIN-2024-22"}
    row = document_row("s/f@0", "text", "s", "text", "https://a.example/", meta, 3, 2)
    assert row["title"] == "Escopete" and row["dump"] == "CC-MAIN-2024-22"
    assert json.loads(row["meta"])["wat"]["metas"] == {"description": "x"}
    again = document_row("s/f@0", "text", "s", "text", "https://a.example/", row_meta(row), 3, 2)
    assert again == row, "a rebuild from the dataset writes the same row"


def dataset_rows(corpus):
    return [r for split in (TRAIN, VALIDATION) for f in dataset_files(corpus, split) for r in pq.read_table(f).to_pylist()]


def test_kept_documents_carry_the_signals_their_rules_computed(sample_corpus):
    """Numeric columns to tune thresholds by: the sample's Gopher rules for text and the
    StarCoder rules for code each leave their figures, inside the thresholds that kept them."""
    rows = dataset_rows(sample_corpus)
    text = [r for r in rows if r["kind"] == "text"]
    code = [r for r in rows if r["kind"] == "code"]
    assert text and code
    assert all(r["gopher_words"] >= 50 and r["gopher_alpha_words_ratio"] >= 0.5 for r in text)
    assert all(r["gopher_dup_line_frac"] <= 0.3 and r["gopher_dup_5_gram_frac_max"] <= 0.30 for r in text)
    assert all(r["code_max_line_length"] <= 1000 and r["code_mean_line_length"] <= 100 for r in code)
    assert all(r["code_alnum_fraction"] >= 0.25 for r in code)
    assert all(r["gopher_words"] is None for r in code) and all(r["code_alnum_fraction"] is None for r in text)
    assert not any("signals" in json.loads(r["meta"]) for r in rows), "every sample rule's signal has a column"


def test_each_document_names_its_dedup_groups_and_the_groups_add_up(sample_corpus, manifest):
    """A kept document is its group's survivor: `<method>_group` is its own id, and the
    sizes, less one each, add up to what the manifest says each method removed, with the
    copies of a survivor that another method then removed (their rejects say `via` it)."""
    from manifests.audit import reject_records
    rows = dataset_rows(sample_corpus)
    records = reject_records(str(sample_corpus))
    for method in ("exact", "url", "near"):
        assert all(r[f"{method}_group"] == r["id"] and r[f"{method}_group_size"] >= 1 for r in rows)
        orphans = sum(1 for r in records if r["reason"] == f"dedup/{method}" and "via" in r)
        removed = sum(r[f"{method}_group_size"] - 1 for r in rows)
        assert removed + orphans == manifest["dedup"][method]["removed"], method
    assert any(r["near_group_size"] > 1 for r in rows) and any(r["exact_group_size"] > 1 for r in rows)


def test_dedup_rejects_name_the_copy_kept_instead(sample_corpus):
    from manifests.audit import reject_records
    kept = {r["id"] for r in dataset_rows(sample_corpus)}
    records = [r for r in reject_records(str(sample_corpus)) if r["reason"].startswith("dedup/")]
    near = [r for r in records if r["reason"] == "dedup/near"]
    exact = [r for r in records if r["reason"] == "dedup/exact"]
    assert near and exact and all(r["kept"] in kept for r in records)
    assert all(r["similarity"] == 1.0 for r in exact)
    assert all(0.7 <= r["similarity"] <= 1.0 for r in near), "verified at the recipe's min_similarity"


def test_rejects_cli_shows_the_kept_copy_for_a_dedup_drop(sample_corpus, capsys):
    from manifests.__main__ import main
    assert main(["rejects", str(sample_corpus), "--reason", "dedup/near", "--sample", "2"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.startswith("dedup/near: ") and len(rows) == 2
    assert all(" kept instead: " in row and ", similarity 0." in row or ", similarity 1.0" in row for row in rows)
