"""Small NumPy helpers the rules share.

`sorted_unique` exists because plain `np.unique` in NumPy 2.4 takes a hash-table
path that measured 6.3 s on 4.5M int64 here, against 0.07 s for sort-and-compare;
the rules need the sorted array for `searchsorted` anyway.
"""
from __future__ import annotations

import numpy as np


def sorted_unique(values: np.ndarray) -> np.ndarray:
    values = np.sort(values)
    if len(values) < 2:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def contains(sorted_values: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Element-wise membership of `items` in a sorted unique array."""
    if not len(sorted_values):
        return np.zeros(len(items), dtype=bool)
    i = np.searchsorted(sorted_values, items).clip(max=len(sorted_values) - 1)
    return sorted_values[i] == items
