"""AccountForRecords: every record the clean job read is kept, dropped with a reason,
or dead-lettered, and the counts that say so are written down.

The clean job's stages emit, beside their documents, (source, reason) drops and
(source, what, n) tallies; the reader emits per-file read counts and dead
letters; dedup emits its drop list and group sizes. AccountForRecords counts
them into small sorted rows and writes them into the job's work folder
(accounting.json, via WriteAccounting), with the dead letters and, when the
recipe asks, the rejects. The corpus job reads them back (read_accounting,
ReadAccounting) for the manifest's funnel, tallies and dedup figures.
"""
from __future__ import annotations

import json
import zlib
from functools import partial
from typing import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.transforms import faults
from pipeline.transforms.common import StageOutput
from pipeline.transforms.dedup import DedupOutput
from pipeline.transforms.read import ReadOutput

DEAD_LETTER_FILE = "dead_letters.jsonl"
ACCOUNTING_FILE = "accounting.json"
# The clean job's figures, each a list of tuples: (source, n) reads; (source, reason, n)
# drops and errors; (source, what, n) tallies; (method, group size, groups); rejects written.
ACCOUNTS = ("reads", "drops", "errors", "tallies", "groups", "rejects")
REJECTS_DIR = "rejects"
REJECT_BUCKETS = 16


class CountFunnel(beam.PTransform):
    """(source, reason) drops and errors, (source, n) reads -> sorted (source, reason, n) rows."""

    def expand(self, pcolls):
        return (pcolls
                | "FlattenEvents" >> beam.Flatten()
                | "CountEvents" >> beam.combiners.Count.PerElement()
                | "FormatRows" >> beam.MapTuple(lambda key, n: (*key, n)))


class WriteDeadLetters(beam.PTransform):
    """One JSON line per unparseable record, sorted, so the file is deterministic.
    No file when there are none: object stores (S3) refuse an empty multipart upload."""

    def __init__(self, output: str):
        super().__init__()
        self.path = f"{output}/{DEAD_LETTER_FILE}"

    def expand(self, dead):
        written = (dead | "CollectDeadLetters" >> beam.combiners.ToList()
                   | "WriteJsonl" >> beam.Map(partial(write_dead_letters, self.path)))
        return faults.after(written, "WriteDeadLetters")


def write_jsonl(path: str, records: list[dict]) -> int:
    """Records as JSON lines at `path`, in the order given; the same bytes however often it
    runs (a retried bundle overwrites its own file with the same content)."""
    with FileSystems.create(path) as f:
        for r in records:
            f.write((json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
    return len(records)


def write_dead_letters(path: str, records: list[dict]) -> int:
    """The dead letters sorted by source and location; no file for none."""
    if not records:
        return 0
    return write_jsonl(path, sorted(records, key=lambda r: (r["source"], r["location"])))


def write_reject_bucket(output: str, key: tuple[str, int], rows) -> int:
    """One (source, bucket)'s audit records, sorted by id, into its own file."""
    source, bucket = key
    return write_jsonl(f"{output}/{REJECTS_DIR}/{source}-{bucket:02d}.jsonl",
                       sorted(rows, key=lambda r: (r["id"], r["reason"])))


def write_accounting(path: str, figures: dict) -> str:
    """The clean job's figures, each list sorted, as one JSON object."""
    doc = {name: sorted(list(row) if isinstance(row, tuple) else row for row in rows)
           for name, rows in figures.items()}
    with FileSystems.create(path) as f:
        f.write(json.dumps(doc, sort_keys=True).encode("utf-8"))
    return path


class WriteRejects(beam.PTransform):
    """Audit records of dropped documents -> rejects/<source>-<bucket>.jsonl, sorted by id.
    Records are spread over a fixed number of buckets per source by a hash of the id,
    so no one worker holds a whole source's rejects and the files are the same on
    every runner. Returns the number of records written."""

    def __init__(self, output: str):
        super().__init__()
        self.output = output

    def expand(self, records):
        written = (records
                   | "KeyByBucket" >> beam.Map(lambda r: ((r["source"], zlib.crc32(r["id"].encode()) % REJECT_BUCKETS), r))
                   | "GroupByBucket" >> beam.GroupByKey()
                   | "WriteJsonl" >> beam.MapTuple(partial(write_reject_bucket, self.output)))
        return faults.after(written, "WriteRejects") | "CountRecords" >> beam.CombineGlobally(sum)


class WriteAccounting(beam.PTransform):
    """The clean job's small figures -> one sorted JSON file in its work folder."""

    def __init__(self, work_dir: str, **figures: beam.PCollection):
        super().__init__()
        assert set(figures) == set(ACCOUNTS), sorted(figures)
        self.path = f"{work_dir}/{ACCOUNTING_FILE}"
        self.sides = {name: beam.pvalue.AsList(pcoll) for name, pcoll in figures.items()}

    def expand(self, pbegin):
        path = self.path
        return (pbegin | "CreateTrigger" >> beam.Create([None])
                | "WriteJson" >> beam.Map(lambda _, **figures: write_accounting(path, figures), **self.sides))


def read_accounting(work_dir: str) -> dict:
    """A finished clean job's figures (accounting.json): small, per source and reason."""
    with FileSystems.open(f"{work_dir}/{ACCOUNTING_FILE}") as f:
        return json.loads(f.read())


def kept_documents(figures: dict) -> int:
    """Documents the clean job kept: read, less dropped and dead-lettered (the funnel's rule)."""
    return (sum(n for _, n in figures["reads"]) - sum(n for _, _, n in figures["drops"])
            - sum(n for _, _, n in figures["errors"]))


class ReadAccounting(beam.PTransform):
    """A finished clean stage's figures (read_accounting, when the graph is built) ->
    {name: PCollection of tuples}."""

    def __init__(self, figures: dict):
        super().__init__()
        self.figures = figures

    def expand(self, pbegin):
        return {name: pbegin | f"Create{name.title()}" >> beam.Create(
                    [tuple(row) if isinstance(row, list) else row for row in self.figures[name]])
                for name in ACCOUNTS}


class AccountForRecords(beam.PTransform):
    """The clean job's accounting, applied to the pipeline's start: drops of every stage
    (reading, the document stages, dedup), dead letters and their reasons, reads per
    source, tallies, dedup group sizes and rejects -> the work folder's accounting.json,
    dead_letters.jsonl and rejects/."""

    def __init__(self, work_dir: str, read: ReadOutput, stages: Sequence[StageOutput], dedup: DedupOutput,
                 rejects: bool):
        super().__init__()
        self.work_dir, self.read, self.stages, self.dedup, self.rejects = work_dir, read, tuple(stages), dedup, rejects

    def expand(self, pbegin):
        work_dir, read, stages, dedup = self.work_dir, self.read, self.stages, self.dedup
        read.dead_letters | "WriteDeadLetters" >> WriteDeadLetters(work_dir)
        dedup_drops = dedup.drop_list | "ExtractDedupReasons" >> beam.Values()
        drops = (read.dropped, *(stage.dropped for stage in stages), dedup_drops) | "CountDrops" >> CountFunnel()
        # the document stages' tallies and dedup's (paragraphs removed)
        stage_tallies = (*(stage.tallies for stage in stages), dedup.tallies)
        tallies = (stage_tallies
                   | "FlattenTallies" >> beam.Flatten()
                   | "KeyTallies" >> beam.MapTuple(lambda source, what, n: ((source, what), n))
                   | "SumTallies" >> beam.CombinePerKey(sum)
                   | "FormatTallies" >> beam.MapTuple(lambda key, n: (*key, n)))
        written_rejects = pbegin | "NoRejects" >> beam.Create([])
        if self.rejects:
            written_rejects = ((*(stage.rejects for stage in stages), dedup.rejects)
                               | "FlattenRejects" >> beam.Flatten()
                               | "WriteRejects" >> WriteRejects(work_dir))
        errors = ((read.dead_letters | "ExtractErrorReasons" >> beam.Map(lambda r: (r["source"], r["reason"])),)
                  | "CountErrors" >> CountFunnel())
        reads = read.read_counts | "SumReads" >> beam.CombinePerKey(sum)
        groups = (dedup.groups
                  | "MethodAndSize" >> beam.MapTuple(lambda _, method, size: (method, size))
                  | "CountGroupSizes" >> beam.combiners.Count.PerElement()
                  | "FormatGroupSizes" >> beam.MapTuple(lambda key, n: (*key, n)))
        return pbegin | "WriteAccounting" >> WriteAccounting(work_dir, reads=reads, drops=drops, errors=errors,
                                                               tallies=tallies, groups=groups, rejects=written_rejects)
