"""Command-line options: a PipelineOptions subclass, frozen into a BuildConfig.

Beam parses runner options (--runner, --project, --direct_num_workers, ...) and
ours together, so `python -m pipeline build` takes any Beam flag unchanged.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.recipe import Recipe, load_recipe, resolved_recipe


class MissingOption(ValueError):
    pass


class CorpusOptions(PipelineOptions):
    # Not argparse-required: Beam parses every registered PipelineOptions subclass for
    # every pipeline in the process, so a required flag here would break the others.
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--recipe", help="recipe YAML (local or remote path); required")
        parser.add_argument("--output", help="output root: shards, tokenizer, manifest; required")
        parser.add_argument("--strict", action="store_true",
                            help="fail the job on the first unparseable record instead of dead-lettering it")
        parser.add_argument("--force", action="store_true",
                            help="take the output's lock over even if another build seems to hold it")
        parser.add_argument("--from_documents", "--from-documents", dest="from_documents", default=None,
                            help="an earlier build's output whose documents dataset (output.documents) this "
                                 "build tokenizes and shards again, skipping reading, extraction, filters and dedup")
        parser.add_argument("--no_progress", action="store_true",
                            help="no live progress line on the terminal (local runs; clusters show counters)")


@dataclass(frozen=True)
class BuildConfig:
    recipe: Recipe
    recipe_path: str
    output: str
    strict: bool
    progress: bool = True
    force: bool = False              # take the output's lock over (pipeline/lock.py)
    from_documents: str = ""         # an earlier output whose documents dataset replaces the clean job's reading
    resolved_recipe: Mapping[str, Any] = field(default_factory=dict, compare=False)   # as written, defaults filled
    prior_indexes: tuple = ()        # dedup.against, opened and checked (transforms/dedup_index.open_indexes)

    @property
    def work_dir(self) -> str:
        return self.output.rstrip("/") + "/_work"

    @classmethod
    def from_options(cls, options: PipelineOptions) -> "BuildConfig":
        ours = options.view_as(CorpusOptions)
        missing = [f"--{name}" for name in ("recipe", "output") if not getattr(ours, name)]
        if missing:
            raise MissingOption(f"missing required option(s): {', '.join(missing)}")
        # local relative paths are resolved here, where the command runs: a worker of an engine
        # or a cluster has a working directory of its own
        cwd = os.getcwd()
        earlier = (ours.from_documents or "").rstrip("/")
        recipe = load_recipe(ours.recipe)
        return cls(recipe=recipe.with_absolute_paths(cwd), recipe_path=ours.recipe,
                   output=absolute(ours.output.rstrip("/")), strict=bool(ours.strict),
                   progress=not ours.no_progress, force=bool(ours.force),
                   from_documents=absolute(earlier) if earlier else "", resolved_recipe=resolved_recipe(recipe))


def absolute(path: str) -> str:
    """A local path made absolute where the command runs; a URL (s3://, gs://) as it is."""
    return path if "://" in path else os.path.abspath(path)
