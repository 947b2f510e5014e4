"""A thin PyTorch layer over CorpusLoader: an IterableDataset and its DataLoader.

Needs the `[torch]` extra. Each DataLoader worker builds its own CorpusLoader and
reads every K-th micro-batch of the rank (loader/schedule.py), and PyTorch hands
the workers' outputs back round-robin, so the trainer sees the rank's
micro-batches in stream order whatever `num_workers` is. Tokens arrive as int64
(what embedding lookups take), masks as float32, cu_seqlens as int32 as
flash-attention's varlen kernels want them; pinned when CUDA is there.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from loader.batches import CorpusLoader

DTYPES = {"tokens": np.int64, "position_ids": np.int64, "loss_mask": np.float32, "cu_seqlens": np.int32,
          "sample_index": np.int64}


def to_tensors(batch: dict) -> dict:
    """NumPy arrays -> tensors of the dtypes above; scalars stay ints."""
    return {key: torch.from_numpy(np.ascontiguousarray(value, dtype=DTYPES[key])) if key in DTYPES else int(value)
            for key, value in batch.items()}


class CorpusDataset(IterableDataset):
    """Micro-batches of one rank as dicts of tensors; `CorpusLoader`'s arguments."""

    def __init__(self, path: str, seq_len: int, micro_batch: int, schedule, **options):
        super().__init__()
        self.args = dict(path=path, seq_len=seq_len, micro_batch=micro_batch, schedule=schedule, **options)

    def loader(self) -> CorpusLoader:
        return CorpusLoader(**self.args)

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for batch in self.loader().micro_batches(worker, workers):
            yield to_tensors(batch)


def corpus_data_loader(dataset: CorpusDataset, num_workers: int = 2, prefetch_factor: int | None = 2,
                       pin_memory: bool | None = None) -> DataLoader:
    """The DataLoader to train from: batches are already made (batch_size=None)."""
    return DataLoader(dataset, batch_size=None, num_workers=num_workers,
                      prefetch_factor=prefetch_factor if num_workers else None,
                      pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
                      persistent_workers=False)
