"""manifests report / diff / locate on the sample corpus; the report rendered in headless Chromium.

The browser test needs Chromium (`make test` installs Debian's package where apt
is available). Without it the test is skipped, unless CORPUSMILL_REQUIRE_BROWSER
is set, as CI sets it: there a missing browser fails.
"""
import json
import os
import shutil
import subprocess

import pytest

from manifests.diff import diff_manifests, is_identical, render
from manifests.lineage import locate
from manifests.report import render_report, write_report
from tests.test_end_to_end import manifests_cli

FIGURES = ["tokens-per-document", "bytes-per-document", "source-mixture", "epochs-cc-sample",
           "epochs-refinedweb-sample", "epochs-stack-sample", "phase-lengths", "funnel-cc-sample",
           "funnel-refinedweb-sample", "funnel-stack-sample"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def manifest(sample_corpus):
    return json.loads((sample_corpus / "manifest.json").read_text())


def chromium() -> str:
    found = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if not found:
        if os.environ.get("CORPUSMILL_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required here (CORPUSMILL_REQUIRE_BROWSER) and not installed")
        pytest.skip("no Chromium: `make test` installs it where apt is available")
    return found


def test_report_page_holds_every_plot(sample_corpus, manifest):
    html = render_report(str(sample_corpus), manifest)
    for fid in FIGURES:
        assert f'<figure id="{fid}"><svg' in html, fid
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', ""), "self-contained: no links out"
    assert f"{manifest['stats']['documents']:,} documents" in html


def test_report_renders_in_headless_chromium(sample_corpus, tmp_path):
    browser = chromium()
    page = write_report(str(sample_corpus), str(tmp_path / "report.html"))
    common = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", f"file://{page}"], capture_output=True, text=True, timeout=120)
    # the page's script counts, after layout, the figures whose SVG has a size and marks in it
    assert f'data-plots="{len(FIGURES)}" data-plots-rendered="{len(FIGURES)}"' in dom.stdout, dom.stderr[-2000:]
    shot = tmp_path / "report.png"
    subprocess.run([*common, "--window-size=1000,4000", f"--screenshot={shot}", f"file://{page}"],
                   capture_output=True, timeout=120, check=True)
    from PIL import Image
    image = Image.open(shot).convert("RGB")
    assert image.size == (1000, 4000)
    colours = image.getcolors(maxcolors=1 << 20)
    palette = {(0x4e, 0x79, 0xa7), (0xf2, 0x8e, 0x2b), (0x59, 0xa1, 0x4f)}   # the first three sources' colours
    painted = {c for n, c in colours if n > 500}
    assert palette <= painted, "each source's colour is drawn in the screenshot"


def test_diff_of_a_build_with_itself_and_with_a_changed_one(sample_corpus, manifest, tmp_path):
    assert is_identical(diff_manifests(manifest, manifest))
    same = manifests_cli("diff", str(sample_corpus), str(sample_corpus))
    assert same.returncode == 0 and "identical" in same.stdout

    changed = json.loads(json.dumps(manifest))
    changed["recipe"]["sources"][0]["epochs"] = 3
    changed["resolved_recipe"]["sources"][0]["epochs"] = 3
    changed["sources"]["cc-sample"]["documents"] += 10
    changed["tokenizer"]["sha256"] = "0" * 64
    changed["shards"][0]["sha256"] = "1" * 64
    d = diff_manifests(manifest, changed)
    paths = {row["path"] for row in d["values"]}
    assert {"recipe/sources[0]/epochs", "sources/cc-sample/documents", "tokenizer/sha256"} <= paths
    assert d["shards"]["shards"]["identical"] == len(manifest["shards"]) - 1
    assert d["shards"]["shards"]["only_in_a"] == ["shard-00000.bin"]
    text = render(d)
    documents = manifest["sources"]["cc-sample"]["documents"]
    assert f"cc-sample/documents: {documents:,} -> {documents + 10:,} (+10, " in text
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(changed))
    result = manifests_cli("diff", str(sample_corpus), str(tmp_path / "b"), "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["shards"]["shards"]["only_in_b"] == ["shard-00000.bin"]


def test_the_recipe_diff_shows_the_default_a_setting_left_out_had(manifest):
    """The bug: a setting one recipe left to its default diffed as `None -> 12`; the
    manifest's resolved recipe makes it `10 -> 12`, for recipe fields and rule arguments."""
    from pipeline.recipe import parse_recipe, resolved_recipe
    raw = json.loads(json.dumps(manifest["recipe"]))
    raw["output"]["stats_sample"] = 0.5
    gopher = next(r for r in raw["filters"]["text"] if r["name"] == "gopher_quality")
    assert "max_avg_word_length" not in gopher and "stats_sample" not in manifest["recipe"]["output"]
    gopher["max_avg_word_length"] = 12
    changed = {**manifest, "recipe": raw, "resolved_recipe": resolved_recipe(parse_recipe(raw))}
    rows = {row["path"]: (row["old"], row["new"]) for row in diff_manifests(manifest, changed)["values"]}
    index = next(i for i, r in enumerate(raw["filters"]["text"]) if r["name"] == "gopher_quality")
    assert rows == {"recipe/stats_sample": (1.0, 0.5),
                    f"recipe/filters/text[{index}]/max_avg_word_length": (10, 12)}


def test_locate_names_the_document_at_a_token_offset(sample_corpus, manifest, sample_documents):
    by_id = {d.id: d for d in sample_documents}
    for shard in [*manifest["shards"], *manifest["validation"]["shards"]]:
        name = shard["path"].removesuffix(".bin")
        for offset in (0, shard["tokens"] // 2, shard["tokens"] - 1):
            doc = locate(str(sample_corpus), name, offset)
            assert doc["text"] == by_id[doc["id"]].text, "decoded, EOS left out"
            assert doc["token_offset"] <= offset < doc["token_offset"] + doc["tokens"]
            assert doc["bytes"] == len(by_id[doc["id"]].text.encode("utf-8"))
            assert doc["split"] == ("train" if name.startswith("shard-") else "validation")
    result = manifests_cli("locate", str(sample_corpus), "1", "1000", "--chars", "50")
    assert result.returncode == 0 and "split: train" in result.stdout and "shard-00001.bin" in result.stdout
    assert manifests_cli("locate", str(sample_corpus), "1", str(10 ** 9)).returncode == 2
    assert manifests_cli("locate", str(sample_corpus), "shard-99999", "0").returncode == 2


def test_report_of_a_corpus_without_lineage_says_so(sample_corpus, manifest):
    from tests.test_manifest_schema import as_version_1
    html = render_report(str(sample_corpus), as_version_1(manifest))
    assert "no lineage maps" in html and '<figure id="funnel-cc-sample">' in html
    assert '<figure id="source-mixture">' not in html
