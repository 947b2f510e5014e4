"""ReadSources: recipe sources -> Documents, with every record read accounted for.

Globs are expanded when the graph is built (a typo fails at once); the file list
is cut into parts where the format allows (parquet row groups), spread over
workers with a Reshuffle, and each part is read by its format's reader from
sources/, so one huge file does not pin one worker. Outputs: documents, drops (read/<reason>), dead letters, and
per-file read counts for the funnel.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import apache_beam as beam

from pipeline.recipe import SourceSpec
from pipeline.transforms import faults
from pipeline.transforms.common import DROPPED, Counters
from sources.document import DeadLetter, Document, Rejected
from sources.files import InputFile
from sources.readers import ReadContext, file_records, file_splits, source_inputs

DEAD = "dead_letters"
READ = "read_counts"


class UnparseableRecord(RuntimeError):
    """Raised in --strict mode instead of dead-lettering."""


class ReadOutput(NamedTuple):
    documents: beam.PCollection     # Document
    dropped: beam.PCollection       # (source, "read/<reason>")
    dead_letters: beam.PCollection  # dict(source, location, reason, error)
    read_counts: beam.PCollection   # (source, records read from one file)


def split_file(item: tuple[str, InputFile], sources: dict[str, SourceSpec]) -> list[tuple]:
    """(source, file) -> (source, file, split, the split's share of the file's bytes) per split."""
    name, file = item
    spec = sources[name]
    splits = file_splits(spec.type, file.path, spec.options)
    return [(name, file, split, file.size // len(splits) + (i < file.size % len(splits)))
            for i, split in enumerate(splits)]


class ReadFile(beam.DoFn):
    def __init__(self, sources: dict[str, SourceSpec], strict: bool):
        self.sources = sources
        self.strict = strict

    def setup(self):
        self.counters = Counters()

    def process(self, item: tuple[str, InputFile, dict | None, int]):
        name, file, split, share = item
        spec = self.sources[name]
        ctx = ReadContext(source=name, kind=spec.kind, path=file.path, relpath=file.relpath,
                          columns=spec.columns, options=spec.options, split=split)
        n = 0
        for record in file_records(spec.type, ctx):
            n += 1
            self.counters.inc("read/documents")
            if isinstance(record, Document):
                if record.meta.get("charset_repaired"):   # kept, but worth seeing in the job's counters
                    self.counters.inc("read/charset_repaired")
                yield record
            elif isinstance(record, Rejected):
                yield self.counters.drop(record.source, record.reason)
            elif isinstance(record, DeadLetter):
                if self.strict:
                    raise UnparseableRecord(f"{record.location}: {record.reason}: {record.error}")
                self.counters.inc(f"errors/{record.reason}")
                yield beam.pvalue.TaggedOutput(DEAD, dataclasses.asdict(record))
        self.counters.inc(f"read/{name}", n)
        self.counters.inc("read/input_bytes", share)   # progress: the ETA's measure
        yield beam.pvalue.TaggedOutput(READ, (name, n))


class ReadSources(beam.PTransform):
    def __init__(self, sources: tuple[SourceSpec, ...], strict: bool = False):
        super().__init__()
        self.sources = sources
        self.strict = strict

    def expand(self, pbegin):
        files, ignored = [], []
        for spec in self.sources:
            inputs, dropped = source_inputs(spec.type, list(spec.paths), spec.options)
            files += [(spec.name, f) for f in inputs]
            ignored += [(spec.name, "read/gitignored")] * len(dropped)
        by_name = {s.name: s for s in self.sources}
        outs = (pbegin
                | "ListFiles" >> beam.Create(files)
                | "SplitFiles" >> beam.FlatMap(split_file, by_name)
                | "SpreadSplits" >> beam.Reshuffle()
                | "ReadRecords" >> beam.ParDo(ReadFile(by_name, self.strict))
                .with_outputs(DROPPED, DEAD, READ, main="documents"))
        documents = faults.after(outs.documents, "ReadSources")
        # Ignored files count as read and dropped, so the funnel covers every file matched.
        ignored_drops = pbegin | "ListIgnored" >> beam.Create(ignored)
        dropped = (outs[DROPPED], ignored_drops) | "MergeDrops" >> beam.Flatten()
        reads = (outs[READ], ignored_drops | "CountIgnored" >> beam.Map(lambda e: (e[0], 1))) \
            | "MergeReads" >> beam.Flatten()
        return ReadOutput(documents, dropped, outs[DEAD], reads)
