"""Shared fixtures: paths to the bundled samples and the real Common Crawl files,
and one sample-corpus build per test session (the end-to-end tests share it)."""
from __future__ import annotations

import logging
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sources" / "samples"
SHARED_CC = REPO.parent / "shared" / "data" / "commoncrawl"

logging.getLogger().addFilter(lambda r: "apitools not found" not in r.getMessage())


@pytest.fixture(scope="session")
def commoncrawl() -> pathlib.Path:
    if not (SHARED_CC / "whirlwind.warc.gz").exists():
        pytest.fail(f"the real Common Crawl test files are missing: expected {SHARED_CC} "
                    "(the project's shared/ folder beside the checkout)")
    return SHARED_CC


def build_sample(output: pathlib.Path, *extra: str) -> pathlib.Path:
    from pipeline.__main__ import build
    build(["--recipe", str(REPO / "recipes" / "sample.yaml"), "--output", str(output), *extra])
    return output


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> pathlib.Path:
    """The default recipe built once, from the repo root as `make corpus` runs it."""
    import os
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return build_sample(tmp_path_factory.mktemp("corpus") / "sample")
    finally:
        os.chdir(cwd)


def reference_documents(recipe_path: pathlib.Path = REPO / "recipes" / "sample.yaml") -> list:
    """The documents the recipe should keep, computed by composing the pure rules in
    plain Python, with no Beam: the reference the pipeline's output is checked against."""
    import os

    from pipeline.recipe import load_recipe
    from pipeline.rules.dedup import DedupCandidate, exact_key, split_duplicates
    from pipeline.rules.extract import extract_document
    from pipeline.rules.normalize import normalize_document
    from pipeline.rules.quality import build_rule, first_failure
    from sources.document import Document
    from sources.files import expand_paths
    from sources.readers import ReadContext, get_reader

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        recipe = load_recipe(str(recipe_path))
        files = [(s, f) for s in recipe.sources for f in expand_paths(list(s.paths))]
    finally:
        os.chdir(cwd)
    rules = {kind: [build_rule(spec) for spec in specs] for kind, specs in recipe.filters.items()}
    kept = []
    for spec, file in files:
        ctx = ReadContext(spec.name, spec.kind, file.path, file.relpath, spec.columns)
        with open(REPO / file.path if not file.path.startswith("/") else file.path, "rb") as f:
            for doc in get_reader(spec.type)(f, ctx):
                if not isinstance(doc, Document):
                    continue
                for step in (lambda d: extract_document(d, recipe.extract_html), normalize_document):
                    doc = step(doc) if isinstance(doc, Document) else doc
                if isinstance(doc, Document) and not first_failure(doc, rules.get(doc.kind, [])):
                    kept.append(doc)
    groups: dict = {}
    for doc in kept:
        groups.setdefault(exact_key(doc), []).append(DedupCandidate(len(doc.text), doc.id, doc.source))
    survivors = {split_duplicates(g)[0].id for g in groups.values()}
    return sorted((d for d in kept if d.id in survivors), key=lambda d: d.id)


@pytest.fixture(scope="session")
def sample_documents() -> list:
    return reference_documents()
