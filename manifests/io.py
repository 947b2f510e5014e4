"""Reading, validating and writing manifest.json.

Written with sorted keys and a fixed layout, so equal content means equal bytes,
and renamed into place last: a corpus without its manifest is not a corpus.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

MANIFEST_FILE = "manifest.json"


SCHEMA_VERSIONS = (1, 2)   # manifests/schemas/manifest-v<N>.json; the last is what builds write


@lru_cache(maxsize=None)
def schema(version: int = SCHEMA_VERSIONS[-1]) -> dict:
    """The JSON Schema of a manifest version. Old versions stay, so a corpus built by an
    older release still verifies and diffs against a new one."""
    if version not in SCHEMA_VERSIONS:
        raise ValueError(f"unknown manifest schema_version {version!r}; this release reads {SCHEMA_VERSIONS}")
    path = resources.files("manifests").joinpath("schemas", f"manifest-v{version}.json")
    return json.loads(path.read_text("utf-8"))


def validation_errors(manifest: dict) -> list[str]:
    """Schema errors against the schema of the manifest's own `schema_version`."""
    import jsonschema
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if version not in SCHEMA_VERSIONS:
        return [f"schema_version: {version!r} is not one of {list(SCHEMA_VERSIONS)}"]
    validator = jsonschema.Draft202012Validator(schema(version))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))]


def split_shards(manifest: dict) -> list[tuple[str, dict]]:
    """Every shard record as (split, record): the training stream's in order, then the
    validation split's (none in a version 1 manifest, which had no split)."""
    from pipeline.rules.epochs import TRAIN, VALIDATION
    return [(TRAIN, s) for s in manifest["shards"]] + \
        [(VALIDATION, s) for s in manifest.get("validation", {}).get("shards", [])]


def dumps(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def manifest_path(output: str) -> str:
    return output if output.endswith(".json") else f"{output.rstrip('/')}/{MANIFEST_FILE}"


def read_manifest(output: str) -> dict[str, Any]:
    from apache_beam.io.filesystems import FileSystems
    with FileSystems.open(manifest_path(output)) as f:
        return json.loads(f.read().decode("utf-8"))


def write_manifest(output: str, manifest: dict) -> str:
    """Validates, writes to a temporary name, renames. Returns the manifest's path."""
    from apache_beam.io.filesystems import FileSystems
    errors = validation_errors(manifest)
    if errors:
        raise ValueError("manifest does not match its schema:\n  " + "\n  ".join(errors))
    final = manifest_path(output)
    temp = f"{output.rstrip('/')}/.{MANIFEST_FILE}.inprogress"
    with FileSystems.create(temp) as f:
        f.write(dumps(manifest))
    FileSystems.rename([temp], [final])
    return final
