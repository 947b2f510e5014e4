"""Inputs: recipe globs expanded into files, each opened, and what its reader is told.

Globs go through Beam's FileSystems, so local paths, gs://, s3:// and hdfs:// all
go through the same call. Each match is returned with its path relative to the
glob's fixed prefix: that relative path goes into document ids, so moving a
dataset from a laptop to a bucket keeps its ids. Every reader module (warc,
parquet, jsonl, ...) imports its ReadContext and `open_input` from here, and the
registry (sources/readers.py) imports the readers, never the reverse. Beam is
imported where a file is listed or opened, not with the module, so checking a
recipe (pipeline/recipe.py) costs no Beam import.
"""
from __future__ import annotations

import glob as _glob
import posixpath
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Mapping



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
    a recipe that names no data is a typo, and finding out an hour later costs more.
    An http(s) URL names one file (no glob), which must answer. A file's relpath (what its
    documents' ids are built from) is its path under the folder common to every pattern's
    fixed part: two trees' `__init__.py` (`a/**`, `b/**`) are `a/__init__.py` and
    `b/__init__.py`, never one id."""
    from apache_beam.io.filesystems import FileSystems

    from sources.http import HttpReadError, is_url, url_size
    found: dict[str, InputFile] = {}
    prefixes = [fixed_prefix(p) for p in patterns if not is_url(p)]
    common = posixpath.commonpath(prefixes) + "/" if len(set(prefixes)) > 1 and all(
        p and p.startswith("/") == prefixes[0].startswith("/") and "://" not in p for p in prefixes) else None
    for pattern in patterns:
        if is_url(pattern):     # taken as it is: HTTP has no listing to glob
            try:
                size = url_size(pattern)
            except HttpReadError as exc:
                raise FileNotFoundError(f"cannot read input {pattern!r}: {exc}") from exc
            found.setdefault(pattern, InputFile(pattern, pattern.rsplit("/", 1)[-1], size))
            continue
        if _glob.has_magic(pattern) or FileSystems.exists(pattern):
            metadata = FileSystems.match([pattern])[0].metadata_list
        else:
            metadata = []
        if not metadata:
            raise FileNotFoundError(f"no input file matches {pattern!r}")
        prefix = common if common and common != "/" else fixed_prefix(pattern)
        for m in metadata:
            rel = m.path[len(prefix):] if m.path.startswith(prefix) else m.path.rsplit("/", 1)[-1]
            found.setdefault(m.path, InputFile(m.path, rel, m.size_in_bytes, m.last_updated_in_seconds))
    return sorted(found.values())


def glob_inputs(patterns: list[str], options: Mapping[str, Any]) -> tuple[list[InputFile], list[InputFile]]:
    """(inputs, ignored inputs) of a source whose inputs are its globs' files: all kept."""
    return expand_paths(patterns), []


@dataclass(frozen=True)
class ReadContext:
    source: str                   # recipe source name
    kind: str                     # text | code
    path: str                     # full path, for dead-letter locations
    relpath: str                  # path used in document ids
    columns: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)   # per-type source options
    split: Mapping[str, Any] | None = None                     # the part of the file to read


def open_input(path: str, options: Mapping[str, Any] | None = None) -> BinaryIO:
    """A binary stream over `path`: HTTP(S) with retries and range resumption, anything
    else through Beam's FileSystems (local, gs://, s3://, hdfs://), bytes as stored."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    from sources.http import is_url, open_url
    options = options or {}
    if is_url(path):
        return open_url(path, retries=int(options.get("retries", 5)), backoff_s=float(options.get("backoff_s", 0.5)))
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
