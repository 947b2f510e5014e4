"""Deduplicate: exact, URL and MinHash near-duplicates, as shuffles of small keys.

Documents stay in the clean parts on disk; only keys and (length, id, source)
candidates cross a shuffle, packed per bundle (transforms/packed.py) so that a
shuffle element carries many of them. Each method yields (doc id, (source, reason))
drops; a document dropped by several keeps one reason (exact, then url, then
near), so the funnel counts it once. Keys start with the document's kind (text
and code never meet) and, with `scope: source`, its source.
The output is a drop list the tokenize stage subtracts; each kept document that
won a group, with the group's size (the documents dataset's group columns, and
the manifest's histogram); and, for the rejects, each dropped document with the
id of the one kept instead and the similarity that linked them (1.0 for an exact
copy, the MinHash estimate for a near one, none for a recapture of the URL).
"""
from __future__ import annotations

import hashlib
from typing import NamedTuple, Tuple

import apache_beam as beam

from pipeline.rules.dedup import (DedupCandidate, UrlCandidate, content_hash, crawl_time, scope_of, split_duplicates,
                                  survivor_order, url_key, url_survivor_order)
from pipeline.rules.minhash import MinHashParams, NearCandidate, Signer, bucket_losers, doc_ref, estimated_similarity
from pipeline.rules.paragraphs import (DocInfo, Occurrence, ParagraphSpec, document_ref, judge, occurrences, removal,
                                      repeated)
from pipeline.transforms.common import Counters
from pipeline.transforms.packed import PackedGroupByKey

WINNERS = "winners"
REJECTS = "rejects"
INFO = "info"
INDEX = "index"
# a document dropped for several reasons keeps the first: what an earlier build holds, then this build's
PRIORITY = {"dedup/exact_prior": 0, "dedup/url_prior": 1, "dedup/near_prior": 2,
            "dedup/exact": 3, "dedup/url": 4, "dedup/near": 5, "dedup/paragraphs": 6}


class DedupOutput(NamedTuple):
    drop_list: beam.PCollection   # (doc id, (source, "dedup/<method>"))
    groups: beam.PCollection      # (kept doc id, method, size of its group), for groups with duplicates
    rejects: beam.PCollection     # audit records: a dropped doc, its reason, the kept id, the similarity
    edits: beam.PCollection       # (doc id, paragraph indexes to remove): boilerplate repeated across pages
    tallies: beam.PCollection     # (source, "dedup/<what>", n): paragraphs and their bytes removed
    index_rows: beam.PCollection  # (doc id, dedup index row) of each kept document, with `index`


class ResolveGroup(beam.DoFn):
    """One exact or URL group -> drops for all but its survivor."""

    def __init__(self, method: str, order, similarity: float | None):
        super().__init__()
        self.method, self.order, self.similarity = method, order, similarity

    def process(self, group):
        _, candidates = group
        survivor, losers = split_duplicates(candidates, self.order)
        for loser in losers:
            yield loser.id, (loser.source, f"dedup/{self.method}")
            yield beam.pvalue.TaggedOutput(WINNERS, (loser.id, (f"dedup/{self.method}", survivor.id,
                                                                 self.similarity)))


class CountDrops(beam.DoFn):
    """`dropped/dedup/<method>` counters, once per document, after the reasons are merged."""

    def setup(self):
        self.counters = Counters()

    def process(self, drop):
        self.counters.inc(f"dropped/{drop[1][1]}")
        yield drop


class SignDocuments(beam.DoFn):
    """Document -> ((*scope, band key), doc ref) per LSH band, and once, on the INFO output,
    ((doc ref,), its NearCandidate): band records stay 18 bytes, the candidate crosses once.
    With `index`, also (doc id, (band keys, sketch)) on the INDEX output, for the dedup index."""

    def __init__(self, params: MinHashParams, scope: str, index: bool = False):
        super().__init__()
        self.params, self.scope, self.index = params, scope, index

    def setup(self):
        self.signer = Signer(self.params)

    def process(self, doc):
        keys, sketch = self.signer.keys_and_sketch(doc.text)
        if not keys:
            return
        ref = doc_ref(doc.id)
        yield beam.pvalue.TaggedOutput(INFO, ((ref,), NearCandidate(len(doc.text), doc.id, doc.source, sketch)))
        if self.index:
            yield beam.pvalue.TaggedOutput(INDEX, (doc.id, (keys, sketch)))
        scope = scope_of(doc, self.scope)
        for digest in keys:
            yield (*scope, digest), ref


def bucket_members(bucket):
    """A shared bucket -> ((doc ref,), key of its member set) per member, to be joined with
    the candidates. Buckets with the same members have the same losers, so the key is a digest
    of the members: a near-copy sharing all 14 buckets with its original is judged once."""
    key, refs = bucket
    members = sorted(set(refs))
    scope = "\x1f".join(key[:-1]).encode("utf-8")    # sets in two scopes stay two sets
    member_set = hashlib.blake2b(b"\0".join([scope, *members]), digest_size=16).digest()
    for ref in members:
        yield (ref,), member_set


def candidates_in_buckets(joined):
    """A document's candidate and the member sets it is in -> ((member set,), candidate) each."""
    _, values = joined
    candidates = [v for v in values if isinstance(v, NearCandidate)]
    for member_set in sorted({v for v in values if isinstance(v, bytes)}):
        for candidate in candidates:
            yield (member_set,), candidate


def near_losers(bucket, min_similarity):
    """A bucket -> (loser id, (loser source, (length, id) of its verified better, their
    estimated similarity)) per loser."""
    _, candidates = bucket
    for loser, better in bucket_losers(candidates, min_similarity):
        similarity = round(estimated_similarity(loser.sketch, better.sketch), 4)
        yield loser.id, (loser.source, (better.length, better.id), similarity)


def best_beater(beaten):
    """Of everything that beat a document in some bucket, the best (the group it is counted in)."""
    return min(beaten, key=lambda v: (-v[1][0], v[1][1]))


class NearDuplicates(beam.PTransform):
    """Three packed shuffles: band keys -> shared buckets' doc refs; doc refs joined with
    the candidates (length, id, source, sketch); distinct member sets -> verified losers.
    Only the documents in a shared bucket reach the last two steps' output. Takes
    SignDocuments' outputs."""

    def __init__(self, params: MinHashParams):
        super().__init__()
        self.params = params

    def expand(self, signed):
        bands, infos = signed
        members = (bands
                   | "GroupByBand" >> PackedGroupByKey("dedup/near_band_bytes", min_size=2)
                   | "BucketMembers" >> beam.FlatMap(bucket_members))
        losers = ((infos, members)
                  | "GroupByDocument" >> PackedGroupByKey("dedup/near_candidate_bytes", 2, NearCandidate)
                  | "CandidatesInBuckets" >> beam.FlatMap(candidates_in_buckets)
                  | "GroupByBucket" >> PackedGroupByKey("dedup/near_bucket_bytes", 2, NearCandidate)
                  | "FindLosers" >> beam.FlatMap(near_losers, self.params.min_similarity)
                  | "BestBeater" >> beam.CombinePerKey(best_beater))
        drops = losers | "FormatNearDrops" >> beam.MapTuple(lambda loser, v: (loser, (v[0], "dedup/near")))
        winners = losers | "WinnerOfLoser" >> beam.MapTuple(lambda loser, v: (loser, ("dedup/near", v[1][1], v[2])))
        return drops, winners


class ParagraphDuplicates(beam.PTransform):
    """CCNet's paragraph dedup (pipeline/rules/paragraphs.py) as two packed shuffles of
    small records: paragraph keys -> their occurrences (20 bytes: document reference,
    position, length), and the occurrences to remove, joined by document reference with
    each document's id, source and length (sent once per document). Text documents in;
    out: the drops of documents left too short, the other documents' edits (the
    positions to remove, applied where the corpus job reads the clean parts), and
    tallies per source."""

    def __init__(self, spec: ParagraphSpec):
        super().__init__()
        self.spec = spec

    def expand(self, docs):
        spec = self.spec

        def keyed(doc):
            scope = (doc.source,) if spec.scope == "source" else ()
            for key, occurrence in occurrences(document_ref(doc.id), doc.text, spec.unit):
                yield (*scope, key), occurrence.pack()

        def removals(group):
            for occurrence in repeated(map(Occurrence.unpack, group[1]), spec.min_documents):
                yield (occurrence.ref,), occurrence.removal()

        def judged(group):
            (ref,), values = group
            info = next(DocInfo._make(v) for v in values if isinstance(v, tuple))
            return judge(info, [removal(ref, v) for v in values if isinstance(v, bytes)], spec.min_chars)

        text = docs | "KeepText" >> beam.Filter(lambda d: d.kind == "text")
        found = (text
                 | "KeyParagraphs" >> beam.FlatMap(keyed)
                 | "GroupByParagraph" >> PackedGroupByKey("dedup/paragraph_bytes", spec.min_documents)
                 | "Repeated" >> beam.FlatMap(removals))
        infos = text | "DocInfo" >> beam.Map(lambda d: ((document_ref(d.id),), (d.id, d.source, len(d.text))))
        # a document with removals has its info and at least one removal: groups of one are dropped
        verdicts = ((found, infos)
                    | "GroupByDocument" >> PackedGroupByKey("dedup/paragraph_document_bytes", 2)
                    | "Judge" >> beam.Map(judged))
        dropped = verdicts | "Dropped" >> beam.Filter(lambda v: v.drop)
        drops = dropped | "FormatDrops" >> beam.Map(lambda v: (v.doc_id, (v.source, "dedup/paragraphs")))
        # no copy is kept instead; the "winner" channel carries what was measured
        reasons = dropped | "FormatMeasured" >> beam.Map(lambda v: (v.doc_id, (
            "dedup/paragraphs", None, f"{v.doc_chars - v.removed_chars} < {spec.min_chars}")))
        edits = (verdicts | "Edited" >> beam.Filter(lambda v: not v.drop)
                 | "FormatEdits" >> beam.Map(lambda v: (v.doc_id, v.removed)))
        tallies = (verdicts
                   | "CountRemoved" >> beam.FlatMap(lambda v: [] if v.drop else [
                       ((v.source, "dedup/paragraphs_removed"), len(v.removed)),
                       ((v.source, "dedup/paragraph_chars_removed"), v.removed_chars)])
                   | "SumRemoved" >> beam.CombinePerKey(sum)
                   | "FormatTallies" >> beam.MapTuple(lambda key, n: (*key, n)))
        return drops, reasons, edits, tallies


def final_winner(item):
    """A dropped document's reason and the winners that beat it -> ((method, winner), 1) for
    the group it is counted in (its final reason), and its audit record on REJECTS."""
    doc_id, grouped = item
    if not grouped["drop"]:
        return
    source, reason = grouped["drop"][0]
    for method, winner, similarity in grouped["winner"]:
        if method == reason and winner is None:   # no copy kept instead: boilerplate removed, too little left
            yield beam.pvalue.TaggedOutput(REJECTS, {"id": doc_id, "source": source, "reason": reason,
                                                     "measured": similarity})
            return
        if method == reason:
            if not reason.endswith("_prior"):    # an earlier build's document heads no group of this build
                yield (reason.split("/", 1)[1], winner), 1
            record = {"id": doc_id, "source": source, "reason": reason, "kept": winner}
            if similarity is not None:
                record["similarity"] = similarity
            yield beam.pvalue.TaggedOutput(REJECTS, record)
            return


def kept_instead(item):
    """Audit records keyed by the id they name as kept, that id's drop (if any) and its own
    record -> the records, naming the survivor one step on where their winner was itself
    dropped (an exact copy of a page removed as a near duplicate of another): `kept` is
    then that other page, and `via` the dropped winner."""
    _, grouped = item
    own = grouped["own"]
    for record in grouped["records"]:
        if grouped["drop"] and own:
            record = {**record, "kept": own[0]["kept"], "via": record["kept"]}
        yield record


def resolve_groups(drop_list, winners):
    """(kept id, method, 1 + losers) per winning document, counting each removed document
    once, under its final reason (a near-duplicate that is also an exact copy counts under
    exact); and the removed documents' audit records."""
    joined = ({"drop": drop_list, "winner": winners}
              | "JoinWinners" >> beam.CoGroupByKey()
              | "FinalWinner" >> beam.FlatMap(final_winner).with_outputs(REJECTS, main="losers"))
    groups = (joined.losers
              | "CountLosers" >> beam.CombinePerKey(sum)
              | "GroupSize" >> beam.MapTuple(lambda key, n: (key[1], key[0], n + 1)))
    records = joined[REJECTS]
    linked = records | "WithKept" >> beam.Filter(lambda r: "kept" in r)
    alone = records | "WithoutKept" >> beam.Filter(lambda r: "kept" not in r)
    rejects = ({"records": linked | "KeyByKept" >> beam.Map(lambda r: (r["kept"], r)),
                "own": linked | "KeyByOwnId" >> beam.Map(lambda r: (r["id"], r)),
                "drop": drop_list}
               | "JoinKeptWithDrops" >> beam.CoGroupByKey()
               | "KeptInstead" >> beam.FlatMap(kept_instead))
    return groups, (rejects, alone) | "AllRejects" >> beam.Flatten()


class Deduplicate(beam.PTransform):
    """Documents -> DedupOutput. `against`: earlier builds' dedup index files, whose documents
    this build's lose to (transforms/dedup_index.py); `index`: also each kept document's
    index row, for this build's own index."""

    def __init__(self, exact: bool = True, url: bool = False, near: MinHashParams | None = None,
                 scope: str = "all", paragraphs: ParagraphSpec | None = None, against: tuple[str, ...] = (),
                 index: bool = False):
        super().__init__()
        self.exact, self.url, self.near, self.scope, self.paragraphs = exact, url, near, scope, paragraphs
        self.against, self.index = tuple(against), index

    def expand(self, docs):
        from pipeline.transforms.dedup_index import IndexRows, PriorDuplicates
        scope, drops, winners = self.scope, [], []
        signed = None
        if self.near is not None:
            signed = docs | "SignDocuments" >> beam.ParDo(SignDocuments(self.near, scope, self.index)).with_outputs(
                INFO, INDEX, main="bands")
        if self.against:
            prior_drops, prior_winners = docs | "PriorDuplicates" >> PriorDuplicates(
                list(self.against), self.exact, self.url, self.near, scope,
                None if signed is None else (signed.bands, signed[INFO]))
            drops += prior_drops
            winners += prior_winners
        if self.exact:
            outs = (docs
                    | "KeyByContent" >> beam.Map(
                        lambda d: ((*scope_of(d, scope), content_hash(d.text)),
                                   DedupCandidate(len(d.text), d.id, d.source)))
                    | "GroupByContent" >> PackedGroupByKey("dedup/exact_bytes", 2, DedupCandidate)
                    | "PickSurvivors" >> beam.ParDo(ResolveGroup("exact", survivor_order, 1.0)).with_outputs(
                        WINNERS, main="drops"))
            drops.append(outs.drops)
            winners.append(outs[WINNERS])
        if self.url:
            outs = (docs
                    | "KeepWithUrl" >> beam.Filter(lambda d: bool(d.url))
                    | "KeyByUrl" >> beam.Map(lambda d: ((*scope_of(d, scope), url_key(d.url)), UrlCandidate(
                        crawl_time(d.meta), len(d.text), d.id, d.source)))
                    | "GroupByUrl" >> PackedGroupByKey("dedup/url_bytes", 2, UrlCandidate)
                    | "PickNewest" >> beam.ParDo(ResolveGroup("url", url_survivor_order, None)).with_outputs(
                        WINNERS, main="drops"))
            drops.append(outs.drops)
            winners.append(outs[WINNERS])
        if signed is not None:
            near_drops, near_winners = (signed.bands, signed[INFO]) | "NearDuplicates" >> NearDuplicates(self.near)
            drops.append(near_drops)
            winners.append(near_winners)
        empty = docs.pipeline | "NoDedup" >> beam.Create([])   # not a pass over every document
        edits = tallies = empty
        if self.paragraphs is not None:
            paragraph_drops, measured, edits, tallies = docs | "ParagraphDuplicates" >> ParagraphDuplicates(
                self.paragraphs)
            drops.append(paragraph_drops)
            winners.append(measured)
        if not drops:
            return DedupOutput(empty, empty, empty, empty, empty, empty)
        drop_list = (drops
                     | "FlattenDrops" >> beam.Flatten().with_output_types(Tuple[str, Tuple[str, str]])
                     | "OneReasonPerDoc" >> beam.CombinePerKey(lambda rs: min(rs, key=lambda r: PRIORITY[r[1]]))
                     | "CountDrops" >> beam.ParDo(CountDrops()))
        winner_of = (winners or [empty]) | "FlattenWinners" >> beam.Flatten()
        index_rows = empty
        if self.index:
            index_rows = ((docs, drop_list, *([] if signed is None else [signed[INDEX]]))
                          | "IndexRows" >> IndexRows())
        return DedupOutput(drop_list, *resolve_groups(drop_list, winner_of), edits, tallies, index_rows)
