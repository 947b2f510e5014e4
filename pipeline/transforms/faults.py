"""Test-only fault injection: chosen stages fail the first attempt of each bundle.

An engine retries a failed bundle (Spark's `spark.task.maxFailures`, a Flink restart
strategy); the engine tests turn this on to prove that a retried build still writes
the local runner's bytes, so that every stage that writes files is idempotent.

Off unless the launching process sets both variables; never set them for a real build:

    CORPUSMILL_TEST_FAIL_STAGES=WriteFragments,MergeShards   # the stages' names below
    CORPUSMILL_TEST_FAIL_MARKERS=/shared/folder              # every worker must see it

They are read when the graph is built, so the switch travels to the engine's workers
inside the pickled DoFn. A stage hooks in with `after(outputs, "Name")`: a pass-through
ParDo, fused into the stage's bundle, that remembers the bundle's first output and, at
the end of the bundle (after the stage's own writes), creates the marker file named by
it and raises. A retry of the same bundle finds the marker and passes. Off, `after`
adds nothing to the graph.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import apache_beam as beam

STAGES_ENV = "CORPUSMILL_TEST_FAIL_STAGES"
MARKERS_ENV = "CORPUSMILL_TEST_FAIL_MARKERS"


class InjectedFault(RuntimeError):
    """Raised by the test-only hook; an engine's retry of the bundle passes."""


def chosen(stage: str, environ=os.environ) -> str | None:
    """The marker folder when the environment asks `stage` to fail, else None."""
    folder = environ.get(MARKERS_ENV)
    stages = {s.strip() for s in environ.get(STAGES_ENV, "").split(",") if s.strip()}
    return folder if folder and stage in stages else None


def claim(folder: str, stage: str, first) -> bool:
    """Creates the marker for a bundle that began with `first`; False when it exists
    (this is a retry)."""
    digest = hashlib.sha256(repr(first).encode("utf-8")).hexdigest()[:24]
    try:
        fd = os.open(os.path.join(folder, f"{stage}-{digest}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


class FailFirstAttempt(beam.DoFn):
    def __init__(self, stage: str, folder: str, key: Callable):
        super().__init__()
        self.stage, self.folder, self.key = stage, folder, key

    def start_bundle(self):
        self.first = None

    def process(self, element):
        if self.first is None:
            self.first = (self.key(element),)
        yield element

    def finish_bundle(self):
        if self.first is not None and claim(self.folder, self.stage, self.first[0]):
            raise InjectedFault(f"{self.stage}: test-only failure of a bundle's first attempt ({STAGES_ENV})")


def after(outputs: beam.PCollection, stage: str, key: Callable = lambda element: element) -> beam.PCollection:
    """`outputs` unchanged, through the fault hook when the environment chooses `stage`.
    `key`: what identifies a bundle by its first output, stable across attempts."""
    folder = chosen(stage)
    if folder is None:
        return outputs
    return outputs | f"FailFirstAttempt{stage}" >> beam.ParDo(FailFirstAttempt(stage, folder, key))
