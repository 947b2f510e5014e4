"""Continuation phases: a long-context stream drawn from the same documents, and its rule.

GPT-4's reports describe pretraining at 8k tokens of context continued at 32k. A
recipe's `phases` name the pretraining stream first (today's shards) and then any
continuation phase, each its own stream of shards (`long-00000.bin`, ...). A
continuation phase follows the published recipes (Fu et al. 2024, "Data Engineering
for Scaling Language Models to 128K Context"; Gao et al. 2024, ProLong): every source
keeps its share of the pretraining stream, and inside each source long documents are
upsampled to a set share of its tokens, the rest short documents.

The rule, a pure function of the manifest's plan and each document's id and length,
so that `verify` recomputes it from the lineage maps alone:

- The phase's token target T gives source s the budget B_s = T * P_s / P (integers),
  P_s its tokens in the pretraining stream, P the stream's.
- A document of at least `long_min_tokens` tokens (EOS included) is in the source's
  long class, else in its short class. Long documents get `long_share` of B_s; short
  documents fill what is left (the whole budget when a source has no long documents).
- A class with target X over U unique tokens plans `whole` = min(X // U, max_copies)
  copies for each of its documents and one more for those whose draw
  u = uniform_hash(seed, id, "phase:<name>") falls in a bin below `cut`: the bins hold
  the class's tokens by draw, and the cut is where they sum nearest to X - whole * U.
  Filling to the nearest bin keeps each source within a document's length of its budget;
  the short class fills after the long one, so its smaller documents absorb the long
  class's rounding; when the short class cannot fill its part (too few short tokens
  under `max_copies`), the long class is planned again for what is left.
- Copy e of a document's n sits at key (e + uniform_hash(seed, id, "<name>:<e>")) / n,
  so copies spread over the phase as epochs do over pretraining; the keys order the
  phase's stream and place its shards (the same cuts as the pretraining stream's).

Nothing here imports the pipeline or Beam.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np

from manifests.splits import uniform_hash

PRETRAIN = "pretrain"     # the first phase's name when a recipe gives no phases
PHASE_BINS = 1 << 16      # resolution of the draws' token histograms the cuts are placed on
LONG, SHORT = "long", "short"
LENGTH_EDGES = (1024, 2048, 4096, 8192, 16384, 32768)   # document-length buckets' upper bounds (tokens)


class ClassPlan(NamedTuple):
    """Copies for one class of one source: `whole` each, one more below bin `cut`."""
    whole: int
    cut: int


def draw_bin(seed: int, doc_id: str, phase: str) -> int:
    """The document's draw for `phase`, as a bin of PHASE_BINS."""
    return min(int(uniform_hash(seed, doc_id, f"phase:{phase}") * PHASE_BINS), PHASE_BINS - 1)


def length_class(tokens: int, long_min_tokens: int) -> str:
    return LONG if tokens >= long_min_tokens else SHORT


def copy_count(plan: ClassPlan, seed: int, doc_id: str, phase: str) -> int:
    return plan.whole + (draw_bin(seed, doc_id, phase) < plan.cut)


def copy_keys(seed: int, doc_id: str, phase: str, n: int) -> list[float]:
    """The keys of a document's n copies in the phase's stream, copy e in [e/n, (e+1)/n)."""
    return [(e + uniform_hash(seed, doc_id, f"{phase}:{e}")) / n for e in range(n)]


def fill(histogram: np.ndarray, unique: int, target: int, max_copies: int) -> tuple[ClassPlan, int]:
    """(the class's plan, the tokens it gives): `histogram` is the class's tokens per draw
    bin, `unique` their sum. Integer arithmetic, so every runner agrees."""
    if unique <= 0 or target <= 0:
        return ClassPlan(0, 0), 0
    whole = min(target // unique, max_copies)
    rest = target - whole * unique
    if whole >= max_copies or rest <= 0:
        return ClassPlan(whole, 0), whole * unique
    cumulative = np.concatenate([[0], np.cumsum(np.asarray(histogram, dtype=np.int64))])  # tokens below bin b
    b = int(np.searchsorted(cumulative, rest))            # first cut reaching the rest
    if b > 0 and (b == len(cumulative) or rest - int(cumulative[b - 1]) <= int(cumulative[b]) - rest):
        b -= 1                                            # the one before is as near or nearer
    b = min(b, PHASE_BINS)
    return ClassPlan(whole, b), whole * unique + int(cumulative[b])


def source_budget(target_tokens: int, source_stream: int, stream: int) -> int:
    """B_s: the phase's tokens for a source with `source_stream` of the pretraining stream's `stream`."""
    return target_tokens * source_stream // stream if stream else 0


def plan_source(budget: int, long_share: float, max_copies: int, classes: Mapping[str, tuple[np.ndarray, int]]) \
        -> dict:
    """A source's plan: `classes` maps long/short to (draw histogram, unique tokens).
    Returns {"budget", "long": {whole, cut, target, tokens}, "short": {...}}."""
    out = {"budget": int(budget)}
    empty = (np.zeros(PHASE_BINS, np.int64), 0)
    long_hist, long_unique = classes.get(LONG, empty)
    short_hist, short_unique = classes.get(SHORT, empty)
    long_target = int(round(budget * long_share)) if long_unique else 0
    long_plan, long_given = fill(long_hist, long_unique, long_target, max_copies)
    short_target = max(budget - long_given, 0)
    short_plan, short_given = fill(short_hist, short_unique, short_target, max_copies)
    if short_given < short_target and long_unique:   # too few short tokens (max_copies): long ones fill in
        long_target = budget - short_given
        long_plan, long_given = fill(long_hist, long_unique, long_target, max_copies)
    out[LONG] = {"whole": long_plan.whole, "cut": long_plan.cut, "target": long_target, "tokens": long_given}
    out[SHORT] = {"whole": short_plan.whole, "cut": short_plan.cut, "target": short_target, "tokens": short_given}
    return out


def class_plan(source_plan: Mapping, cls: str) -> ClassPlan:
    record = source_plan[cls]
    return ClassPlan(int(record["whole"]), int(record["cut"]))


def phase_copy_keys(phase: Mapping, seed: int, doc_id: str, source: str, tokens: int) -> list[float]:
    """A training document's copies in a continuation phase, from the phase's manifest
    record (its `plan` and `long_min_tokens`): their keys, none when it is not drawn."""
    plan = phase["plan"].get(source)
    if plan is None:
        return []
    n = copy_count(class_plan(plan, length_class(tokens, int(phase["long_min_tokens"]))), seed, doc_id,
                   phase["name"])
    return copy_keys(seed, doc_id, phase["name"], n)


def length_bucket(tokens: int) -> str:
    """The bucket a document's length falls in: "<1k", "1k-2k", ..., ">=32k"."""
    def k(n: int) -> str:
        return f"{n // 1024}k"
    if tokens < LENGTH_EDGES[0]:
        return f"<{k(LENGTH_EDGES[0])}"
    for low, high in zip(LENGTH_EDGES, LENGTH_EDGES[1:]):
        if tokens < high:
            return f"{k(low)}-{k(high)}"
    return f">={k(LENGTH_EDGES[-1])}"


def length_buckets() -> list[str]:
    """Every bucket's label, shortest first."""
    return [length_bucket(0)] + [length_bucket(edge) for edge in LENGTH_EDGES]


def longest_document_coverage(lengths: np.ndarray, seq_len: int) -> np.ndarray:
    """For each whole sample of `seq_len` tokens of a stream (documents of `lengths`, back
    to back), the share of it that its longest document piece covers."""
    lengths = np.asarray(lengths, dtype=np.int64)
    n = int(lengths.sum()) // seq_len
    cover = np.zeros(n + 1, dtype=np.int64)
    if n == 0:
        return np.zeros(0)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    first, last = starts // seq_len, (ends - 1) // seq_len
    one = first == last
    np.maximum.at(cover, first[one], lengths[one])
    many = ~one & (lengths > 0)
    np.maximum.at(cover, first[many], (first[many] + 1) * seq_len - starts[many])
    np.maximum.at(cover, last[many], ends[many] - last[many] * seq_len)
    inside = np.zeros(n + 2, dtype=np.int64)             # samples wholly inside one document
    np.add.at(inside, first[many] + 1, 1)
    np.add.at(inside, last[many], -1)
    cover[np.cumsum(inside)[:n + 1] > 0] = seq_len
    return cover[:n] / seq_len
