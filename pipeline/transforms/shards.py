"""ExpandEpochs and WriteShards: the epoch rule applied, Megatron shards written.

ExpandEpochs gives each tokenized document its copies with their position keys
(pipeline/rules/epochs.py: a validation document gets one copy, in the validation
split), and keys every copy by its split and shard; CountShards, on an earlier
pass, plans each split's shards from its tokens: how many, and where the cuts
between them fall so each holds its share.

WriteShards never holds a shard's tokens: each bundle writes, per target shard,
a fragment (its copies for that shard in stream order: key, then id, then epoch)
to the work directory, and only the fragments' names cross the shuffle. One
worker per shard then merges its fragments in stream order, reading each
sequentially and writing `.bin` as it goes, and writes `.idx` and `.bin.index`
from the lengths (the format is manifests/shard_format.py's), and the shard's
lineage map (manifests/lineage.py) as it goes;
all four go under temporary names, renamed only when complete. Memory is one
bundle's buffer (FRAGMENT_BYTES) on the writing side and a few numbers per
document on the merging side, whatever the shard size.
"""
from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import posixpath
import uuid
from collections import Counter, defaultdict
from typing import Iterable, Iterator, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from manifests.documents import DEFAULT_FILE_MB, DocumentsWriter, documents_path
from manifests.lineage import LINEAGE_SUFFIX, HashingSink, LineageWriter
from manifests.shard_format import EXTENSIONS, datatrove_index, encode_index, shard_name
from manifests.splits import SPLITS
from pipeline.rules.epochs import KEY_BINS, StreamLayout, key_bin, plan_shards
from pipeline.transforms import faults
from pipeline.transforms.common import Counters, in_global_window
from pipeline.transforms.phases import all_copies, stub


class ShardEntry(NamedTuple):
    key: float
    id: str
    epoch: int
    source: str
    url: str
    bytes: int          # of the document's UTF-8 text
    tokens: np.ndarray
    row: dict | None = None   # the documents-dataset row, on a document's first copy only


ShardKey = tuple[str, int]   # (split, shard index)


def stream_key(e: ShardEntry) -> tuple:
    """A copy's place in the stream: its epoch key, ties by id, then epoch (unique per copy)."""
    return e.key, e.id, e.epoch


def stream_order(entries: Iterable[ShardEntry]) -> list[ShardEntry]:
    return sorted(entries, key=stream_key)


class DatasetFiles:
    """A shard's documents-dataset files: rows added in stream order go to
    documents_path(split, shard, k), a new file once the open one's text reaches
    `max_bytes` (each row's UTF-8 size as the entry already counts it); each written under
    a temporary name, renamed by commit()."""

    def __init__(self, output: str, key: ShardKey, max_bytes: int):
        self.output, self.key, self.max_bytes = output, key, max_bytes
        self.records, self.temps, self.writer = [], [], None

    def add(self, row: dict, text_bytes: int) -> None:
        if self.writer is None:
            path = documents_path(*self.key, len(self.records))
            self.temps.append(f"{self.output}/{posixpath.dirname(path)}/.{posixpath.basename(path)}.inprogress")
            self.file = FileSystems.create(self.temps[-1])
            self.sink = HashingSink(self.file)
            self.writer, self.path, self.text_bytes = DocumentsWriter(self.sink), path, 0
        self.writer.add(row)
        self.text_bytes += text_bytes
        if self.text_bytes >= self.max_bytes:
            self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.file.close()
            self.records.append({"path": self.path, "bytes": self.sink.bytes,
                                 "sha256": self.sink.sha256.hexdigest(), "rows": self.writer.count})
            self.writer = None

    def commit(self) -> list[dict]:
        """Closes the open file, renames every file into place; their manifest records."""
        self.close()
        if self.temps:
            FileSystems.rename(self.temps, [f"{self.output}/{r['path']}" for r in self.records])
        return self.records


def write_shard(output: str, key: ShardKey, entries: Iterable[ShardEntry], dtype: str,
                dataset_bytes: int = DEFAULT_FILE_MB << 20) -> dict:
    """Writes one shard from entries already in stream order; returns its manifest record.
    Entries carrying a dataset row also go to the shard's documents-dataset files, cut at
    `dataset_bytes` of text."""
    name = shard_name(*key)
    files = (*EXTENSIONS, LINEAGE_SUFFIX[1:])
    final = {ext: f"{output}/{name}.{ext}" for ext in files}
    temp = {ext: f"{output}/.{name}.{ext}.inprogress" for ext in files}
    digest, lengths = hashlib.sha256(), []
    by_source, by_epoch = Counter(), Counter()
    dataset = DatasetFiles(output, key, dataset_bytes)
    with FileSystems.create(temp["bin"]) as f, FileSystems.create(temp[LINEAGE_SUFFIX[1:]]) as g:
        lineage = LineageWriter(sink := HashingSink(g))
        offset = 0
        for e in entries:
            if e.row is not None:
                dataset.add(e.row, e.bytes)
            data = np.asarray(e.tokens, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
            f.write(data)
            digest.update(data)
            lineage.add(e.id, e.source, e.epoch, e.url, offset, len(e.tokens), e.bytes)
            offset += len(e.tokens)
            lengths.append(len(e.tokens))
            by_source[e.source] += len(e.tokens)
            by_epoch[str(e.epoch)] += len(e.tokens)
        lineage.close()
    index_bytes = encode_index(np.asarray(lengths, dtype=np.int32), np.dtype(dtype))
    ds_index_bytes = datatrove_index(lengths)
    with FileSystems.create(temp["idx"]) as f:
        f.write(index_bytes)
    with FileSystems.create(temp["bin.index"]) as f:
        f.write(ds_index_bytes)
    extra = {}
    if written := dataset.commit():
        extra["dataset"] = written
    FileSystems.rename([temp[ext] for ext in files], [final[ext] for ext in files])
    return {**extra, "index": key[1], "path": f"{name}.bin", "bytes": sum(lengths) * np.dtype(dtype).itemsize,
            "sha256": digest.hexdigest(), "tokens": int(sum(lengths)), "documents": len(lengths),
            "tokens_by_source": dict(sorted(by_source.items())),
            "tokens_by_epoch": dict(sorted(by_epoch.items(), key=lambda kv: int(kv[0]))),
            "idx": {"path": f"{name}.idx", "bytes": len(index_bytes),
                    "sha256": hashlib.sha256(index_bytes).hexdigest()},
            "ds_index": {"path": f"{name}.bin.index", "bytes": len(ds_index_bytes),
                         "sha256": hashlib.sha256(ds_index_bytes).hexdigest()},
            "lineage": {"path": f"{name}{LINEAGE_SUFFIX}", "bytes": sink.bytes, "sha256": sink.sha256.hexdigest(),
                        "rows": len(lengths)}}


class KeyHistograms(beam.CombineFn):
    """(split, key bin, tokens) -> {split: tokens per key bin}; a dense array per split
    seen (8 MB), whatever the corpus size."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, row):
        split, b, tokens = row
        if split not in acc:
            acc[split] = np.zeros(KEY_BINS, np.int64)
        acc[split][b] += tokens
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for acc in accs:
            for split, hist in acc.items():
                if split in out:
                    out[split] += hist
                else:
                    out[split] = hist.copy()
        return out

    def extract_output(self, acc):
        return acc


def copy_bins(layout: StreamLayout, plans: dict, s) -> list[tuple[str, int, int]]:
    """(split, key bin, tokens) for each copy of a document (a DocStub) in every stream."""
    return [(split, key_bin(c.key), s.tokens)
            for split, copies in all_copies(layout, plans, s.id, s.source, s.tokens, s.cluster, s.repository)
            for c in copies]


class CountShards(beam.PTransform):
    """DocStubs -> {split: ShardPlan}: each split's tokens (a training document's tokens
    times its epoch copies, a validation document's once, a continuation phase's copies in
    that phase's split) over the shard size give the count, and a histogram of the
    copies' keys places the cuts (rules/epochs.py). `phase_plans`: PlanPhases' output."""

    def __init__(self, layout: StreamLayout, shard_tokens: int, phase_plans: beam.PCollection | None = None,
                 phases: tuple[str, ...] = ()):
        super().__init__()
        self.layout, self.shard_tokens, self.phase_plans, self.phases = layout, shard_tokens, phase_plans, phases

    def expand(self, stubs):
        layout, target, splits = self.layout, self.shard_tokens, SPLITS + tuple(self.phases)
        empty = np.zeros(KEY_BINS, np.int64)
        plans = beam.pvalue.AsSingleton(self.phase_plans) if self.phase_plans is not None else {}
        return (stubs
                | "BinCopyKeys" >> beam.FlatMap(lambda s, plans: copy_bins(layout, plans, s), plans=plans)
                | "SumKeyHistograms" >> beam.CombineGlobally(KeyHistograms())
                | "PlanShards" >> beam.Map(lambda hists: {s: plan_shards(hists.get(s, empty), target)
                                                          for s in splits}))


class ExpandEpochs(beam.PTransform):
    """TokenizedDoc -> ((split, shard index), ShardEntry) for every copy in every stream:
    its epoch copies (or its validation copy), then its copies in each continuation phase
    (`phase_plans`, PlanPhases' output), whose split is the phase's name.

    `shard_plans` (CountShards' output) should come from an earlier pass over the
    documents: planned from this transform's own input, every copy's tokens would wait
    in the runner until the last document is counted (the 4x memory run in
    bench/README.md)."""

    def __init__(self, layout: StreamLayout, shard_tokens: int, shard_plans: beam.PCollection | None = None,
                 phase_plans: beam.PCollection | None = None):
        super().__init__()
        self.layout, self.shard_tokens, self.shard_plans = layout, shard_tokens, shard_plans
        self.phase_plans = phase_plans

    def expand(self, tokens):
        layout = self.layout
        shard_plans = self.shard_plans
        if shard_plans is None:
            shard_plans = (tokens | "StubDocuments" >> beam.Map(stub)
                           | "CountShards" >> CountShards(layout, self.shard_tokens, self.phase_plans))
        phase_plans = beam.pvalue.AsSingleton(self.phase_plans) if self.phase_plans is not None else {}

        def copies(td, shard_plans, phase_plans):
            out = []
            streams = all_copies(layout, phase_plans, td.id, td.source, len(td.tokens), td.cluster, td.repository)
            for i, (split, keyed) in enumerate(streams):
                # the dataset row rides the first copy of the pretraining stream (or validation)
                first = min((c.key, c.epoch) for c in keyed) if i == 0 and keyed and td.row is not None else None
                out += [((split, shard_plans[split].shard_of(c.key)),
                         ShardEntry(c.key, td.id, c.epoch, td.source, td.url, td.bytes, td.tokens,
                                    {**td.row, "copies": len(keyed)} if (c.key, c.epoch) == first else None))
                        for c in keyed]
            return out

        return tokens | "MakeCopies" >> beam.FlatMap(copies, shard_plans=beam.pvalue.AsSingleton(shard_plans),
                                                     phase_plans=phase_plans)


FRAGMENT_BYTES = 64 << 20   # tokens a bundle buffers before it writes its fragments


def write_fragment(work_dir: str, shard: ShardKey, entries: list[ShardEntry], dtype: str) -> dict:
    """One bundle's copies for one shard, in stream order: `<prefix>.tokens` (little-endian
    tokens back to back) and `<prefix>.json` (key, id, epoch, source, url, bytes, length of each).
    The name is unique per attempt, so a retried bundle never overwrites a fragment
    another attempt's output still names."""
    prefix = f"{work_dir}/fragments/{shard_name(*shard)}-{uuid.uuid4().hex}"
    entries = stream_order(entries)
    le = np.dtype(dtype).newbyteorder("<")
    with FileSystems.create(f"{prefix}.tokens") as f:
        for e in entries:
            f.write(np.asarray(e.tokens, dtype=le).tobytes())
    meta = {"keys": [e.key for e in entries], "ids": [e.id for e in entries], "epochs": [e.epoch for e in entries],
            "sources": [e.source for e in entries], "urls": [e.url for e in entries],
            "bytes": [e.bytes for e in entries],
            "lengths": [len(e.tokens) for e in entries], "rows": [e.row is not None for e in entries]}
    with FileSystems.create(f"{prefix}.json") as f:
        f.write(json.dumps(meta).encode("utf-8"))
    if any(meta["rows"]):
        with FileSystems.create(f"{prefix}.rows") as f:
            for e in entries:
                if e.row is not None:
                    f.write(json.dumps(e.row, ensure_ascii=False).encode("utf-8") + b"\n")
    return {"prefix": prefix, "entries": len(entries), "tokens": sum(meta["lengths"])}


def read_fragment(prefix: str, dtype: str) -> Iterator[ShardEntry]:
    """A fragment's entries in its (stream) order, reading the tokens sequentially."""
    with FileSystems.open(f"{prefix}.json") as f:
        meta = json.loads(f.read())
    le = np.dtype(dtype).newbyteorder("<")
    has_row = meta.get("rows") or [False] * len(meta["ids"])
    with FileSystems.open(f"{prefix}.tokens") as f, \
            (FileSystems.open(f"{prefix}.rows") if any(has_row) else contextlib.nullcontext()) as rows:
        for key, doc_id, epoch, source, url, n_bytes, length, row in zip(
                meta["keys"], meta["ids"], meta["epochs"], meta["sources"], meta["urls"], meta["bytes"],
                meta["lengths"], has_row):
            yield ShardEntry(key, doc_id, epoch, source, url, n_bytes, np.frombuffer(f.read(length * le.itemsize), le),
                             json.loads(rows.readline()) if row else None)


def merge_fragments(prefixes: Iterable[str], dtype: str) -> Iterator[ShardEntry]:
    """Every fragment's entries merged in stream order."""
    streams = [read_fragment(prefix, dtype) for prefix in sorted(prefixes)]
    return heapq.merge(*streams, key=stream_key)


class WriteFragments(beam.DoFn):
    """((split, shard), ShardEntry) -> ((split, shard), fragment record) per shard a bundle touches."""

    def __init__(self, work_dir: str):
        super().__init__()
        self.work_dir = work_dir

    def start_bundle(self):
        self.buffer, self.size, self.dtype = defaultdict(list), 0, None

    def process(self, element, tokenizer):
        shard, entry = element
        self.dtype = tokenizer.dtype
        self.buffer[shard].append(entry)
        self.size += entry.tokens.nbytes + (len(entry.row["text"]) if entry.row is not None else 0)
        if self.size >= FRAGMENT_BYTES:
            yield from self.flush()

    def finish_bundle(self):
        for shard, fragment in self.flush():
            yield in_global_window((shard, fragment))

    def flush(self):
        for shard in sorted(self.buffer):
            yield shard, write_fragment(self.work_dir, shard, self.buffer[shard], self.dtype)
        self.buffer, self.size = defaultdict(list), 0


class MergeShard(beam.DoFn):
    """((split, shard), its fragment records) -> (split, the shard's manifest record), files
    written under temporary names and renamed: safe to run twice on the same element."""

    def __init__(self, output: str, dataset_bytes: int = DEFAULT_FILE_MB << 20):
        super().__init__()
        self.output, self.dataset_bytes = output, dataset_bytes

    def setup(self):
        self.counters = Counters()

    def process(self, shard, tokenizer):
        key, fragments = shard
        prefixes = [f["prefix"] for f in fragments]
        # the fragments stay: a retried or re-run merge needs them, and the build removes
        # the work folder once the manifest is written (pipeline/resume.remove_work)
        record = write_shard(self.output, key, merge_fragments(prefixes, tokenizer.dtype), tokenizer.dtype,
                             self.dataset_bytes)
        self.counters.inc(f"write/{key[0]}_shards")
        self.counters.inc(f"write/{key[0]}_tokens", record["tokens"])
        self.counters.inc("shards/written")
        yield key[0], record


class WriteShards(beam.PTransform):
    """`dataset_mb`: where the documents dataset's files are cut (output.documents.file_mb)."""

    def __init__(self, output: str, tokenizer: beam.PCollection, work_dir: str | None = None,
                 dataset_mb: float = DEFAULT_FILE_MB):
        super().__init__()
        self.output, self.tokenizer = output, tokenizer
        self.work_dir = work_dir or f"{output.rstrip('/')}/_work"
        self.dataset_bytes = max(1, int(dataset_mb * (1 << 20)))

    def expand(self, keyed_copies):
        info = beam.pvalue.AsSingleton(self.tokenizer)
        fragments = keyed_copies | "WriteFragments" >> beam.ParDo(WriteFragments(self.work_dir), tokenizer=info)
        # a fragment's name is new on each attempt; its shard and size say which bundle it is
        fragments = faults.after(fragments, "WriteFragments", key=lambda kv: (kv[0], kv[1]["entries"], kv[1]["tokens"]))
        merged = (fragments
                  | "GroupFragmentsByShard" >> beam.GroupByKey()
                  | "MergeShards" >> beam.ParDo(MergeShard(self.output, self.dataset_bytes), tokenizer=info))
        return faults.after(merged, "MergeShards")
