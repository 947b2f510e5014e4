"""ReadDocumentsDataset: an earlier build's documents dataset in place of the clean job's
reading and rules (`build --from_documents OUT`).

The dataset (manifests/documents.py) holds every document that build kept, cleaned and
deduplicated, so a new build from it skips extraction, filters, decontamination and
dedup and goes straight to the tokenizer and the shards: a different tokenizer, epochs
or shard size without touching the crawl again. Each row becomes the Document it was
(id, text, kind, source, url and its metadata); every row read is kept, so the funnel
says read = kept per source.
"""
from __future__ import annotations

import apache_beam as beam

from manifests.documents import read_documents, row_meta
from pipeline.transforms.read import ReadOutput
from sources.document import Document


def documents_of_file(path: str):
    """A dataset file -> its Documents, in the file's order."""
    table = read_documents(path)
    for row in table.to_pylist():
        yield Document(id=row["id"], text=row["text"], kind=row["kind"], source=row["source"], url=row["url"],
                       meta=row_meta(row))


class ReadDocumentsDataset(beam.PTransform):
    """Dataset file paths -> a ReadOutput whose documents are the dataset's rows."""

    def __init__(self, files: list[str]):
        super().__init__()
        self.files = list(files)

    def expand(self, pbegin):
        docs = (pbegin
                | "ListDocumentFiles" >> beam.Create(self.files)
                | "SpreadFiles" >> beam.Reshuffle()
                | "ReadRows" >> beam.FlatMap(documents_of_file))
        none = pbegin | "NothingDropped" >> beam.Create([])
        dead = pbegin | "NoDeadLetters" >> beam.Create([])
        reads = docs | "CountReads" >> beam.Map(lambda doc: (doc.source, 1))
        return ReadOutput(docs, none, dead, reads)
