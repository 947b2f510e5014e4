"""Resumable, idempotent builds: what a killed job left behind, and what it may reuse.

A build runs as two Beam jobs (pipeline/graph.py):

1. **clean**: read, extract, normalise, filter, decontaminate, deduplicate. It writes
   the clean parts, the drop list, its counts (accounting.json), dead letters and
   rejects under `<output>/_work/clean-<key>/`, and last a `_SUCCESS` file. The key
   is the sha256 of everything that decides those bytes: the recipe fields the job
   reads, every input file's path, size and modification time, and the code version
   (manifests.build.code_version). A re-run whose key has a `_SUCCESS` skips the job.
2. **corpus**: tokenizer, shards and, last, the manifest, into `<output>/`.

Once its inputs are listed, and before either job writes anything, a build deletes
the manifest, then the files an earlier corpus job may have left (shards,
`.inprogress` temporaries, tokenizer files, dead letters, rejects), so an output
with a manifest is always a finished one and one without is never mistaken for it
(`python -m manifests verify` says so). What
is under `_work/` and not a finished stage (a killed job's temporary files, parts
of an unfinished clean job, shard fragments) is deleted before a job starts, and
the whole of `_work/` once the manifest is written. Every job writes the same bytes
for the same inputs (tests/test_end_to_end.py), so a re-run after a kill at any
moment gives the output an uninterrupted run gives (tests/test_resume.py kills
builds with SIGKILL and compares).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from apache_beam.io.filesystems import FileSystems

from manifests.io import manifest_path

DONE = "_SUCCESS"
# What a corpus job writes into the output root (and nothing else of the user's is touched).
CORPUS_FILES = ("shard-*", "validation-*", ".*.inprogress", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "dead_letters.jsonl", "rejects/*", "documents/*/*",
                "documents/*/.*.inprogress", "classifiers/*", "dedup-index/*")


def stage_key(document: dict[str, Any]) -> str:
    """The content address of a stage: sha256 of the canonical JSON of what decides it."""
    blob = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def clean_key_document(recipe, strict: bool, inputs: list[dict], code: dict) -> dict:
    """Everything the clean job's output depends on. Epochs, validation share, tokenizer
    and most output settings are the corpus job's, so changing them reuses the clean
    stage; output.documents is not (the clean job then keeps the rules' signals and the
    dedup groups for the dataset), nor whether any source rehydrates (the groups again)."""
    sources = [{k: v for k, v in dataclasses.asdict(s).items() if k not in ("epochs", "validation", "rehydrate")}
               for s in recipe.sources]
    return {"stage": "clean", "sources": sources, "extract": recipe.extract_html,
            "extract_limits": dataclasses.asdict(recipe.extract_limits), "fix_mojibake": recipe.fix_mojibake,
            "filters": recipe.filters, "rejects": recipe.rejects, "documents": recipe.documents,
            "groups": recipe.documents or recipe.rehydrates,
            "decontaminate": dataclasses.asdict(recipe.decontaminate) if recipe.decontaminate else None,
            "dedup": dataclasses.asdict(recipe.dedup), "strict": strict, "inputs": inputs, "code": code}


def input_fingerprint(recipe) -> list[dict]:
    """Path, size and modification time of every input file (and evaluation set) the
    clean job reads. Where the filesystem gives no time (an http listing's lines, which
    name immutable Common Crawl files), the path and size stand alone."""
    from sources.files import expand_paths
    from sources.readers import source_inputs
    paths: list[tuple[str, str, int, float | None]] = []
    for spec in recipe.sources:
        inputs, ignored = source_inputs(spec.type, list(spec.paths), spec.options)
        paths += [(spec.name, f.path, f.size, f.mtime) for f in (*inputs, *ignored)]
    if recipe.decontaminate is not None:   # a set matching no file fails here too, output untouched
        for eval_set in recipe.decontaminate.sets:
            paths += [(f"eval:{eval_set.name}", f.path, f.size, f.mtime) for f in expand_paths(list(eval_set.paths))]
    return [{"source": name, "path": path, "size": size, "mtime": mtime} for name, path, size, mtime in paths]


def documents_inputs(earlier: str, recipe) -> list[dict]:
    """The documents dataset of the build at `earlier` as this build's inputs (path, size
    and sha256 of each file, from its manifest). Fails before any work when that build
    has no manifest or no dataset, or holds a source this recipe does not name."""
    from manifests.documents import shard_dataset_files
    from manifests.io import read_manifest, split_shards
    from pipeline.recipe import RecipeError
    if not FileSystems.exists(manifest_path(earlier)):
        raise FileNotFoundError(f"--from_documents {earlier}: no manifest.json there (not a finished build)")
    manifest = read_manifest(earlier, FileSystems.open)
    files = [f for _, shard in split_shards(manifest) for f in shard_dataset_files(shard)]
    if not files:
        raise RecipeError(f"--from_documents {earlier}: that build wrote no documents dataset "
                          "(its recipe's output.documents was off)")
    missing = sorted(set(manifest["sources"]) - {s.name for s in recipe.sources})
    if missing:
        raise RecipeError(f"--from_documents {earlier}: its documents come from source(s) {', '.join(missing)}, "
                          "which this recipe does not name (the recipe gives each source its epochs)")
    return [{"source": "documents", "path": f"{earlier}/{f['path']}", "size": f["bytes"], "sha256": f["sha256"]}
            for f in files]


def source_bytes(fingerprint: list[dict]) -> int:
    """The sources' input bytes (evaluation sets and earlier builds' indexes aside): what the
    clean job's ETA measures."""
    return sum(i["size"] for i in fingerprint if not i["source"].startswith(("eval:", "dedup.against")))


def stage_dir(work_dir: str, stage: str, key: str) -> str:
    return f"{work_dir}/{stage}-{key[:16]}"


def is_done(path: str) -> bool:
    return FileSystems.exists(f"{path}/{DONE}")


def mark_done(path: str, document: dict) -> None:
    """Written last: the stage's files are all in place when this exists."""
    with FileSystems.create(f"{path}/{DONE}") as f:
        f.write(json.dumps({"key": stage_key(document), **document}, sort_keys=True, default=str).encode())


def _matching(patterns: list[str]) -> list[str]:
    return sorted({m.path for result in FileSystems.match(patterns) for m in result.metadata_list})


def clear_work(work_dir: str, keep: tuple[str, ...] = ()) -> list[str]:
    """Deletes every file under `work_dir` except the stages in `keep`; returns them."""
    stale = [p for p in _matching([f"{work_dir}/**"]) if not any(p.startswith(k + "/") for k in keep)]
    if stale:
        FileSystems.delete(stale)
    return stale


def remove_work(work_dir: str) -> None:
    """Deletes `work_dir` with everything in it, on local disks and object stores alike
    (an object store has no directories to delete, a local disk has them left over)."""
    clear_work(work_dir)
    if FileSystems.exists(work_dir):
        FileSystems.delete([work_dir])


def clear_output(output: str) -> list[str]:
    """The manifest first (from then on the output reads as unfinished), then every file
    an earlier corpus job may have left. Returns what was deleted."""
    manifest = manifest_path(output)
    if FileSystems.exists(manifest):
        FileSystems.delete([manifest])
    stale = _matching([f"{output}/{pattern}" for pattern in CORPUS_FILES])
    if stale:
        FileSystems.delete(stale)
    return stale


def publish(stage: str, output: str, names: list[str]) -> list[dict]:
    """Copies a finished stage's output files (dead letters, rejects) into the output root;
    returns each one's manifest record: path in the output, bytes, sha256, lines."""
    from apache_beam.io.filesystem import CompressionTypes
    raw = CompressionTypes.UNCOMPRESSED
    records = []
    for source in _matching([f"{stage}/{name}" for name in names]):
        digest, size, lines = hashlib.sha256(), 0, 0
        # a stream copy: creating the target makes its folder (FileSystems.copy does not, locally)
        with FileSystems.open(source, compression_type=raw) as src, \
                FileSystems.create(output + source[len(stage):], compression_type=raw) as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
        records.append({"path": source[len(stage) + 1:], "bytes": size, "sha256": digest.hexdigest(),
                        "records": lines})
    return records
