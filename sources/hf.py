"""Hugging Face datasets through the `datasets` library (`type: hf`), streamed.

Three ways to name one:
- `paths` globs the dataset's data files: the `data-*.arrow` files `save_to_disk`
  writes, or parquet / JSON Lines files. Each data file is one input, read with
  `load_dataset(<packaged builder>, data_files=..., streaming=True)`; no hub access.
- `dataset: <hub name or dataset directory>` (and `split`, default `train`) loads
  it with `load_dataset(name, split=..., streaming=True)` when the graph is built,
  and each of its `n_shards` shards (data files) is one input, read on a worker
  with `.shard(n, i)`. A hub name needs the network, at build time and on workers.
- `dataset: <a save_to_disk folder>` (a Dataset's, or a DatasetDict's, whose
  `split` is then read): its arrow files, as listed in its `state.json`, are the
  inputs, read as `paths` would read them (`load_dataset` cannot open such a folder).

Either way a dataset is spread over workers file by file and never loaded whole.
`columns: {text: ...}` names the text column (default `text`); the other columns
become metadata.
"""
from __future__ import annotations

import json
from typing import BinaryIO, Iterator, Mapping

from sources.document import DeadLetter, Document, Rejected, document_id
from sources.files import InputFile, ReadContext, expand_paths
from sources.parquet import json_safe

BUILDERS = {".arrow": "arrow", ".parquet": "parquet", ".jsonl": "json", ".json": "json"}
SCHEME = "hf-dataset:"


def hf_inputs(paths: list[str], options: Mapping) -> tuple[list[InputFile], list[InputFile]]:
    """A `save_to_disk` folder's data files, a named dataset's shards, else the globs' data
    files (none ignored)."""
    if options.get("dataset"):
        name, split = str(options["dataset"]), str(options.get("split", "train"))
        saved = saved_dataset_files(name, split)
        return (expand_paths(saved) if saved else dataset_inputs(name, split)), []
    return expand_paths(paths), []


def saved_dataset_files(folder: str, split: str) -> list[str] | None:
    """The arrow files of a `Dataset.save_to_disk` folder (or of its `split` when it holds a
    DatasetDict), from the `state.json` that `save_to_disk` writes; None when `folder`
    is not such a folder (a hub name, or a folder of data files for `load_dataset`)."""
    from apache_beam.io.filesystems import FileSystems
    for where in (folder.rstrip("/"), f"{folder.rstrip('/')}/{split}"):
        if FileSystems.exists(f"{where}/state.json"):
            with FileSystems.open(f"{where}/state.json") as f:
                state = json.loads(f.read())
            return [f"{where}/{entry['filename']}" for entry in state.get("_data_files", [])]
    return None


def dataset_inputs(name: str, split: str = "train") -> list[InputFile]:
    """One input per shard of a named dataset: a pseudo-path the reader understands."""
    import datasets
    shards = datasets.load_dataset(name, split=split, streaming=True).n_shards
    label = name.strip("/").replace("/", "--")
    return [InputFile(path=f"{SCHEME}{i}/{shards}:{split}:{name}", relpath=f"{label}/{split}/shard-{i:05d}", size=0)
            for i in range(shards)]


def _rows(path: str):
    import datasets
    if path.startswith(SCHEME):
        shard, split, name = path[len(SCHEME):].split(":", 2)
        index, count = map(int, shard.split("/"))
        return datasets.load_dataset(name, split=split, streaming=True).shard(num_shards=count, index=index)
    return datasets.load_dataset(builder_for(path), data_files={"train": [path]}, split="train", streaming=True)


def builder_for(path: str) -> str | None:
    return next((b for suffix, b in BUILDERS.items() if path.endswith(suffix)), None)


def read_hf(stream: BinaryIO | None, ctx: ReadContext) -> Iterator[Document | Rejected | DeadLetter]:
    """`stream` is unused: `datasets` opens its files itself."""
    import datasets
    if not ctx.path.startswith(SCHEME) and builder_for(ctx.path) is None:
        yield DeadLetter(ctx.source, f"{ctx.path}@0", "read/unknown_format", "not an arrow/parquet/json data file")
        return
    text_col = ctx.columns.get("text", "text")
    url_col = ctx.columns.get("url", "url")
    row = 0
    try:
        for row, record in enumerate(_rows(ctx.path)):
            text = record.pop(text_col, None)
            doc_id = document_id(ctx.source, ctx.relpath, row)
            if not isinstance(text, str):
                yield DeadLetter(ctx.source, f"{ctx.path}@{row}", "read/no_text", f"no string {text_col!r}")
            elif not text.strip():
                yield Rejected(ctx.source, doc_id, "read/empty")
            else:
                yield Document(id=doc_id, text=text, kind=ctx.kind, source=ctx.source,
                               url=str(record.get(url_col) or ""),
                               meta={"format": "text", **{k: json_safe(v) for k, v in record.items()}})
    except (ValueError, OSError, datasets.exceptions.DatasetGenerationError) as exc:
        yield DeadLetter(ctx.source, f"{ctx.path}@{row}", "read/corrupt_dataset", repr(exc)[:500])
