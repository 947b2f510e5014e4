"""Dedup across builds: writing this build's dedup index, and dropping what earlier builds hold.

WriteDedupIndex: each kept document's keys (rules/dedup_index.py) -> `dedup-index/` in
the clean job's folder (published to the output): the rows of documents that dedup
did not drop, spread over partition files by a hash of the id and sorted by id, then
`index.json` with the parameters, the count and each file's sha256.

PriorDuplicates: this build's documents against earlier builds' indexes (`dedup.against`),
read as a source file by file (Beam's parquet reader; never loaded whole), joined with
this build's keys in packed shuffles (transforms/packed.py):
- exact: (scope, content hash) -> `dedup/exact_prior`, kept instead: the earlier id;
- url: (scope, normalised URL hash) -> `dedup/url_prior`;
- near: (scope, band key) -> the (new, earlier) pairs sharing a bucket; the earlier
  documents' sketches joined by their reference, then this build's by theirs; a pair
  counts when the sketches estimate at least `min_similarity`, as within a build ->
  `dedup/near_prior`, with that similarity.
An earlier build's document always wins: it is already in a corpus.
"""
from __future__ import annotations

import hashlib
import io
import json

import apache_beam as beam

from pipeline.rules.dedup import DedupCandidate, content_hash, key_scope, scope_of, url_key
from pipeline.rules.dedup_index import INDEX_FILE, SCHEMA, best_prior, index_row, partition_of
from pipeline.rules.minhash import NearCandidate, doc_ref, estimated_similarity
from pipeline.transforms import faults
from pipeline.transforms.packed import PackedGroupByKey

WINNERS = "winners"
PRIOR_MARK = b"p"     # a band record's value: 8 bytes for this build's document, b"p" + 8 for an earlier one's


class IndexRows(beam.PTransform):
    """(documents, drop list[, (id, (band keys, sketch)) from near dedup's signing]) ->
    (id, index row) of each document dedup kept."""

    def expand(self, inputs):
        docs, drop_list, *near_keys = inputs
        own = docs | "IndexKeys" >> beam.Map(lambda d: (d.id, (d.kind, d.source, len(d.text), content_hash(d.text),
                                                               url_key(d.url) if d.url else None)))
        joined = {"doc": own, "drop": drop_list, **({"near": near_keys[0]} if near_keys else {})}
        return (joined
                | "JoinKeys" >> beam.CoGroupByKey()
                | "KeptRows" >> beam.FlatMap(kept_row))


def kept_row(item):
    doc_id, grouped = item
    if grouped["drop"] or not grouped["doc"]:
        return
    kind, source, length, exact, url = grouped["doc"][0]
    near = grouped.get("near") or [([], b"")]
    bands, sketch = near[0]
    yield doc_id, index_row(doc_id, kind, source, length, exact, url, bands, sketch)


def write_partition(folder: str, partition: int, rows) -> dict:
    """One partition's rows, sorted by id -> `part-<k>.parquet` (the same bytes whatever the
    order they came in, so a retry rewrites the same file); returns its record."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems
    ordered = sorted(rows, key=lambda r: r["id"])
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(ordered, schema=SCHEMA), buffer, compression="zstd")
    data = buffer.getvalue()
    name = f"part-{partition:05d}.parquet"
    with FileSystems.create(f"{folder}/{name}") as f:
        f.write(data)
    return {"path": name, "documents": len(ordered), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_index_file(records, folder: str, params: dict) -> dict:
    """index.json: the parameters, the document count and every partition file's record."""
    from apache_beam.io.filesystems import FileSystems
    files = sorted(records, key=lambda r: r["path"])
    info = {**params, "documents": sum(r["documents"] for r in files),
            "bytes": sum(r["bytes"] for r in files), "files": files}
    with FileSystems.create(f"{folder}/{INDEX_FILE}") as f:
        f.write(json.dumps(info, indent=1, sort_keys=True).encode("utf-8"))
    return info


class WriteDedupIndex(beam.PTransform):
    """(id, index row) of kept documents -> the index folder (partition files, index.json)."""

    def __init__(self, folder: str, params: dict, partitions: int):
        super().__init__()
        self.folder, self.params, self.partitions = folder, params, partitions

    def expand(self, rows):
        folder, partitions = self.folder, self.partitions
        files = (rows
                 | "KeyByPartition" >> beam.MapTuple(lambda doc_id, row: (partition_of(doc_id, partitions), row))
                 | "GroupByPartition" >> beam.GroupByKey()
                 | "WritePartition" >> beam.MapTuple(lambda k, part: write_partition(folder, k, part)))
        written = (files
                   | "AllFiles" >> beam.combiners.ToList()
                   | "WriteIndexFile" >> beam.Map(write_index_file, folder, self.params))
        return faults.after(written, "WriteDedupIndex")


def read_index_rows(pbegin, files: list[str], label: str):
    return (pbegin
            | f"List{label}" >> beam.Create(files)
            | f"Read{label}" >> beam.io.ReadAllFromParquet())


def prior_matches(method: str):
    """A key's group of this build's candidates (tuples) and earlier ids (str) -> a drop and
    its winner for each of this build's documents in a group that holds an earlier one."""
    reason = f"dedup/{method}_prior"
    similarity = 1.0 if method == "exact" else None

    def matches(group):
        _, values = group
        earlier = sorted(v for v in values if isinstance(v, str))
        if not earlier:
            return
        for candidate in sorted({DedupCandidate._make(v) for v in values if isinstance(v, tuple)}):
            yield candidate.id, (candidate.source, reason)
            yield beam.pvalue.TaggedOutput(WINNERS, (candidate.id, (reason, earlier[0], similarity)))
    return matches


def bucket_pairs(bucket):
    """A band bucket -> ((earlier ref,), this build's ref) for each pair across the builds."""
    _, values = bucket
    earlier = {v[1:] for v in values if v[:1] == PRIOR_MARK and len(v) == 9}
    mine = {v for v in values if len(v) == 8}
    for prior in sorted(earlier):
        for ref in sorted(mine):
            yield (prior,), ref


def earlier_candidates(group):
    """An earlier document's candidate and the refs of this build's documents that share a
    bucket with it -> (this build's ref, the earlier candidate) each."""
    _, values = group
    candidates = [NearCandidate._make(v) for v in values if isinstance(v, tuple)]
    for ref in sorted({v for v in values if isinstance(v, bytes)}):
        for candidate in candidates:
            yield ref, candidate


def near_prior_drops(item, min_similarity):
    _, grouped = item
    earlier = sorted(set(grouped["earlier"]))
    for doc in grouped["mine"]:
        matches = []
        for candidate in earlier:
            similarity = round(estimated_similarity(doc.sketch, candidate.sketch), 4)
            if min_similarity is None or similarity >= min_similarity:
                matches.append((candidate.id, similarity))
        if matches:
            kept, similarity = best_prior(matches)
            yield doc.id, (doc.source, "dedup/near_prior")
            yield beam.pvalue.TaggedOutput(WINNERS, (doc.id, ("dedup/near_prior", kept, similarity)))


class PriorDuplicates(beam.PTransform):
    """This build's documents (and, with near dedup, their signed bands and candidates)
    against the earlier builds' index files -> (drops, winners) per method."""

    def __init__(self, files: list[str], exact: bool, url: bool, near, scope: str, signed=None):
        super().__init__()
        self.files, self.exact, self.url, self.near, self.scope, self.signed = files, exact, url, near, scope, signed

    def expand(self, docs):
        scope, drops, winners = self.scope, [], []
        rows = read_index_rows(docs.pipeline, self.files, "Index")   # read once, for every method
        if self.exact:
            mine = docs | "KeyByContent" >> beam.Map(lambda d: ((*scope_of(d, scope), content_hash(d.text)),
                                                                 DedupCandidate(len(d.text), d.id, d.source)))
            earlier = (rows
                       | "EarlierContent" >> beam.Map(lambda r: ((*key_scope(r["kind"], r["source"], scope),
                                                                  r["exact"]), r["id"])))
            outs = ((mine, earlier) | "GroupByContent" >> PackedGroupByKey("dedup/exact_prior_bytes", 2)
                    | "MatchContent" >> beam.FlatMap(prior_matches("exact")).with_outputs(WINNERS, main="drops"))
            drops.append(outs.drops)
            winners.append(outs[WINNERS])
        if self.url:
            mine = (docs | "KeepWithUrl" >> beam.Filter(lambda d: bool(d.url))
                    | "KeyByUrl" >> beam.Map(lambda d: ((*scope_of(d, scope), url_key(d.url)),
                                                        DedupCandidate(len(d.text), d.id, d.source))))
            earlier = (rows
                       | "EarlierUrls" >> beam.FlatMap(lambda r: [((*key_scope(r["kind"], r["source"], scope),
                                                                    r["url"]), r["id"])] if r["url"] else []))
            outs = ((mine, earlier) | "GroupByUrl" >> PackedGroupByKey("dedup/url_prior_bytes", 2)
                    | "MatchUrl" >> beam.FlatMap(prior_matches("url")).with_outputs(WINNERS, main="drops"))
            drops.append(outs.drops)
            winners.append(outs[WINNERS])
        if self.near is not None:
            bands, infos = self.signed
            earlier_bands = rows | "EarlierBands" >> beam.FlatMap(lambda r: [
                ((*key_scope(r["kind"], r["source"], scope), band), PRIOR_MARK + doc_ref(r["id"]))
                for band in r["bands"]])
            earlier_infos = rows | "EarlierCandidates" >> beam.FlatMap(lambda r: [
                ((doc_ref(r["id"]),), NearCandidate(r["length"], r["id"], r["source"], r["sketch"]))] if r["bands"]
                else [])
            pairs = ((bands, earlier_bands)
                     | "GroupByBand" >> PackedGroupByKey("dedup/near_prior_band_bytes", 2)
                     | "PairsAcrossBuilds" >> beam.FlatMap(bucket_pairs))
            found = ((pairs, earlier_infos)
                     | "GroupByEarlier" >> PackedGroupByKey("dedup/near_prior_candidate_bytes", 2)
                     | "EarlierCandidatesOfMine" >> beam.FlatMap(earlier_candidates))
            mine = infos | "KeyMine" >> beam.MapTuple(lambda key, candidate: (key[0], candidate))
            outs = ({"mine": mine, "earlier": found}
                    | "JoinMine" >> beam.CoGroupByKey()
                    | "VerifyNear" >> beam.FlatMap(near_prior_drops, self.near.min_similarity).with_outputs(
                        WINNERS, main="drops"))
            drops.append(outs.drops)
            winners.append(outs[WINNERS])
        return drops, winners


def open_indexes(spec) -> list[dict]:
    """The earlier builds' indexes a recipe's `dedup.against` names, each {path, sha256 (of its
    index.json, which lists every file's sha256), documents, files (full paths)}, checked
    against this recipe's dedup settings. Runs before any work: a missing index is
    FileNotFoundError, an incompatible one IndexMismatch."""
    from apache_beam.io.filesystems import FileSystems

    from pipeline.rules.dedup_index import INDEX_DIR, check_compatible, index_params
    wanted = index_params(spec.exact, spec.url, spec.near, spec.scope)
    out = []
    for path in spec.against:
        folder = next((f for f in (path, f"{path}/{INDEX_DIR}") if FileSystems.exists(f"{f}/{INDEX_FILE}")), None)
        if folder is None:
            raise FileNotFoundError(f"dedup.against: no dedup index at {path} (no {INDEX_FILE} there or in "
                                    f"{path}/{INDEX_DIR})")
        with FileSystems.open(f"{folder}/{INDEX_FILE}") as f:
            data = f.read()
        info = json.loads(data)
        check_compatible(path, info, wanted)
        out.append({"path": folder, "sha256": hashlib.sha256(data).hexdigest(), "documents": info["documents"],
                    "files": [f"{folder}/{record['path']}" for record in info["files"]]})
    return out
