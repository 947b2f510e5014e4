"""WriteParquetParts: rows -> zstd parquet part files, safe under any engine's retries.

Each bundle writes one file under a new name in `<folder>/_tmp/`; once every bundle has
succeeded, one step renames the files the successful bundles named to
`<prefix>-<i>-of-<n>.parquet`. A failed attempt's file is never named, so never read.

Why not Beam's WriteToParquet: its finalisation first deletes every file matching the
output pattern and then renames the temporary files. When Flink restarted the failed
finalisation (tests/test_engines.py, a fault injected after it), the second attempt
deleted the finished parts, found the temporary files already moved, and failed the
build ("src and dst files do not exist"). Here a retried commit finds its renames done
and goes on; it deletes only parts a different, earlier list named.
"""
from __future__ import annotations

import posixpath
import uuid

import apache_beam as beam
import pyarrow as pa

from pipeline.transforms.common import in_global_window

TMP = "_tmp"


def part_names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


def commit_parts(prefix: str, written: list[str]) -> list[str]:
    """Renames the bundles' files to the parts' names, in sorted order; returns the names.
    Idempotent: a rename already done is skipped; parts from another list are removed."""
    from apache_beam.io.filesystems import FileSystems
    targets = part_names(prefix, len(written))
    for src, dst in zip(sorted(written), targets):
        if FileSystems.exists(src):
            if FileSystems.exists(dst):
                FileSystems.delete([dst])
            FileSystems.rename([src], [dst])
        elif not FileSystems.exists(dst):
            raise FileNotFoundError(f"neither the bundle's file {src} nor the part {dst} exists")
    found = [m.path for m in FileSystems.match([f"{prefix}-*.parquet"])[0].metadata_list]
    stale = sorted(set(found) - set(targets))
    if stale:
        FileSystems.delete(stale)
    return targets


class WriteBundleFile(beam.DoFn):
    """Rows -> one parquet file per bundle under a name of its own; yields the name at the end."""

    def __init__(self, folder: str, schema: pa.Schema, row_group_bytes: int):
        super().__init__()
        self.folder, self.schema, self.row_group_bytes = folder, schema, row_group_bytes

    def start_bundle(self):
        self.path, self.file, self.writer, self.rows, self.size = None, None, None, [], 0

    def process(self, row: dict):
        self.rows.append(row)
        self.size += sum(len(v) for v in row.values() if isinstance(v, str))
        if self.size >= self.row_group_bytes:
            self.write_row_group()

    def write_row_group(self):
        import pyarrow.parquet as pq
        from apache_beam.io.filesystems import FileSystems
        if self.writer is None:
            self.path = posixpath.join(self.folder, TMP, f"{uuid.uuid4().hex}.parquet")
            self.file = FileSystems.create(self.path)
            self.writer = pq.ParquetWriter(self.file, self.schema, compression="zstd")
        table = pa.Table.from_pylist(self.rows, schema=self.schema)
        self.writer.write_table(table, row_group_size=len(self.rows))
        self.rows, self.size = [], 0

    def finish_bundle(self):
        if self.rows:
            self.write_row_group()
        if self.writer is not None:
            self.writer.close()
            self.file.close()
            yield in_global_window(self.path)


class WriteParquetParts(beam.PTransform):
    """Row dicts -> the part files written, `<prefix>-<i>-of-<n>.parquet`, one element each."""

    def __init__(self, prefix: str, schema: pa.Schema, row_group_bytes: int = 8 << 20):
        super().__init__()
        self.prefix, self.schema, self.row_group_bytes = prefix, schema, row_group_bytes

    def expand(self, rows):
        folder = posixpath.dirname(self.prefix)
        prefix = self.prefix
        return (rows
                | "WriteBundleFiles" >> beam.ParDo(WriteBundleFile(folder, self.schema, self.row_group_bytes))
                | "CollectFiles" >> beam.combiners.ToList()
                | "CommitParts" >> beam.FlatMap(lambda written: commit_parts(prefix, written)))
