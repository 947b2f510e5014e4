"""Opening a finished corpus's files, local or remote, without Beam.

A trainer or an inspector reads a corpus with nothing of the pipeline installed:
local paths (and `file://` URLs) are opened directly, any other URL (`s3://`,
`gs://`, `https://`, ...) through fsspec, which needs that protocol's own
backend (s3fs, gcsfs) as the loader does. The pipeline, which must honour its
Beam options (`--s3_endpoint_url`, credentials given as flags), writes through
Beam's FileSystems and hands manifests/ bytes or an opener instead.
"""
from __future__ import annotations

import os
from typing import BinaryIO, Callable

Opener = Callable[[str], BinaryIO]   # path -> a binary file object to read


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def local_path(path: str) -> str:
    return path.removeprefix("file://")


def open_file(path: str, mode: str = "rb") -> BinaryIO:
    """A binary file object over `path`, for reading or (mode "wb") writing."""
    if is_remote(path):
        import fsspec
        return fsspec.open(path, mode).open()
    return open(local_path(path), mode)


def exists(path: str) -> bool:
    if is_remote(path):
        import fsspec
        fs, inner = fsspec.core.url_to_fs(path)
        return fs.exists(inner)
    return os.path.exists(local_path(path))


def read_bytes(path: str, opener: Opener = open_file) -> bytes:
    with opener(path) as f:
        return f.read()


def list_files(root: str) -> list[str]:
    """Every file under `root`, as paths relative to it with `/` between parts."""
    if is_remote(root):
        import fsspec
        fs, inner = fsspec.core.url_to_fs(root)
        inner = inner.rstrip("/")
        return sorted(path[len(inner) + 1:] for path in fs.find(inner))
    base = local_path(root)
    return sorted(os.path.relpath(os.path.join(folder, name), base).replace(os.sep, "/")
                  for folder, _, names in os.walk(base) for name in names)
