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
                         "tokens": r"tokens: ([\d,]+) unique", "stream": r" unique, ([\d,]+) in the training",
                         "output_mb": r"output: about ([\d.,]+) MB"}.items():
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
    # estimates: bytes/token from a tokenizer trained on half the sample; dedup not predicted
    assert 0.9 < plan["tokens"] / manifest["stats"]["tokens"] < 1.3
    assert 0.9 < plan["stream"] / manifest["stats"]["stream_tokens"] < 1.3
    written = sum(p.stat().st_size for p in sample_corpus.iterdir() if p.name.startswith(("shard-", "validation-")))
    assert 0.7 < plan["output_mb"] * 1e6 / written < 1.5
    assert "sampled 4.2 MB in 6 files" in text and "memory (local runner)" in text


def test_plan_samples_whole_files_spread_over_the_listing():
    from pipeline.plan import spread_sample
    from sources.files import InputFile
    files = [InputFile(f"f{i}", f"f{i}", 10) for i in range(100)]
    chosen = spread_sample(files, budget=35)
    assert len(chosen) == 3 and chosen == spread_sample(list(reversed(files)), budget=35)
    assert len({f.path for f in chosen}) == 3 and chosen != files[:3]
    assert len(spread_sample([InputFile("big", "big", 10**9)], budget=1)) == 1   # at least one
