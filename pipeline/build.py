"""A corpus build: the clean job, then the corpus job, resumable (pipeline/resume.py).

`build(argv)` takes the CLI's arguments (any Beam pipeline option among them),
runs the two Beam jobs of pipeline/graph.py and returns the output path. Kept
apart from the CLI (pipeline/__main__.py) so that checking a recipe imports no
Beam runner.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections import Counter


def _quiet_optional_gcp_warning() -> None:
    """Beam warns at import that Google's apitools is absent; it is an optional extra
    ([dataflow]) and the warning only confuses a local run."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().handlers[0].addFilter(lambda r: "apitools not found" not in r.getMessage())


_quiet_optional_gcp_warning()

# The imports below load Beam, so they follow the filter on purpose.
import apache_beam as beam  # noqa: E402
from apache_beam.io.filesystems import FileSystems  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions  # noqa: E402

from manifests.build import code_version  # noqa: E402
from manifests.inspect import summary  # noqa: E402
from manifests.io import manifest_path, read_manifest  # noqa: E402
from pipeline import progress, resume  # noqa: E402
from pipeline.graph import build_clean, build_corpus  # noqa: E402
from pipeline.lock import OutputLock, OutputLocked  # noqa: E402
from pipeline.options import BuildConfig, MissingOption  # noqa: E402
from pipeline.recipe import RecipeError  # noqa: E402
from pipeline.runners import LOCAL_RUNNERS, local_parallelism, quiet_local_workers, with_local_runner  # noqa: E402
from pipeline.transforms.accounting import DEAD_LETTER_FILE, REJECTS_DIR, kept_documents, read_accounting  # noqa: E402
from pipeline.rules.dedup_index import INDEX_DIR, IndexMismatch  # noqa: E402
from pipeline.transforms.classify import CLASSIFIERS_DIR  # noqa: E402
from pipeline.transforms.dedup_index import open_indexes  # noqa: E402

# Problems found before any work starts: one clear line, exit status 2.
SETUP_ERRORS = (RecipeError, MissingOption, FileNotFoundError, OutputLocked, IndexMismatch)


class EmptyCorpus(RuntimeError):
    """The recipe's inputs leave nothing to train on: no manifest is written."""


log = logging.getLogger("corpusmill")


def build(argv: list[str]) -> str:
    options = with_local_runner(PipelineOptions(argv + local_parallelism(argv)))
    config = BuildConfig.from_options(options)
    FileSystems.set_options(options)   # the driver's own reads and deletes (s3 credentials given as flags)
    with OutputLock(config.output, options, config.force):   # a second build into the output fails here
        return build_locked(options, config)


def build_locked(options: PipelineOptions, config: BuildConfig) -> str:
    code = code_version()
    # a missing input fails here, output untouched
    inputs = resume.documents_inputs(config.from_documents, config.recipe) if config.from_documents \
        else resume.input_fingerprint(config.recipe)
    if config.recipe.dedup.against and not config.from_documents:   # earlier builds' indexes: checked here
        config = dataclasses.replace(config, prior_indexes=tuple(open_indexes(config.recipe.dedup)))
        inputs += [{"source": "dedup.against", "path": index["path"], "sha256": index["sha256"]}
                   for index in config.prior_indexes]
    key_document = resume.clean_key_document(config.recipe, config.strict, inputs, code)
    resume.clear_output(config.output)   # from here on the output reads as unfinished
    clean_dir = resume.stage_dir(config.work_dir, "clean", resume.stage_key(key_document))
    local = options.view_as(StandardOptions).runner in LOCAL_RUNNERS
    with progress.Display() if local and config.progress else progress.NoDisplay() as display, \
            quiet_local_workers() if local else contextlib.nullcontext():
        if resume.is_done(clean_dir):
            log.warning("clean stage: reusing %s, finished by an earlier run with this recipe, "
                        "these inputs and this code", clean_dir)
        else:
            resume.clear_work(config.work_dir)
            display.job(progress.JobPlan("clean", input_bytes=resume.source_bytes(inputs)))
            with beam.Pipeline(options=options) as p:
                build_clean(p, config, clean_dir, [i["path"] for i in inputs if config.from_documents])
            resume.mark_done(clean_dir, key_document)
        resume.clear_work(config.work_dir, keep=(clean_dir,))   # a killed corpus job's fragments
        published = resume.publish(clean_dir, config.output, [DEAD_LETTER_FILE, f"{REJECTS_DIR}/*",
                                                              f"{CLASSIFIERS_DIR}/*", f"{INDEX_DIR}/*"])
        accounts = read_accounting(clean_dir)
        kept = kept_documents(accounts)
        if not kept:
            raise EmptyCorpus(nothing_kept(accounts))
        display.job(progress.JobPlan("corpus", documents=kept))
        with beam.Pipeline(options=options) as p:
            build_corpus(p, config, code, clean_dir, accounts, published)
    if not FileSystems.exists(manifest_path(config.output)):   # WriteManifest writes none for an empty stream
        raise EmptyCorpus(f"the training stream is empty: all {kept:,} kept documents fell in the validation "
                          "split (output.validation or a source's validation); no manifest written")
    resume.remove_work(config.work_dir)   # intermediate clean parts; the manifest is what counts
    return config.output


def nothing_kept(accounts: dict) -> str:
    """Why a clean job kept nothing, in one line: how much was read and the main reasons."""
    reasons = Counter()
    for _, reason, n in (*accounts["drops"], *accounts["errors"]):
        reasons[reason] += n
    top = ", ".join(f"{reason} {n:,}" for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:4])
    read = sum(n for _, n in accounts["reads"])
    return f"no document survived the recipe: {read:,} records read, all dropped or dead-lettered ({top or 'none'}); " \
        "no manifest written"


def summarize(output: str) -> str:
    """The finished corpus's manifest summary (read as the build wrote it: Beam's filesystems)."""
    return summary(read_manifest(output, FileSystems.open), manifest_path(output))
