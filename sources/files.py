"""Expanding recipe globs into files, through Beam's FileSystems.

Local paths, gs://, s3:// and hdfs:// all go through the same call. Each match is
returned with its path relative to the glob's fixed prefix: that relative path goes
into document ids, so moving a dataset from a laptop to a bucket keeps its ids.
"""
from __future__ import annotations

import glob as _glob
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems


@dataclass(frozen=True, order=True)
class InputFile:
    path: str        # as FileSystems sees it
    relpath: str     # relative to the pattern's non-glob prefix
    size: int
    mtime: float | None = None   # where the filesystem tells: a resumed build's input fingerprint


def fixed_prefix(pattern: str) -> str:
    """The directory part of `pattern` before its first glob character."""
    cut = min((i for i, c in enumerate(pattern) if c in "*?["), default=len(pattern))
    head = pattern[:cut]  # for a plain file, its directory is the prefix
    return head.rsplit("/", 1)[0] + "/" if "/" in head else ""


def expand_paths(patterns: list[str]) -> list[InputFile]:
    """Every file matched by `patterns`, sorted, each once. An empty match is an error:
    a recipe that names no data is a typo, and finding out an hour later costs more."""
    found: dict[str, InputFile] = {}
    for pattern in patterns:
        if _glob.has_magic(pattern) or FileSystems.exists(pattern):
            metadata = FileSystems.match([pattern])[0].metadata_list
        else:
            metadata = []
        if not metadata:
            raise FileNotFoundError(f"no input file matches {pattern!r}")
        prefix = fixed_prefix(pattern)
        for m in metadata:
            rel = m.path[len(prefix):] if m.path.startswith(prefix) else m.path.rsplit("/", 1)[-1]
            found.setdefault(m.path, InputFile(m.path, rel, m.size_in_bytes, m.last_updated_in_seconds))
    return sorted(found.values())
