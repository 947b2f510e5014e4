"""Live progress of a local build, from the same counters a cluster runner shows.

Every counter a stage increments (transforms/common.Counters: `read/documents`,
`extract/documents`, `dropped/<stage>/<reason>`, `tokenize/tokens`, ...) is a Beam
metric, which Dataflow, Flink and Spark show live in their UIs. The local runner
reports metrics only when a job ends, so for local builds each Counters object
(one per DoFn instance, in whatever process runs it) also mirrors its totals
into a small JSON file of its own under CORPUSMILL_PROGRESS_DIR (its LiveTally,
written at most twice a second by a daemon thread), and the driver's `Display`
sums those files once a second into one line on the terminal: the job, documents and bytes
read, rate, and an ETA from the input bytes (clean job) or from the documents
still to tokenize (corpus job). The figures are for watching, not accounting
(a retried bundle counts twice here); the manifest's funnel counts elements.
"""
from __future__ import annotations

import collections
import glob
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Mapping, TextIO

ENV = "CORPUSMILL_PROGRESS_DIR"
FLUSH_S = 0.5


class LiveTally:
    """One Counters object's totals, mirrored to a file of its own in `folder`. A daemon
    thread writes them when they changed, every FLUSH_S; it holds the tally weakly,
    so it ends with it."""

    def __init__(self, folder: str):
        self.path = os.path.join(folder, f"{os.getpid()}-{uuid.uuid4().hex}.json")
        self.counts: collections.Counter = collections.Counter()
        self.lock = threading.Lock()
        self.dirty = False
        self.thread: threading.Thread | None = None

    @classmethod
    def from_environment(cls) -> "LiveTally | None":
        """A tally while a local build's Display is showing (ENV set), else None."""
        folder = os.environ.get(ENV)
        return cls(folder) if folder else None

    def add(self, name: str, n: int) -> None:
        with self.lock:
            self.counts[name] += n
            self.dirty = True
            if self.thread is None:
                self.thread = threading.Thread(target=_flush_while_alive, args=(weakref.ref(self),),
                                               name="corpusmill-progress", daemon=True)
                self.thread.start()

    def flush(self) -> bool:
        """Writes the totals if they changed; False once the driver removed the folder."""
        with self.lock:
            if not self.dirty:
                return True
            data, self.dirty = json.dumps(self.counts), False
        try:
            with open(self.path + ".tmp", "w") as f:
                f.write(data)
            os.replace(self.path + ".tmp", self.path)
        except OSError:   # the driver removed the folder: the build is over
            return False
        return True


def _flush_while_alive(ref: "weakref.ref[LiveTally]") -> None:
    while True:
        time.sleep(FLUSH_S)
        tally = ref()
        if tally is None or not tally.flush():
            return
        del tally


def read_totals(folder: str) -> collections.Counter:
    """The sum of every process's mirrored counters."""
    totals: collections.Counter = collections.Counter()
    for path in glob.glob(os.path.join(folder, "*.json")):
        try:
            with open(path) as f:
                totals.update(json.load(f))
        except (OSError, ValueError):   # replaced while reading: next second's read has it
            continue
    return totals


@dataclass(frozen=True)
class JobPlan:
    """What a job's ETA is measured against."""
    job: str                  # "clean" or "corpus"
    input_bytes: int = 0      # clean: the inputs' total size
    documents: int = 0        # corpus: documents each tokenize pass will see
    passes: int = 2           # corpus: the tokenize passes (count, then shards)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def _eta(done: float, total: float, elapsed: float) -> str:
    if total <= 0 or done <= 0 or elapsed <= 0:
        return "ETA -"
    if done >= total:
        return "finishing"
    return f"ETA {_clock(elapsed * (total - done) / done)}"


def progress_line(plan: JobPlan, totals: Mapping[str, int], elapsed: float) -> str:
    """One line of progress for the job `plan` names, from the summed counters."""
    head = f"[{plan.job} {_clock(elapsed)}]"
    if plan.job == "clean":
        read, done = totals.get("read/documents", 0), totals.get("read/input_bytes", 0)
        share = f" ({done / plan.input_bytes:.0%})" if plan.input_bytes else ""
        dropped = sum(n for k, n in totals.items() if k.startswith("dropped/"))
        return (f"{head} read {read:,} docs, {done / 1e6:,.1f} of {plan.input_bytes / 1e6:,.1f} MB{share}, "
                f"{done / 1e6 / max(elapsed, 1e-9):,.2f} MB/s | filtered {totals.get('filter/documents', 0):,}, "
                f"dropped {dropped:,} | {_eta(done, plan.input_bytes, elapsed)}")
    docs, tokens = totals.get("tokenize/documents", 0), totals.get("tokenize/tokens", 0)
    expected = plan.documents * plan.passes
    share = f" ({min(docs / expected, 1):.0%})" if expected else ""
    return (f"{head} tokenized {docs:,} of {expected:,} docs{share}, {tokens / 1e6:,.1f}M tokens, "
            f"{docs / max(elapsed, 1e-9):,.0f} docs/s | shards written {totals.get('shards/written', 0):,} "
            f"| {_eta(docs, expected, elapsed)}")


class NoDisplay:
    """Display's interface, showing nothing (a cluster run, or --no_progress)."""

    def __enter__(self) -> "NoDisplay":
        return self

    def job(self, plan: JobPlan) -> None:
        pass

    def __exit__(self, *exc) -> None:
        pass


class Display:
    """Prints the running job's progress line: redrawn in place on a terminal, one line
    every `every` seconds otherwise (a log). Use as a context manager around the jobs."""

    def __init__(self, stream: TextIO = sys.stderr, every: float | None = None):
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every if every is not None else (0.5 if self.tty else 15.0)
        self.folder = ""
        self.plan: JobPlan | None = None
        self.started = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="corpusmill-display", daemon=True)

    def __enter__(self) -> "Display":
        self.folder = tempfile.mkdtemp(prefix="corpusmill-progress-")
        os.environ[ENV] = self.folder   # inherited by the local runner's worker processes
        self.thread.start()
        return self

    def job(self, plan: JobPlan) -> None:
        """A new job starts: its counters start from zero."""
        self._draw(final=True)
        for path in glob.glob(os.path.join(self.folder, "*.json")):
            os.remove(path)
        self.plan, self.started = plan, time.monotonic()

    def _draw(self, final: bool = False) -> None:
        if self.plan is None:
            return
        line = progress_line(self.plan, read_totals(self.folder), time.monotonic() - self.started)
        if self.tty:
            self.stream.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self._draw()

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self._draw(final=True)
        self.plan = None
        os.environ.pop(ENV, None)
        # a worker may still write its totals while this runs: remove whatever is there
        shutil.rmtree(self.folder, ignore_errors=True)
