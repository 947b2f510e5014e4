"""WriteCleanParts / ReadCleanParts: late materialisation of the filtered documents.

Filtered documents are written once, as zstd parquet (transforms/parts.py: a file per
bundle, renamed into place once all succeeded, so a retried bundle never leaves a duplicate),
while only small dedup keys go through a shuffle. The clean job writes the parts
and the drop list into its stage folder (pipeline/resume.py); the corpus job reads
the parts back and subtracts the drop list, part by part (PlanCleanParts,
ReadPlannedParts).
"""
from __future__ import annotations

import json
from typing import NamedTuple

import apache_beam as beam
import pyarrow as pa

from pipeline.rules.minhash import doc_ref
from pipeline.transforms import faults
from pipeline.transforms.packed import PackedGroupByKey
from pipeline.transforms.parts import WriteParquetParts
from sources.document import Document

# Row groups of at most this much text: a reader decompresses a whole row group at a time,
# so Beam's 64 MB default made each later pass over the parts hold up to 64 MB of text
# (and its Python copies) at once; the peak grew with the corpus until it reached that.
ROW_GROUP_BYTES = 8 << 20

CLEAN_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("kind", pa.string()),
                          ("source", pa.string()), ("url", pa.string()), ("meta", pa.string())])


def to_row(doc: Document) -> dict:
    return {"id": doc.id, "text": doc.text, "kind": doc.kind, "source": doc.source, "url": doc.url,
            "meta": json.dumps(doc.meta, sort_keys=True, ensure_ascii=False)}


def from_row(row: dict) -> Document:
    return Document(id=row["id"], text=row["text"], kind=row["kind"], source=row["source"],
                    url=row["url"], meta=json.loads(row["meta"]))


CLEAN_PARTS = "clean/part"
DROP_LIST = "drops/part"
DROP_SCHEMA = pa.schema([("id", pa.string())])
GROUPS = "groups/part"
GROUPS_SCHEMA = pa.schema([("id", pa.string()), ("method", pa.string()), ("size", pa.int64())])


EDITS = "edits/part"
EDITS_SCHEMA = pa.schema([("id", pa.string()), ("removed", pa.list_(pa.int32()))])


class DedupGroup(NamedTuple):
    """What the drop list's reader pairs with a kept document's id: one of its dedup groups
    (any value but a DedupGroup or a ParagraphEdit beside an id marks a drop)."""
    method: str
    size: int


class ParagraphEdit(NamedTuple):
    """... or the positions of its boilerplate paragraphs to remove (dedup.paragraphs)."""
    removed: tuple


def stage_files(stage: str, prefix: str) -> list[str]:
    """The parquet files a finished stage holds under `prefix`, sorted (none: an empty list)."""
    from apache_beam.io.filesystems import FileSystems
    return sorted(m.path for m in FileSystems.match([f"{stage}/{prefix}-*.parquet"])[0].metadata_list)


def clean_part_files(stage: str) -> list[str]:
    return stage_files(stage, CLEAN_PARTS)


class WriteCleanParts(beam.PTransform):
    def __init__(self, stage: str):
        super().__init__()
        self.prefix = f"{stage}/{CLEAN_PARTS}"

    def expand(self, docs):
        written = (docs
                   | "ConvertToRows" >> beam.Map(to_row)
                   | "WriteParquet" >> WriteParquetParts(self.prefix, CLEAN_SCHEMA, ROW_GROUP_BYTES))
        return faults.after(written, "WriteCleanParts")


class WriteStageRows(beam.PTransform):
    """Small records -> parquet rows in the stage folder under `prefix` (per-bundle files
    committed once, transforms/parts.py), hooked for the retry tests as `name`."""

    def __init__(self, stage: str, prefix: str, schema: pa.Schema, to_row, name: str):
        super().__init__()
        self.prefix, self.schema, self.to_row, self.name = f"{stage}/{prefix}", schema, to_row, name

    def expand(self, records):
        written = (records
                   | "ConvertToRows" >> beam.Map(self.to_row)
                   | "WriteParquet" >> WriteParquetParts(self.prefix, self.schema))
        return faults.after(written, self.name)


def WriteDropList(stage: str) -> WriteStageRows:   # noqa: N802 (a transform, named as one)
    """(doc id, (source, reason)) drops -> the ids. The reasons are counted in the clean
    job's accounting; the corpus job needs only ids."""
    return WriteStageRows(stage, DROP_LIST, DROP_SCHEMA, lambda drop: {"id": drop[0]}, "WriteDropList")


def WriteDedupGroups(stage: str) -> WriteStageRows:   # noqa: N802
    """(kept doc id, method, group size) of each group that had duplicates: the documents
    dataset's group columns."""
    return WriteStageRows(stage, GROUPS, GROUPS_SCHEMA,
                          lambda g: {"id": g[0], "method": g[1], "size": g[2]}, "WriteDedupGroups")


def WriteParagraphEdits(stage: str) -> WriteStageRows:   # noqa: N802
    """(doc id, paragraph positions to remove): dedup.paragraphs' edits."""
    return WriteStageRows(stage, EDITS, EDITS_SCHEMA, lambda e: {"id": e[0], "removed": list(e[1])},
                          "WriteParagraphEdits")


class ReadDropList(beam.PTransform):
    """The stage folder's drop list -> (doc id, None), and with `groups` its dedup groups ->
    (kept doc id, DedupGroup), as PlanCleanParts takes them."""

    def __init__(self, stage: str, groups: bool = False, edits: bool = False):
        super().__init__()
        self.files = stage_files(stage, DROP_LIST)
        self.group_files = stage_files(stage, GROUPS) if groups else []
        self.edit_files = stage_files(stage, EDITS) if edits else []

    def expand(self, pbegin):
        drops = (pbegin
                 | "ListDropFiles" >> beam.Create(self.files)
                 | "ReadIds" >> beam.io.ReadAllFromParquet(columns=["id"])
                 | "KeyById" >> beam.Map(lambda row: (row["id"], None)))
        groups = (pbegin
                  | "ListGroupFiles" >> beam.Create(self.group_files)
                  | "ReadGroups" >> beam.io.ReadAllFromParquet()
                  | "KeyGroupById" >> beam.Map(lambda row: (row["id"], DedupGroup(row["method"], row["size"]))))
        edits = (pbegin
                 | "ListEditFiles" >> beam.Create(self.edit_files)
                 | "ReadEdits" >> beam.io.ReadAllFromParquet()
                 | "KeyEditById" >> beam.Map(lambda row: (row["id"], ParagraphEdit(tuple(row["removed"])))))
        return (drops, groups, edits) | "FlattenDropsAndGroups" >> beam.Flatten()


def part_ref(path: str) -> bytes:
    return doc_ref(path)   # 8 bytes instead of the path in every record


def locate(row_with_file) -> tuple:
    """(part file, {"id": ...}) -> ((doc ref,), part ref): where a document lives."""
    path, row = row_with_file
    return (doc_ref(row["id"]),), part_ref(path)


def drops_by_part(joined):
    """A doc ref's part refs and its plan entries (plan_entry: drops, groups, edits) ->
    (part ref, entry) each. Two ids sharing a ref (rare) only put an id in a part's plan where it
    matches nothing."""
    _, values = joined
    entries = [v for v in values if isinstance(v, tuple)]
    for part in sorted({v for v in values if isinstance(v, bytes)}):
        for entry in entries:
            yield part, entry


def dedup_groups(doc_id: str, methods: tuple[str, ...], groups: dict) -> dict:
    """A kept document's group per dedup method that ran: [group id, size], the group id
    being the kept document's id (its own, size 1, when it had no duplicates)."""
    mine = groups.get(doc_id, {})
    return {method: [doc_id, mine.get(method, 1)] for method in methods}


def plan_entry(doc_id: str, value) -> tuple:
    """What the plan carries for a document: ("drop", id), ("group", id, method, size) or
    ("edit", id, paragraph positions)."""
    if isinstance(value, DedupGroup):
        return ("group", doc_id, *value)
    if isinstance(value, ParagraphEdit):
        return ("edit", doc_id, tuple(value.removed))
    return ("drop", doc_id)


class ReadPartWithout(beam.DoFn):
    """(part ref, {"part": [path], "drops": [plan entries], "unit": [unit]}) -> the part's
    Documents not among its drops, their boilerplate paragraphs removed (dedup.paragraphs,
    `unit` their unit); with `methods` (the dedup methods that ran), each carries its
    groups as `dedup` metadata."""

    def __init__(self, methods: tuple[str, ...] = ()):
        super().__init__()
        self.methods = methods

    def process(self, element):
        import pyarrow.parquet as pq
        from apache_beam.io.filesystems import FileSystems

        from pipeline.rules.paragraphs import without
        _, grouped = element
        paths, drops, groups, edits = list(grouped["part"]), set(), {}, {}
        unit = (grouped.get("unit") or [None])[0]
        for entry in grouped["drops"]:
            if entry[0] == "drop":
                drops.add(entry[1])
            elif entry[0] == "group":
                groups.setdefault(entry[1], {})[entry[2]] = entry[3]
            else:
                edits[entry[1]] = entry[2]
        if len(paths) != 1:   # a path spelt differently by the reader would lose drops
            raise ValueError(f"{len(drops)} drops name parts {paths}: not one clean part")
        path = paths[0]
        with FileSystems.open(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    if row["id"] not in drops:
                        doc = from_row(row)
                        if doc.id in edits:
                            doc = doc.with_text(without(doc.text, edits[doc.id], unit))
                        yield doc.with_meta(dedup=dedup_groups(doc.id, self.methods, groups)) \
                            if self.methods else doc


class PlanCleanParts(beam.PTransform):
    """Part file names -> (part ref, {"part": [path], "drops": [ids]}): which documents to skip
    in each part, with no text in any shuffle and no worker holding the whole drop list (a
    side input of every dropped id would not fit at billions of documents). The parts' id
    column is read to find each dropped document's part and a packed join on the id's
    digest pairs them. ReadPlannedParts then reads each part once, minus its own drops, as
    often as a consumer needs it: these small elements, not the text, are what waits for a
    side input such as the tokenizer."""

    def __init__(self, drop_list: beam.PCollection, unit: str | None = None):
        super().__init__()
        self.drop_list, self.unit = drop_list, unit

    def expand(self, part_files):
        located = (part_files
                   | "ReadIds" >> beam.io.ReadAllFromParquet(columns=["id"], with_filename=True)
                   | "KeyIdByRef" >> beam.Map(locate))
        dropped = self.drop_list | "KeyDropByRef" >> beam.MapTuple(
            lambda doc_id, value: ((doc_ref(doc_id),), plan_entry(doc_id, value)))
        part_drops = ((located, dropped)
                      | "JoinOnRef" >> PackedGroupByKey("dedup/subtract_bytes", min_size=2)
                      | "DropsByPart" >> beam.FlatMap(drops_by_part))
        parts = part_files | "KeyPart" >> beam.Map(lambda path: (part_ref(path), path))
        unit = self.unit
        return ({"part": parts, "drops": part_drops} | "GroupDropsByPart" >> beam.CoGroupByKey()
                | "WithUnit" >> beam.MapTuple(lambda ref, plan: (ref, {**plan, "unit": [unit]})))


class ReadPlannedParts(beam.PTransform):
    """PlanCleanParts' plan -> the Documents of every part not on the drop list.

    `after`: a singleton PCollection the reading must wait for (the tokenizer, the shard
    plans). The documents are for a consumer that needs it as a side input; read
    earlier, they would sit in the runner until it is ready (the local runner reads
    every pass as soon as the plan exists, and holds what it read). Waiting on it
    here, the read and its consumer run as one streaming stage."""

    def __init__(self, after: beam.PCollection | None = None, groups: tuple[str, ...] = ()):
        super().__init__()
        self.after, self.groups = after, groups

    def expand(self, plan):
        if self.after is not None:
            plan = plan | "WaitForSideInput" >> beam.Map(lambda part, _: part,
                                                         beam.pvalue.AsSingleton(self.after))
        return plan | "ReadPartsWithoutDrops" >> beam.ParDo(ReadPartWithout(self.groups))


class ReadCleanParts(beam.PTransform):
    """Part file names -> Documents not on the drop list (PlanCleanParts, then ReadPlannedParts)."""

    def __init__(self, drop_list: beam.PCollection, unit: str | None = None):
        super().__init__()
        self.drop_list, self.unit = drop_list, unit

    def expand(self, part_files):
        return part_files | "PlanCleanParts" >> PlanCleanParts(self.drop_list) | "ReadParts" >> ReadPlannedParts()
