"""Diversity measures of a set of instructions from their sentence embeddings, and a 2-D map of clusters.

- ``vendi_score``: the Vendi score (Friedman and Dieng, "The Vendi Score: A Diversity Evaluation Metric for
  Machine Learning", TMLR 2023) with the cosine-similarity kernel: ``exp(-sum_i l_i log l_i)`` over the
  eigenvalues ``l_i`` of ``K / n``, ``K_ij = e_i . e_j`` for unit-normalized embeddings. It is the effective
  number of distinct items: 1 for n copies of one text, n for n mutually orthogonal ones. The nonzero eigenvalues
  of ``E E^T / n`` are those of ``E^T E / n`` (d x d), which is what is decomposed.
- ``cluster_map``: the first two principal components of the cluster centroids (their mean-centred SVD), each
  axis' sign fixed so that its largest loading is positive: a deterministic 2-D picture of how the clusters lie.
"""

from __future__ import annotations

import numpy as np


def vendi_score(emb: np.ndarray) -> float:
    """The Vendi score of the rows of ``emb`` under the cosine-similarity kernel (rows are normalized here)."""
    e = np.asarray(emb, dtype=np.float64)
    n = e.shape[0]
    if n == 0:
        raise ValueError("need at least one embedding")
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(e.T @ e / n)
    lam = lam[lam > 1e-12]
    return float(np.exp(-(lam * np.log(lam)).sum()))


def cluster_map(centroids: np.ndarray) -> np.ndarray:
    """(clusters, 2) coordinates: the centroids projected on their first two principal components."""
    c = np.asarray(centroids, dtype=np.float64)
    if c.shape[0] < 2:
        return np.zeros((c.shape[0], 2))
    centred = c - c.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(axes.shape[0]), np.abs(axes).argmax(axis=1)])
    xy = centred @ (axes * signs[:, None]).T
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
