"""Core-set selection: the k-center greedy algorithm (Sener and Savarese, "Active Learning for Convolutional Neural
Networks: A Core-Set Approach", ICLR 2018), as used to pick diverse general-domain rows in the generalist
experiment of arXiv 2410.04717.

Starting from one chosen row, each step picks the row farthest (Euclidean distance between embeddings) from
every row picked so far, i.e. the row maximizing its distance to the nearest picked row; ties go to the lower
index. The first ``m`` picks form a 2-approximation of the minimax-cover of the rows by ``m`` balls. One step
costs one matrix-vector product over the candidates: ``m`` picks from ``n`` rows of dimension ``d`` take
``O(n m d)`` operations.
"""

from __future__ import annotations

import numpy as np


def k_center_greedy(emb: np.ndarray, count: int, first: int = 0) -> np.ndarray:
    """The indices of the first ``count`` rows of ``emb`` in k-center greedy order, starting at row ``first``."""
    x = np.asarray(emb, dtype=np.float32)
    n = x.shape[0]
    count = min(count, n)
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    sq = (x * x).sum(axis=1)
    order = np.empty(count, dtype=np.int64)
    order[0] = first
    nearest = np.maximum(sq + sq[first] - 2.0 * (x @ x[first]), 0.0)
    for step in range(1, count):
        pick = int(np.argmax(nearest))  # the first of equal maxima: ties go to the lower index
        order[step] = pick
        np.minimum(nearest, np.maximum(sq + sq[pick] - 2.0 * (x @ x[pick]), 0.0), out=nearest)
    return order
