"""Shared fixtures: paths to the bundled samples and the real Common Crawl files,
one sample-corpus build per test session, and the sample's reference documents."""
from __future__ import annotations

import contextlib
import logging
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sources" / "samples"
SAMPLE_RECIPE = "recipes/sample.yaml"
SHARED_CC = REPO.parent / "shared" / "data" / "commoncrawl"

logging.getLogger().addFilter(lambda r: "apitools not found" not in r.getMessage())

# TestPipelines run where `make corpus` does, never on a Prism binary fetched from GitHub
# (pipeline/runners.py)
from apache_beam.testing.test_pipeline import TestPipeline  # noqa: E402

from pipeline.runners import LOCAL_RUNNER  # noqa: E402

TestPipeline.pytest_test_pipeline_options = f"--runner={LOCAL_RUNNER}"


@contextlib.contextmanager
def in_repo():
    """Recipe paths are relative to the working directory, as under `make corpus`."""
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        yield
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="session")
def commoncrawl() -> pathlib.Path:
    if not (SHARED_CC / "whirlwind.warc.gz").exists():
        pytest.fail(f"the real Common Crawl test files are missing: expected {SHARED_CC} "
                    "(the project's shared/ folder beside the checkout)")
    return SHARED_CC


def build_sample(output: pathlib.Path, *extra: str) -> pathlib.Path:
    from pipeline.__main__ import build
    with in_repo():
        build(["--recipe", SAMPLE_RECIPE, "--output", str(output), *extra])
    return output


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> pathlib.Path:
    """The default recipe built once, as `make corpus` builds it."""
    return build_sample(tmp_path_factory.mktemp("corpus") / "sample")


@pytest.fixture(scope="session")
def sample_documents() -> list:
    """The documents the sample recipe keeps, from the pure rules without Beam."""
    from pipeline.recipe import load_recipe
    from pipeline.reference import clean_documents
    with in_repo():
        return clean_documents(load_recipe(SAMPLE_RECIPE))


def assert_same_files(expected: pathlib.Path, actual: pathlib.Path) -> list[str]:
    """Two corpus outputs hold the same files, byte for byte; returns the relative names."""
    def files(root):
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    names = files(expected)
    assert names == files(actual)
    for name in names:
        assert (expected / name).read_bytes() == (actual / name).read_bytes(), name
    return names
