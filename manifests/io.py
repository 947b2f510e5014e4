"""manifest.json: its name, its JSON Schemas, reading it and encoding it.

Encoded with sorted keys and a fixed layout, so equal content means equal bytes.
The pipeline writes the encoded bytes under a temporary name and renames them
into place last: a corpus without its manifest is not a corpus. Reading goes
through manifests/files.py (no Beam), or through an opener the caller gives.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from manifests.files import Opener, open_file, read_bytes
from manifests.splits import TRAIN, VALIDATION

MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".corpusmill.lock"   # in the output while a build holds it (pipeline/lock.py)


SCHEMA_VERSIONS = (1, 2, 3, 4, 5)   # manifests/schemas/manifest-v<N>.json; the last is what builds write


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
    validation split's (none in a version 1 manifest, which had no split), then each
    continuation phase's, its split being the phase's name (manifests/phases.py)."""
    return [(TRAIN, s) for s in manifest["shards"]] + \
        [(VALIDATION, s) for s in manifest.get("validation", {}).get("shards", [])] + \
        [(phase["name"], s) for phase in manifest.get("phases", [])[1:] for s in phase["shards"]]


def phase_shards(manifest: dict, phase: str) -> list[dict]:
    """A phase's shard records in order: the first phase's (or "train") are `shards`."""
    phases = manifest.get("phases", [])
    if phase == TRAIN or (phases and phase == phases[0]["name"]):
        return manifest["shards"]
    if phase == VALIDATION:
        return manifest.get("validation", {}).get("shards", [])
    for record in phases[1:]:
        if record["name"] == phase:
            return record["shards"]
    raise ValueError(f"no phase {phase!r} in the corpus: it has "
                     f"{[TRAIN, VALIDATION] + [p['name'] for p in phases]}")


def dumps(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def manifest_path(output: str) -> str:
    return output if output.endswith(".json") else f"{output.rstrip('/')}/{MANIFEST_FILE}"


def corpus_root(path: str) -> str:
    """The corpus directory of a corpus directory or its manifest.json."""
    return path.rstrip("/").removesuffix("/" + MANIFEST_FILE)


def read_manifest(output: str, opener: Opener = open_file) -> dict[str, Any]:
    """The manifest of a corpus directory (or the manifest.json named), local or remote."""
    return json.loads(read_bytes(manifest_path(output), opener).decode("utf-8"))


def encode_manifest(manifest: dict) -> bytes:
    """The manifest's bytes, once it matches its schema (else ValueError naming each error)."""
    errors = validation_errors(manifest)
    if errors:
        raise ValueError("manifest does not match its schema:\n  " + "\n  ".join(errors))
    return dumps(manifest)
