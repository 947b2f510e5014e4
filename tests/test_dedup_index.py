"""Dedup across builds: a build writes a dedup index of what it kept, and a later build
given that index (`dedup.against`) keeps exactly what one build of both inputs would
have kept and the first build does not hold; the same whatever the worker count. An
index made with other MinHash settings is refused before any work."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import REPO, assert_same_files, in_repo

CC = "sources/samples/cc/CC-SAMPLE-0000{}.warc.gz"
RW = "sources/samples/refinedweb/part-0000{}.parquet"


def recipe_file(tmp_path, name: str, cc: list[int], rw: list[int], **dedup) -> str:
    """The sample recipe's text sources and rules over the chosen files of each."""
    recipe = yaml.safe_load((REPO / "recipes/sample.yaml").read_text())
    recipe["name"] = name
    recipe["sources"] = [{**s, "paths": [pattern.format(i) for i in files]} for s, pattern, files in
                         zip(recipe["sources"][:2], (CC, RW), (cc, rw))]
    recipe["dedup"].update(dedup)
    recipe["output"]["documents"] = True
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def build(recipe: str, out, *extra: str):
    from pipeline.__main__ import build as run
    with in_repo():
        run(["--recipe", recipe, "--output", str(out), "--no_progress", *extra])
    return out


def kept_ids(out) -> set[str]:
    return {i for f in sorted(out.glob("documents/*/*.parquet"))
            for i in pq.read_table(f, columns=["id"])["id"].to_pylist()}


def reasons(out) -> dict[str, int]:
    manifest = json.loads((out / "manifest.json").read_text())
    counts = {}
    for source in manifest["funnel"].values():
        for reason, n in source["dropped"].items():
            if reason.endswith("_prior"):
                counts[reason] = counts.get(reason, 0) + n
    return counts


def test_a_build_against_an_earlier_index_keeps_what_one_build_of_both_would_add(tmp_path):
    """A: one WARC and one parquet file. B: the other two, plus A's parquet file again (the
    overlap), against A's index. B keeps exactly the documents a single build of all
    three files keeps and A does not hold; the overlap goes as exact_prior."""
    from manifests.verify import verify
    a = build(recipe_file(tmp_path, "a", [0], [0]), tmp_path / "a")
    both = build(recipe_file(tmp_path, "both", [0, 1], [0, 1]), tmp_path / "both")
    b_recipe = recipe_file(tmp_path, "b", [1], [0, 1], against=[str(tmp_path / "a")])
    b = build(b_recipe, tmp_path / "b")
    assert kept_ids(b) == kept_ids(both) - kept_ids(a)
    dropped = reasons(b)
    assert dropped.get("dedup/near_prior", 0) > 0, "near matches across the builds are verified and dropped too"
    manifest = json.loads((b / "manifest.json").read_text())
    assert manifest["dedup"]["removed_as_prior"] == {m: dropped.get(f"dedup/{m}", 0)
                                                     for m in ("exact_prior", "url_prior", "near_prior")}
    index = json.loads((a / "dedup-index" / "index.json").read_text())
    assert manifest["dedup"]["against"][0]["documents"] == index["documents"] == len(kept_ids(a))
    assert verify(str(b)) == []
    rejects = [json.loads(line) for f in sorted((b / "rejects").glob("*.jsonl")) for line in f.read_text().splitlines()]
    prior = [r for r in rejects if r["reason"].endswith("_prior")]
    assert len(prior) == sum(dropped.values()) and all(r["kept"] in kept_ids(a) for r in prior)
    overlap = {i for i in kept_ids(a) if i.startswith("refinedweb-sample/")}   # A's file, read again by B
    assert overlap and overlap <= {r["id"] for r in prior if r["reason"] == "dedup/exact_prior"}
    # the same B with one worker
    one = build(b_recipe, tmp_path / "b1", "--direct_num_workers=1")
    assert_same_files(b, one)


def test_an_index_with_other_minhash_settings_is_refused_before_any_work(tmp_path, capsys):
    from pipeline.__main__ import main
    a = tmp_path / "a" / "dedup-index"
    a.mkdir(parents=True)
    (a / "index.json").write_text(json.dumps({"format": 1, "scope": "all", "exact": True, "url": True,
                                              "minhash": {"ngram": 5, "bands": 20, "rows": 5, "seed": 1},
                                              "documents": 0, "bytes": 0, "files": []}))
    recipe = recipe_file(tmp_path, "b", [1], [1], against=[str(tmp_path / "a")])
    with in_repo():
        status = main(["build", "--recipe", recipe, "--output", str(tmp_path / "b"), "--no_progress"])
    assert status == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: dedup.against:") and "MinHash" in error[0]
    assert not (tmp_path / "b" / "manifest.json").exists()


def test_an_index_is_checked_against_the_recipes_dedup_settings():
    from pipeline.rules.dedup_index import IndexMismatch, check_compatible, index_params
    from pipeline.rules.minhash import MinHashParams
    ours = index_params(True, True, MinHashParams(), "all")
    check_compatible("x", ours, ours)
    check_compatible("x", {**ours, "minhash": None}, ours)     # an index without bands: exact and URL still meet
    with pytest.raises(IndexMismatch, match="dedup.scope"):
        check_compatible("x", {**ours, "scope": "source"}, ours)
    with pytest.raises(IndexMismatch, match="MinHash"):
        check_compatible("x", {**ours, "minhash": {**ours["minhash"], "seed": 2}}, ours)
