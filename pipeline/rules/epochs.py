"""The epoch rule (DESIGN.md): where each copy of each document sits in the stream.

A document d of a source with E epochs yields copies e = 0..ceil(E)-1, copy e at

    t(d, e) = (e + u(d, e)) / E,     u = uniform hash of (seed, d.id, e) in [0, 1)

in shard floor(t * N) (see ShardPlan: the cuts between shards are placed on a
histogram of the keys so every shard holds its share of tokens), ordered by t
inside the shard. For fractional E the last
copy (e = floor(E)) exists only if a second hash v(d) < frac(E), and sits at
t = (e + u * frac(E)) / E, so it stays inside [floor(E)/E, 1). Every epoch of a
source ends before its next begins, and the assignment needs no global sort.

Rehydration (FineWeb-2, Penedo et al. 2025): a source may weight each kept document by
the size of its duplicate cluster (1 + the copies dedup removed in its favour, exact
and near), with a table of (cluster-size bound, multiplier) pairs: the document gets
E_d = E * multiplier epochs, the multiplier of the largest bound not above its
cluster size, and the rule above with E_d in place of E, so its copies stay spread
over the stream.

A recipe may hold a fraction of each source's documents out as a validation split
(StreamLayout): chosen by a hash of the id (the split rule, manifests/splits.py,
which a verifier reads without the pipeline), written once in shards of their own.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

import numpy as np

from manifests.phases import PRETRAIN
from manifests.splits import TRAIN, VALIDATION, in_validation, uniform_hash


class EpochCopy(NamedTuple):
    epoch: int
    key: float   # t(d, e) in [0, 1)


def sample_key(seed: int, doc_id: str, weight: float) -> float:
    """Weighted sampling without replacement (Efraimidis and Spirakis): keep the n smallest
    keys -ln(1 - u) / weight. With weight = the source's epochs, each source's share of
    the sampled text follows its share of the stream (tokens x epochs), as the tokenizer's
    training sample should; the keys need no global pass, so Top.Smallest takes them."""
    return -math.log1p(-uniform_hash(seed, doc_id, "tokenizer")) / weight


def epoch_copies(seed: int, doc_id: str, epochs: float) -> list[EpochCopy]:
    if epochs <= 0:
        raise ValueError(f"epochs must be positive, got {epochs}")
    whole = math.floor(epochs)
    frac = epochs - whole
    copies = [EpochCopy(e, (e + uniform_hash(seed, doc_id, str(e))) / epochs) for e in range(whole)]
    if frac > 0 and uniform_hash(seed, doc_id, "partial") < frac:
        copies.append(EpochCopy(whole, (whole + uniform_hash(seed, doc_id, str(whole)) * frac) / epochs))
    return copies


def cluster_size(dedup: dict | None) -> int:
    """A kept document's duplicate cluster from its dedup groups ({method: [kept id, size]}):
    itself and the copies exact and near dedup removed in its favour."""
    dedup = dedup or {}
    return 1 + sum(dedup[m][1] - 1 for m in ("exact", "near") if m in dedup)


def rehydration_multiplier(table, cluster: int) -> float:
    """The multiplier of the largest bound in `table` ((bound, multiplier) pairs, bounds
    ascending) not above `cluster`; 1.0 below the first bound or without a table."""
    multiplier = 1.0
    for bound, value in table:
        if cluster < bound:
            break
        multiplier = float(value)
    return multiplier


def shard_count(total_tokens: int, shard_tokens: int) -> int:
    """The number of shards whose mean size is nearest the target `shard_tokens` (a target,
    not a cap): 3.29 targets' worth of tokens make 3 shards 9.6% over it, not 4 that
    are 18% under. The ratio is compared in integers, so every runner picks the same."""
    if total_tokens <= 0:
        return 0   # nothing to write (an empty validation split)
    low = max(1, total_tokens // shard_tokens)
    high = low + 1
    # |total/n - target| / target, scaled by n*target: compare |total - n*target| / n across the two
    return low if abs(total_tokens - low * shard_tokens) * high <= abs(total_tokens - high * shard_tokens) * low \
        else high


def shard_of(key: float, num_shards: int) -> int:
    return min(int(key * num_shards), num_shards - 1)


KEY_BINS = 1 << 20          # resolution of the key histogram the shard cuts are placed on
MIN_BINS_PER_SHARD = 16     # finer than this, cuts would be too coarse: equal widths instead


def key_bin(key: float) -> int:
    return min(int(key * KEY_BINS), KEY_BINS - 1)


class ShardPlan(NamedTuple):
    """How a split's stream is cut into shards. Shard i holds the keys whose bin lies in
    [cuts[i-1], cuts[i]): contiguous ranges of the stream in order, as floor(t * N)
    gives, but with each cut moved to where the tokens before it are closest to
    i/N of the total. Equal-width ranges leave shards a few percent apart by chance
    (a shard's documents are a random draw); these cuts leave them at most a bin's
    tokens apart. No cuts means equal widths."""
    num_shards: int
    cuts: tuple[int, ...] = ()

    def shard_of(self, key: float) -> int:
        if not self.cuts:
            return shard_of(key, self.num_shards)
        return bisect_right(self.cuts, key_bin(key))


def plan_shards(histogram: np.ndarray, shard_tokens: int) -> ShardPlan:
    """Tokens per key bin (len KEY_BINS) -> the shard count nearest the target and the cuts
    that balance the shards. A cut goes only just after a bin holding tokens (and
    before the last such bin), so no shard is empty; integer arithmetic throughout,
    so every runner agrees."""
    histogram = np.asarray(histogram, dtype=np.int64)
    total = int(histogram.sum())
    n = shard_count(total, shard_tokens)
    filled = np.flatnonzero(histogram)
    if n <= 1 or n * MIN_BINS_PER_SHARD > len(histogram) or len(filled) < n:
        return ShardPlan(n)
    candidates = filled[:-1] + 1                          # cut positions: just after a filled bin
    scaled = np.cumsum(histogram)[filled[:-1]] * n        # n * tokens before each candidate cut
    cuts, previous = [], -1                               # previous: index into candidates
    for i in range(1, n):
        ideal = total * i                                 # n * (i/n of the total)
        j = int(np.searchsorted(scaled, ideal))           # first candidate reaching it
        if j == len(scaled) or (j > 0 and ideal - int(scaled[j - 1]) <= int(scaled[j]) - ideal):
            j -= 1                                        # the one before is nearer
        j = min(max(j, previous + 1), len(candidates) - (n - i))   # strictly after the last cut
        cuts.append(int(candidates[j]))
        previous = j
    return ShardPlan(n, tuple(cuts))


@dataclass(frozen=True)
class StreamLayout:
    """Where every document goes: the validation split (once, never repeated) or the
    training stream (its epoch copies). Sources missing from `validation` hold none out."""
    seed: int
    epochs: Mapping[str, float]
    validation: Mapping[str, float] = field(default_factory=dict)
    rehydrate: Mapping[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)   # by source
    repo_phases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # phases of a source's repository documents
    pretrain: str = PRETRAIN    # the first phase's name

    def split(self, doc_id: str, source: str) -> str:
        return VALIDATION if in_validation(doc_id, self.validation.get(source, 0.0)) else TRAIN

    def in_phase(self, doc_id: str, source: str, repository: bool, phase: str) -> bool:
        """Whether a document trains in `phase`: a repository document (rules/repos.py) in the
        phases its source names for them, there in place of the source's files; any other
        training document in every phase."""
        phases = self.repo_phases.get(source)
        if repository:
            return phases is not None and phase in phases
        return self.split(doc_id, source) == TRAIN and (phases is None or phase not in phases)

    def multiplier(self, source: str, cluster: int) -> float:
        """The source's rehydration multiplier for a document of `cluster` copies (1 without a table)."""
        return rehydration_multiplier(self.rehydrate.get(source, ()), cluster)

    def copies(self, doc_id: str, source: str, cluster: int = 1, repository: bool = False) \
            -> tuple[str, list[EpochCopy]]:
        """(split, copies). A validation document has one copy, epoch 0, at a key of its own
        that orders the validation shards independently of the training stream; a training
        document has its source's epochs times its rehydration multiplier, none when it
        does not train in the pretraining phase (`in_phase`). Repository documents are
        made of training files only, so are never held out."""
        if not repository and self.split(doc_id, source) == VALIDATION:
            return VALIDATION, [EpochCopy(0, uniform_hash(self.seed, doc_id, VALIDATION))]
        if not self.in_phase(doc_id, source, repository, self.pretrain):
            return TRAIN, []
        return TRAIN, epoch_copies(self.seed, doc_id, self.epochs[source] * self.multiplier(source, cluster))

    def sample_key(self, doc_id: str, source: str) -> float:
        """The tokenizer sample's key: weighted by the source's epochs (1 if unlisted)."""
        return sample_key(self.seed, doc_id, self.epochs.get(source, 1.0))

    def held_out(self, doc_id: str, source: str, trained_below: float) -> bool:
        """Whether the tokenizer never saw the document: in the validation split, or keyed
        above the training sample's largest key."""
        return self.split(doc_id, source) != TRAIN or self.sample_key(doc_id, source) > trained_below
