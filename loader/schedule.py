"""Which samples form each global batch, and which each rank and worker reads (pure).

Sample i of a stream is tokens [i * seq_len, i * seq_len + seq_len + 1): inputs
and, shifted by one, labels, documents packed back to back across boundaries.
Global batches are consecutive runs of samples, sized by a BatchSchedule from
the one counter that matters, the samples consumed so far. A global batch is
therefore the same set of samples whatever the number of ranks, and resuming
from that counter with another world size or worker count continues exactly
where the stream stopped.

Inside a global batch, micro-step m covers `micro * world` consecutive samples
and rank r takes its `micro` of them (Megatron's pretraining sampler does the
same). A rank's micro-batches are numbered in order; DataLoader worker w takes
those numbered w, w + K, ..., so PyTorch's round-robin over workers hands them
back in order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class BatchSchedule:
    """Global batch size in samples, as a function of samples consumed. Without a ramp,
    always `final`. With one, `start` at first, growing by `increment` in equal steps
    over the first `ramp_samples` samples, then `final` (Megatron's
    --rampup-batch-size START INCREMENT RAMP_SAMPLES, in the same counter)."""
    final: int
    start: int | None = None
    increment: int | None = None
    ramp_samples: int = 0

    def __post_init__(self):
        if self.final < 1:
            raise ValueError("the global batch size must be at least one sample")
        if self.ramp_samples:
            if not self.start or not self.increment or (self.final - self.start) % self.increment:
                raise ValueError("a ramp needs start and increment with final - start a multiple of increment")

    @classmethod
    def in_tokens(cls, seq_len: int, final_tokens: int, start_tokens: int | None = None,
                  increment_tokens: int | None = None, ramp_tokens: int = 0) -> "BatchSchedule":
        """The same schedule stated in tokens, as large runs state it (the GPT-4 reports:
        ramped to 60M tokens per batch); every figure is rounded down to whole samples."""
        def samples(tokens):
            return None if tokens is None else tokens // seq_len
        return cls(samples(final_tokens), samples(start_tokens), samples(increment_tokens),
                   samples(ramp_tokens) or 0)

    def check_split(self, micro: int, world: int) -> None:
        """Every size the schedule can give must split evenly over micro-batches and ranks."""
        step = micro * world
        sizes = {self.final} | ({self.start, self.increment} if self.ramp_samples else set())
        if any(s % step for s in sizes):
            raise ValueError(f"batch sizes {sorted(sizes)} must be multiples of micro batch x world size = {step}")

    def size_at(self, consumed: int) -> int:
        if not self.ramp_samples or consumed >= self.ramp_samples:
            return self.final
        steps = (self.final - self.start) // self.increment
        return self.start + self.increment * (consumed * steps // self.ramp_samples)


def sample_count(total_tokens: int, seq_len: int, drop_last: bool = True) -> int:
    """Samples in a stream: each needs seq_len + 1 tokens, and consecutive samples share one.
    Without drop_last a shorter final sample takes the remainder, so every token is an
    input exactly once."""
    usable = max(total_tokens - 1, 0)
    return usable // seq_len if drop_last else -(-usable // seq_len)


def global_batches(schedule: BatchSchedule, total_samples: int, consumed: int = 0,
                   drop_last: bool = True) -> Iterator[tuple[int, int]]:
    """(first sample, size) of each global batch from `consumed` on. A final batch smaller
    than the schedule's is dropped, or kept with drop_last=False."""
    while consumed < total_samples:
        size = schedule.size_at(consumed)
        if consumed + size > total_samples:
            if drop_last:
                return
            size = total_samples - consumed
        yield consumed, size
        consumed += size


def rank_micro_batches(first: int, size: int, micro: int, world: int, rank: int) -> list[range]:
    """Rank `rank`'s micro-batches (sample ranges) of the global batch [first, first + size).
    A final partial batch leaves the last micro-step short: some ranks get less or none."""
    step = micro * world
    out = []
    for m in range(0, size, step):
        lo = first + m + rank * micro
        hi = min(lo + micro, first + size)
        if lo < hi:
            out.append(range(lo, hi))
    return out


def worker_share(index: int, worker: int, workers: int) -> bool:
    """Whether DataLoader worker `worker` of `workers` reads the rank's micro-batch `index`."""
    return index % workers == worker
