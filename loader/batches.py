"""CorpusLoader: micro-batches for one rank, in stream order, resumable exactly.

Each micro-batch is a dict of NumPy arrays:

    tokens        (micro, seq_len + 1)  inputs are [:, :-1], labels [:, 1:]
    position_ids  (micro, seq_len)      position inside each token's document
    loss_mask     (micro, seq_len)      0 where the input is EOS (with mask_after_eos:
                                         the next document's first token is not
                                         predicted from the last one), and on padding
    cu_seqlens    (n + 1,) int32        document pieces of the flattened (micro * seq_len)
                                         inputs, for flash-attention's varlen kernels
    max_seqlen    ()                    the longest piece
    sample_index  (micro,)              global sample numbers
    batch_end     ()                    samples consumed once this global batch is done

The state to save is {"consumed_samples": batch_end of the last global batch the
trainer finished, "fingerprint": the stream's, "seq_len", "phase"}; `CorpusLoader(...,
state=...)` continues from it with any world size or worker count.

Phases (manifests/phases.py): `CorpusLoader(out, 32768, ..., phase="long")` reads a
continuation phase's stream with the same packing and masks. A trainer moves to the next
phase by opening its loader without a state (the phase starts at its sample 0); a state
saved in one phase is refused by another phase's loader, since its sample count means
nothing there.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from loader.schedule import BatchSchedule, global_batches, rank_micro_batches, sample_count, worker_share
from loader.stream import TokenStream


def sample_arrays(stream: TokenStream, index: int, seq_len: int, mask_after_eos: bool = True) -> dict:
    """Sample `index`: its tokens (up to seq_len + 1), and for its inputs the document
    pieces (cu_seqlens), positions inside them and the loss mask."""
    start = index * seq_len
    if not 0 <= start < stream.total_tokens - 1:
        raise IndexError(f"sample {index} of {seq_len} tokens starts past the stream's {stream.total_tokens} tokens")
    tokens = stream.read(start, start + seq_len + 1)
    n = len(tokens) - 1
    inner = stream.document_starts(start + 1, start + n) - start   # documents beginning inside
    cuts = np.concatenate([[0], inner, [n]]).astype(np.int32)
    lengths = np.diff(cuts)
    positions = np.arange(n, dtype=np.int64) - np.repeat(cuts[:-1], lengths)
    mask = np.ones(n, dtype=np.float32)
    if mask_after_eos:
        mask[tokens[:-1] == stream.eos_id] = 0.0
    return {"tokens": tokens, "cu_seqlens": cuts, "position_ids": positions, "loss_mask": mask}


def collate(samples: list[dict], seq_len: int, pad_id: int) -> dict:
    """Samples -> one micro-batch; a short final sample is padded (loss mask 0) and its
    padding is a piece of its own in cu_seqlens."""
    micro = len(samples)
    tokens = np.full((micro, seq_len + 1), pad_id, dtype=samples[0]["tokens"].dtype)
    positions = np.zeros((micro, seq_len), dtype=np.int64)
    mask = np.zeros((micro, seq_len), dtype=np.float32)
    cu = [np.zeros(1, np.int32)]
    for b, s in enumerate(samples):
        n = len(s["tokens"]) - 1
        tokens[b, :n + 1] = s["tokens"]
        positions[b, :n] = s["position_ids"]
        mask[b, :n] = s["loss_mask"]
        cuts = s["cu_seqlens"][1:] + b * seq_len
        if n < seq_len:
            cuts = np.append(cuts, (b + 1) * seq_len)
        cu.append(cuts.astype(np.int32))
    cu_seqlens = np.concatenate(cu)
    return {"tokens": tokens, "position_ids": positions, "loss_mask": mask, "cu_seqlens": cu_seqlens,
            "max_seqlen": int(np.diff(cu_seqlens).max())}


class CorpusLoader:
    """One rank's micro-batches of a corpus split, from the global sample counter on."""

    def __init__(self, path: str | TokenStream, seq_len: int, micro_batch: int, schedule: BatchSchedule,
                 rank: int = 0, world_size: int = 1, split: str = "train", state: dict | None = None,
                 drop_last: bool = True, mask_after_eos: bool = True, cache_dir: str | None = None,
                 verify: bool = False, phase: str | None = None):
        """`phase`: a training phase's name (the first phase's is the "train" split); default the split."""
        if phase is not None and split != "train":
            raise ValueError(f"give a phase or a split, not both (phase {phase!r}, split {split!r})")
        if phase is not None:
            first = TokenStream.open(path, "train", cache_dir, verify) if not isinstance(path, TokenStream) else path
            phases = [p["name"] for p in first.manifest.get("phases", [])] or ["pretrain"]
            if phase not in phases:
                raise ValueError(f"no phase {phase!r} in this corpus: its phases are {phases}")
            split = "train" if phase == phases[0] else phase
            path = first if split == "train" else first.root
        self.stream = path if isinstance(path, TokenStream) else TokenStream.open(path, split, cache_dir, verify)
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        schedule.check_split(micro_batch, world_size)
        self.seq_len, self.micro, self.schedule = seq_len, micro_batch, schedule
        self.rank, self.world = rank, world_size
        self.drop_last, self.mask_after_eos = drop_last, mask_after_eos
        self.pad_id = int(self.stream.manifest["tokenizer"]["special_tokens"].get("<|pad|>", self.stream.eos_id))
        self.consumed = 0
        if state:
            if self.stream.phase and state.get("phase") and state["phase"] != self.stream.phase:
                raise ValueError(f"the saved state is of phase {state['phase']!r}, this loader reads phase "
                                 f"{self.stream.phase!r}: a new phase starts without a state (at its sample 0)")
            if state["fingerprint"] != self.stream.fingerprint:
                raise ValueError("the saved state belongs to another corpus (fingerprint differs)")
            if state.get("seq_len", seq_len) != seq_len:
                raise ValueError(f"the saved state counts samples of {state['seq_len']} tokens, not {seq_len}")
            self.consumed = int(state["consumed_samples"])
        self.total_samples = sample_count(self.stream.total_tokens, seq_len, drop_last)

    def state_dict(self, consumed_samples: int) -> dict:
        """What to save after the trainer finishes the global batch ending at `consumed_samples`
        (a micro-batch's `batch_end`)."""
        return {"consumed_samples": int(consumed_samples), "fingerprint": self.stream.fingerprint,
                "seq_len": self.seq_len, "phase": self.stream.phase}

    def micro_batches(self, worker: int = 0, workers: int = 1) -> Iterator[dict]:
        """This rank's micro-batches, or a DataLoader worker's share of them."""
        number = 0
        for first, size in global_batches(self.schedule, self.total_samples, self.consumed, self.drop_last):
            for samples in rank_micro_batches(first, size, self.micro, self.world, self.rank):
                if worker_share(number, worker, workers):
                    batch = collate([sample_arrays(self.stream, i, self.seq_len, self.mask_after_eos)
                                     for i in samples], self.seq_len, self.pad_id)
                    yield batch | {"sample_index": np.asarray(samples, np.int64), "batch_end": first + size}
                number += 1

    def __iter__(self) -> Iterator[dict]:
        return self.micro_batches()
