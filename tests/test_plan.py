"""`python -m pipeline plan` against the build it estimates: on the sample every file
is sampled, so what it counts must match the manifest, and what it estimates must
land near it."""
from __future__ import annotations

import json

from tests.conftest import in_repo


def figures(text: str) -> dict:
    """The numbers of the plan's summary lines."""
    import re
    out = {}
    for key, pattern in {"read": r"documents: ([\d,]+) read", "kept": r"read, ([\d,]+) kept before dedup",
                         "deduplicated": r"\), ([\d,]+) after dedup",
                         "tokens": r"tokens: ([\d,]+) unique", "stream": r" unique, ([\d,]+) in the training",
                         "output_mb": r"output: about ([\d.,]+) MB", "cpu_s": r"CPU: ([\d.,]+) s on the local runner",
                         "rules_s": r"the rules alone ([\d.,]+) s"}.items():
        out[key] = float(re.search(pattern, text).group(1).replace(",", ""))
    return out


def test_plan_counts_the_sample_and_estimates_the_build(sample_corpus, capsys):
    from pipeline.__main__ import main
    with in_repo():
        assert main(["plan", "--recipe", "recipes/sample.yaml", "--workers", "2"]) == 0
    text = capsys.readouterr().out
    plan = figures(text)
    manifest = json.loads((sample_corpus / "manifest.json").read_text())
    funnel = manifest["funnel"]
    read = sum(f["read"] for f in funnel.values())
    dedup = sum(n for f in funnel.values() for reason, n in f["dropped"].items() if reason.startswith("dedup/"))
    assert plan["read"] == read                                   # every file was read: exact
    assert plan["kept"] == manifest["stats"]["documents"] + dedup  # kept before dedup: exact
    assert plan["deduplicated"] == manifest["stats"]["documents"]  # the same dedup over the same documents
    # the bar is 5%; with every file sampled the tokenizer is trained as the build trains it
    assert abs(plan["tokens"] / manifest["stats"]["tokens"] - 1) < 0.05
    assert abs(plan["stream"] / manifest["stats"]["stream_tokens"] - 1) < 0.05
    assert plan["cpu_s"] > plan["rules_s"], "the runner's own cost comes on top of the rules'"
    written = sum(p.stat().st_size for p in sample_corpus.iterdir()
                  if p.name.startswith(("shard-", "validation-", "long-")))
    assert 0.7 < plan["output_mb"] * 1e6 / written < 1.5
    assert "sampled 4.2 MB in 6 files" in text and "memory (local runner)" in text


def test_runner_figures_scale_a_line_through_two_builds():
    from pytest import approx

    from pipeline.plan import BUILD_FIXED_CPU_S, BUILD_FIXED_WALL_S, RunnerFigures
    figures = RunnerFigures(small=(1_000_000, 12.0, 10.0), full=(5_000_000, 20.0, 14.0))
    assert figures.fixed() == approx((10.0, 9.0)) and figures.marginal() == approx((2e-6, 1e-6))
    assert figures.at(1e9) == approx((10.0 + 2e-6 * 1e9, 9.0 + 1e-6 * 1e9))
    one = RunnerFigures(small=(5_000_000, 40.0, 30.0), full=(5_000_000, 40.0, 30.0))
    assert one.fixed() == (BUILD_FIXED_CPU_S, BUILD_FIXED_WALL_S), "one build: the measured fixed cost"
    assert one.at(10_000_000) == approx((2 * 40.0 - BUILD_FIXED_CPU_S, 2 * 30.0 - BUILD_FIXED_WALL_S))


def test_plan_samples_whole_files_spread_over_the_listing():
    from pipeline.plan import spread_sample
    from sources.files import InputFile
    files = [InputFile(f"f{i}", f"f{i}", 10) for i in range(100)]
    chosen = spread_sample(files, budget=35)
    assert len(chosen) == 3 and chosen == spread_sample(list(reversed(files)), budget=35)
    assert len({f.path for f in chosen}) == 3 and chosen != files[:3]
    assert len(spread_sample([InputFile("big", "big", 10**9)], budget=1)) == 1   # at least one
