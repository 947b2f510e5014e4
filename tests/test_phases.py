"""The long-context phase (manifests/phases.py): a continuation stream drawn from the same
documents, each source at its pretraining share, long documents upsampled by a hashed
plan; repository-level code documents; the loader's phase state; verify's phase checks."""
from __future__ import annotations

import json
import shutil
import sysconfig
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from manifests.phases import (LONG, PHASE_BINS, SHORT, ClassPlan, copy_keys, draw_bin, fill, length_class,
                              longest_document_coverage, phase_copy_keys, plan_source)
from tests.conftest import in_repo


def test_fill_cuts_the_draws_where_the_tokens_come_nearest_the_target():
    hist = np.zeros(PHASE_BINS, np.int64)
    hist[[10, 20, 30, 40]] = [100, 100, 100, 100]      # four documents of 100 tokens
    assert fill(hist, 400, 1000, 4) == (ClassPlan(2, 21), 1000)   # 2 each, then 2 more below bin 21
    assert fill(hist, 400, 940, 4) == (ClassPlan(2, 20), 900)     # 140 over: one more (100) is nearest
    assert fill(hist, 400, 960, 4) == (ClassPlan(2, 21), 1000)    # 160 over: two more (200) is nearer
    assert fill(hist, 400, 10_000, 4) == (ClassPlan(4, 0), 1600), "never past max_copies"
    assert fill(hist, 0, 500, 4) == (ClassPlan(0, 0), 0) and fill(hist, 400, 0, 4) == (ClassPlan(0, 0), 0)


def test_a_source_without_enough_short_text_fills_its_budget_with_long_documents():
    long_hist, short_hist = np.zeros(PHASE_BINS, np.int64), np.zeros(PHASE_BINS, np.int64)
    long_hist[[1, 2]] = 5000
    short_hist[[3]] = 100
    plan = plan_source(10_000, 0.5, 4, {LONG: (long_hist, 10_000), SHORT: (short_hist, 100)})
    assert plan[SHORT]["tokens"] == 400, "the short document at max_copies"
    assert plan[LONG]["tokens"] == 10_000 and plan[LONG]["target"] == 10_000 - 400   # nearest whole documents
    only_long = plan_source(10_000, 0.5, 4, {LONG: (long_hist, 10_000)})
    assert only_long[LONG]["tokens"] == 10_000 and only_long[SHORT]["tokens"] == 0


def test_copies_spread_over_the_phase_like_epochs():
    keys = copy_keys(3, "doc", "long", 4)
    assert all(e / 4 <= k < (e + 1) / 4 for e, k in enumerate(keys))
    record = {"name": "long", "long_min_tokens": 100,
              "plan": {"web": {LONG: {"whole": 2, "cut": PHASE_BINS}, SHORT: {"whole": 0, "cut": 0}}}}
    assert len(phase_copy_keys(record, 3, "doc", "web", 150)) == 3   # every draw is below the last bin
    assert phase_copy_keys(record, 3, "doc", "web", 99) == [] and phase_copy_keys(record, 3, "doc", "code", 150) == []
    assert length_class(100, 100) == LONG and length_class(99, 100) == SHORT
    assert 0 <= draw_bin(3, "doc", "long") < PHASE_BINS and draw_bin(3, "doc", "long") != draw_bin(3, "doc", "x")


def test_longest_document_coverage_counts_pieces_inside_each_sample():
    # samples of 10: [0,10) holds documents of 3 and 7 -> 0.7; one of 25 covers [10,20) and
    # [20,30) wholly and half of [30,40), where a 5 follows -> 0.5; the last 3 make no sample
    cover = longest_document_coverage(np.array([3, 7, 25, 5, 3]), 10)
    assert cover.tolist() == [0.7, 1.0, 1.0, 0.5]
    assert longest_document_coverage(np.array([4]), 10).tolist() == []


@pytest.fixture(scope="module")
def manifest(sample_corpus):
    return json.loads((sample_corpus / "manifest.json").read_text())


def lineage(root, shards, columns=("id", "source", "epoch", "tokens")):
    rows = []
    for s in shards:
        table = pq.read_table(root / s["lineage"]["path"], columns=list(columns))
        rows += zip(*(table.column(c).to_pylist() for c in columns))
    return rows


def test_the_sample_builds_a_long_phase_with_each_source_at_its_pretraining_share(sample_corpus, manifest):
    pretrain, long = manifest["phases"]
    assert (pretrain["name"], pretrain["seq_len"], long["name"], long["seq_len"]) == ("pretrain", 8192, "long", 32768)
    assert pretrain["tokens"] == manifest["stats"]["stream_tokens"]
    assert abs(long["tokens"] / long["target_tokens"] - 1) < 0.01
    assert [s["path"] for s in long["shards"]][0] == "long-00000.bin"
    for name, s in long["sources"].items():
        # the bar: each source's share within a percent of its pretraining share
        assert abs(s["share"] / s["pretrain_share"] - 1) < 0.01, (name, s["share"], s["pretrain_share"])
        assert s["share"] == pytest.approx(pretrain["sources"][name]["share"], abs=1e-6 + 0.01 * s["share"])


def test_long_documents_fill_their_share_of_a_source_that_has_them(sample_corpus, manifest):
    long = manifest["phases"][1]
    web = long["sources"]["refinedweb-sample"]
    assert web["long"]["documents"] >= 20 and abs(web["long"]["tokens"] / web["tokens"] - 0.5) < 0.02
    # upsampled: long documents are 36% of the source's unique tokens, half of its phase tokens
    unique_share = web["long"]["unique_tokens"] / (web["long"]["unique_tokens"] + web["short"]["unique_tokens"])
    assert unique_share < 0.4
    pretrain_lengths, long_lengths = manifest["phases"][0]["lengths"], long["lengths"]
    share = lambda lengths: sum(v for k, v in lengths.items() if k in ("8k-16k", "16k-32k", ">=32k")) \
        / sum(lengths.values())   # noqa: E731
    assert share(long_lengths) > 2 * share(pretrain_lengths)
    cc = long["sources"]["cc-sample"]
    assert cc["copies"].get("4") == 1 and cc["long"]["documents"] == 1, "one long page, at max_copies"


def test_each_long_phase_copy_follows_the_plan_and_no_validation_document_trains(sample_corpus, manifest):
    long = manifest["phases"][1]
    seed = manifest["resolved_recipe"]["seed"]
    rows = lineage(sample_corpus, long["shards"])
    copies = Counter(r[0] for r in rows)
    for doc_id, source, _, tokens in rows:
        assert copies[doc_id] == len(phase_copy_keys(long, seed, doc_id, source, tokens))
    held_out = {r[0] for r in lineage(sample_corpus, manifest["validation"]["shards"])}
    assert not held_out & set(copies)
    pretrain_ids = {r[0] for r in lineage(sample_corpus, manifest["shards"])}
    repo_ids = {i for i in copies if "/repo:" in i}
    assert repo_ids and not repo_ids & pretrain_ids, "repository documents train in the long phase only"
    assert set(copies) - repo_ids <= pretrain_ids


def test_repository_documents_hold_each_training_file_once_in_path_order(sample_corpus, manifest):
    pretrain = lineage(sample_corpus, manifest["shards"], ("id", "source", "epoch"))
    stack_files = {i for i, s, e in pretrain if s == "stack-sample"}
    long_rows = lineage(sample_corpus, manifest["phases"][1]["shards"], ("id", "source", "tokens"))
    repo_docs = {i: t for i, s, t in long_rows if s == "stack-sample"}
    assert all("/repo:" in i for i in repo_docs) and max(repo_docs.values()) <= 32768
    # every kept training file is in exactly one repository document: their counts agree
    dataset = pq.read_table([str(p) for p in (sample_corpus / "documents" / "train").glob("*.parquet")],
                            columns=["id", "source", "url"]).to_pylist()
    files = {r["id"] for r in dataset if r["source"] == "stack-sample"}
    assert files == stack_files
    assert manifest["phases"][1]["sources"]["stack-sample"]["long"]["documents"] + \
        manifest["phases"][1]["sources"]["stack-sample"]["short"]["documents"] == len(repo_docs)


def test_repository_documents_of_a_real_tree(tmp_path):
    """Two real package trees of the standard library in one code-tree source (`repo_depth:
    1`: a folder under the trees' common root is a repository): each repository's documents
    hold every kept file once, whole, in path order, each after a comment naming its path,
    and none is over the cap but a file alone; the files keep pretraining as they were."""
    from pipeline.__main__ import build
    from pipeline.rules.repos import RepoFile, repo_documents, section
    from tokenizer.encoding import tiktoken_encoding
    stdlib = sysconfig.get_paths()["stdlib"]
    recipe = {"name": "trees", "seed": 5,
              "sources": [{"name": "trees", "type": "code-tree", "kind": "code", "repo_depth": 1,
                           "paths": [f"{stdlib}/json/**", f"{stdlib}/email/**"], "exclude": ["__pycache__/"],
                           "repo_documents": {"max_tokens": 8192, "phases": ["long"]}}],
              "dedup": {"exact": True}, "tokenizer": {"train": {"vocab_size": 2048, "sample_docs": 200}},
              "phases": [{"name": "pretrain", "seq_len": 2048},
                         {"name": "long", "seq_len": 8192, "tokens": 200000, "long_min_tokens": 4096}],
              "output": {"shard_tokens": 500000, "documents": True}}
    path = tmp_path / "trees.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    build(["--recipe", str(path), "--output", str(out)])
    manifest = json.loads((out / "manifest.json").read_text())
    kept = pq.read_table([str(p) for p in (out / "documents" / "train").glob("*.parquet")],
                         columns=["id", "url", "text", "meta"]).to_pylist()
    by_repo = {}
    for row in kept:
        meta = json.loads(row["meta"])
        by_repo.setdefault(meta["repo"], []).append(RepoFile(row["url"], row["text"], meta["lang"], row["id"]))
    assert set(by_repo) == {"email", "json"} and len(kept) > 25
    assert len({r["id"] for r in kept}) == len(kept), "two trees' __init__.py are two ids"
    ids = {r[0] for r in lineage(out, manifest["phases"][1]["shards"], ("id",))}
    encoding = tiktoken_encoding((out / "tokenizer.json").read_text())
    count = lambda text: len(encoding.encode_ordinary(text))   # noqa: E731
    for repo, files in by_repo.items():
        docs = repo_documents("trees", "code", repo, files, 8192, count)
        assert len(docs) > 1 and {d.id for d in docs} >= {i for i in ids if f"/repo:{repo}#" in i}
        assert [p for d in docs for p in d.meta["paths"]] == sorted(f.path for f in files), \
            "every file once, in path order"
        for d in docs:
            assert count(d.text) + 1 <= 8192 or len(d.meta["paths"]) == 1
            assert d.text.startswith(f"# {d.meta['paths'][0]}\n")
            assert "".join(section(f) for f in sorted(files) if f.path in d.meta["paths"]) == d.text
    long = manifest["phases"][1]["sources"]["trees"]
    assert long["repository"] and long["tokens"] > 0.95 * 200000


def test_the_loader_reads_a_phase_and_refuses_another_phases_state(sample_corpus, manifest):
    from loader.batches import CorpusLoader
    from loader.schedule import BatchSchedule
    long = CorpusLoader(str(sample_corpus), 32768, 1, BatchSchedule(2), phase="long")
    first = next(iter(long))
    assert first["tokens"].shape == (1, 32769) and long.stream.total_tokens == manifest["phases"][1]["tokens"]
    state = long.state_dict(first["batch_end"])
    assert state["phase"] == "long"
    resumed = CorpusLoader(str(sample_corpus), 32768, 1, BatchSchedule(2), phase="long", state=state)
    assert next(iter(resumed))["sample_index"].tolist() == [2]
    pretrain = CorpusLoader(str(sample_corpus), 8192, 1, BatchSchedule(2), phase="pretrain")
    with pytest.raises(ValueError, match="phase 'long'"):
        CorpusLoader(str(sample_corpus), 32768, 1, BatchSchedule(2), state=state)
    with pytest.raises(ValueError, match="phase 'pretrain'"):
        CorpusLoader(str(sample_corpus), 32768, 1, BatchSchedule(2), phase="long",
                     state=pretrain.state_dict(4))
    with pytest.raises(ValueError, match="no phase 'short'"):
        CorpusLoader(str(sample_corpus), 32768, 1, BatchSchedule(2), phase="short")
    # the pretraining phase is the "train" split, as before phases existed
    plain = CorpusLoader(str(sample_corpus), 8192, 1, BatchSchedule(2))
    assert plain.stream.fingerprint == pretrain.stream.fingerprint and plain.stream.phase == "pretrain"


def test_verify_checks_the_long_phase_against_its_plan(sample_corpus, tmp_path):
    from manifests.verify import verify
    copy = tmp_path / "corpus"
    shutil.copytree(sample_corpus, copy)
    assert verify(str(copy)) == []
    manifest = json.loads((copy / "manifest.json").read_text())
    plan = manifest["phases"][1]["plan"]["refinedweb-sample"]["short"]
    plan["cut"] = plan["cut"] // 2    # a plan the shards were not drawn by
    (copy / "manifest.json").write_text(json.dumps(manifest))
    problems = verify(str(copy))
    assert any("phase long" in p and "not their plan's" in p for p in problems), problems


def test_inspect_prints_the_phases_and_how_often_a_sample_is_mostly_one_document(sample_corpus, manifest):
    from manifests.inspect import summary
    text = summary(manifest, root=str(sample_corpus))
    line = next(line for line in text.splitlines() if "whose longest document covers half" in line)
    shares = [float(part.split()[1].rstrip("%")) for part in line.split(": ", 1)[1].split("; ")]
    assert shares[1] > 3 * max(shares[0], 1.0), line   # the goal: several times higher in the long phase


@pytest.mark.parametrize("phases, message", [
    ([{"name": "pretrain", "seq_len": 8192, "tokens": 5}], "the first phase is the pretraining stream"),
    ([{"name": "pretrain", "seq_len": 8192}, {"name": "long", "seq_len": 32768}], "missing 'tokens'"),
    ([{"name": "pretrain", "seq_len": 8192}, {"name": "pretrain", "seq_len": 32768, "tokens": 9}], "unique"),
    ([{"name": "pretrain", "seq_len": 8192}, {"name": "validation", "seq_len": 32768, "tokens": 9}],
     "name other files"),
])
def test_bad_phases_fail_before_any_work(phases, message):
    from pipeline.recipe import RecipeError, parse_recipe
    with in_repo():
        raw = yaml.safe_load(open("recipes/sample.yaml"))
    raw["phases"] = phases
    with pytest.raises(RecipeError, match=message):
        parse_recipe(raw)
    raw.pop("phases")
    with pytest.raises(RecipeError, match="repo_documents needs phases"):
        parse_recipe(raw)


def test_scientific_notation_reads_as_a_token_count():
    from pipeline.recipe import parse_recipe
    with in_repo():
        raw = yaml.safe_load(open("recipes/sample.yaml"))
    raw["phases"][1]["tokens"] = yaml.safe_load("tokens: 2.0e9")["tokens"]   # YAML reads it as a string
    assert parse_recipe(raw).phases[1].tokens == 2_000_000_000
