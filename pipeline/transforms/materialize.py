"""WriteCleanParts / ReadCleanParts: late materialisation of the filtered documents.

Filtered documents are written once, as zstd parquet through Beam's own parquet IO
(temp files, finalised on success, so a retried bundle never leaves a duplicate),
while only small dedup keys go through a shuffle. The tokenize stage reads the
parts back and subtracts the drop list.
"""
from __future__ import annotations

import json

import apache_beam as beam
import pyarrow as pa

from sources.document import Document

CLEAN_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("kind", pa.string()),
                          ("source", pa.string()), ("url", pa.string()), ("meta", pa.string())])


def to_row(doc: Document) -> dict:
    return {"id": doc.id, "text": doc.text, "kind": doc.kind, "source": doc.source, "url": doc.url,
            "meta": json.dumps(doc.meta, sort_keys=True, ensure_ascii=False)}


def from_row(row: dict) -> Document:
    return Document(id=row["id"], text=row["text"], kind=row["kind"], source=row["source"],
                    url=row["url"], meta=json.loads(row["meta"]))


class WriteCleanParts(beam.PTransform):
    def __init__(self, work_dir: str):
        super().__init__()
        self.prefix = f"{work_dir}/clean/part"

    def expand(self, docs):
        return (docs
                | "ConvertToRows" >> beam.Map(to_row)
                | "WriteParquet" >> beam.io.WriteToParquet(self.prefix, CLEAN_SCHEMA, codec="zstd",
                                                          file_name_suffix=".parquet"))


class ReadCleanParts(beam.PTransform):
    """Part file names -> Documents not on the drop list (a side input of doc ids)."""

    def __init__(self, drop_list: beam.PCollection):
        super().__init__()
        self.drop_list = drop_list

    def expand(self, part_files):
        return (part_files
                | "ReadParquet" >> beam.io.ReadAllFromParquet()
                | "ParseDocuments" >> beam.Map(from_row)
                | "SubtractDropList" >> beam.Filter(lambda d, drops: d.id not in drops,
                                                    drops=beam.pvalue.AsDict(self.drop_list)))
