"""A corpus build: the clean job, then the corpus job, resumable (pipeline/resume.py).

`build(argv)` takes the CLI's arguments (any Beam pipeline option among them),
runs the two Beam jobs of pipeline/graph.py and returns the output path. Kept
apart from the CLI (pipeline/__main__.py) so that checking a recipe imports no
Beam runner.
"""
from __future__ import annotations

import contextlib
import logging


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
from pipeline.options import BuildConfig, MissingOption  # noqa: E402
from pipeline.recipe import RecipeError  # noqa: E402
from pipeline.runners import LOCAL_RUNNERS, local_parallelism, quiet_local_workers, with_local_runner  # noqa: E402
from pipeline.transforms.accounting import DEAD_LETTER_FILE, REJECTS_DIR, kept_documents, read_accounting  # noqa: E402

# Problems found before any work starts: one clear line, exit status 2.
SETUP_ERRORS = (RecipeError, MissingOption, FileNotFoundError)


log = logging.getLogger("corpusmill")


def build(argv: list[str]) -> str:
    options = with_local_runner(PipelineOptions(argv + local_parallelism(argv)))
    config = BuildConfig.from_options(options)
    FileSystems.set_options(options)   # the driver's own reads and deletes (s3 credentials given as flags)
    code = code_version()
    inputs = resume.input_fingerprint(config.recipe)   # a missing input fails here, output untouched
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
                build_clean(p, config, clean_dir)
            resume.mark_done(clean_dir, key_document)
        resume.clear_work(config.work_dir, keep=(clean_dir,))   # a killed corpus job's fragments
        resume.publish(clean_dir, config.output, [DEAD_LETTER_FILE, f"{REJECTS_DIR}/*"])
        accounts = read_accounting(clean_dir)
        display.job(progress.JobPlan("corpus", documents=kept_documents(accounts)))
        with beam.Pipeline(options=options) as p:
            build_corpus(p, config, code, clean_dir, accounts)
    resume.remove_work(config.work_dir)   # intermediate clean parts; the manifest is what counts
    return config.output


def summarize(output: str) -> str:
    """The finished corpus's manifest summary (read as the build wrote it: Beam's filesystems)."""
    return summary(read_manifest(output, FileSystems.open), manifest_path(output))
