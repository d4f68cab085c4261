"""Partitioning an instruction pool into clusters: k-means over sentence embeddings, or an existing label.

k-means runs faiss's Lloyd iterations (``faiss.Kmeans``, spherical: centroids are re-normalized each iteration,
as suits unit-normalized sentence embeddings) from scikit-learn's greedy k-means++ centres, the best of several
restarts; ``benchmarks/bench_pool.py`` chose it over scikit-learn's KMeans and MiniBatchKMeans. It is fitted on
a keyed sample of the embeddings, then every row is assigned to its nearest centroid chunk by chunk from a
disk-backed :class:`~generators.real.vectors.VectorFile`, so memory stays bounded by the sample and one chunk
whatever the pool's size.

Cluster ids are canonical: clusters are numbered 0, 1, ... in the order of their first row in the pool (sources
in config order, rows in source order), so the ids do not depend on faiss's internal numbering. A centroid no
row is nearest to is dropped. Embeddings differ in their last bits across BLAS builds, CPUs and GPUs, so an
assignment is recorded with the data rather than recomputed (:mod:`generators.real.pool`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from generators.real.vectors import VectorFile
from generators.rng import derive_key, feistel_permute

#: Rows assigned per call of the nearest-centroid search.
ASSIGN_CHUNK = 65_536


@dataclass
class Clustering:
    labels: np.ndarray  # int64, one canonical cluster id per row
    centroids: np.ndarray | None  # float32 (clusters, dim), row c = cluster c; None for label clusters
    names: list[str] | None = None  # label clusters: the label of each cluster id


def canonical(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(new labels, old id of each new id)``: ids renumbered by first appearance."""
    labels = np.asarray(labels, dtype=np.int64)
    uniq, first = np.unique(labels, return_index=True)
    old_of_new = uniq[np.argsort(first, kind="stable")]
    new_of_old = np.empty(int(uniq.max()) + 1 if uniq.size else 0, dtype=np.int64)
    new_of_old[old_of_new] = np.arange(old_of_new.size)
    return new_of_old[labels], old_of_new


def fit_sample(n: int, fit_rows: int, seed: int) -> np.ndarray:
    """The sorted rows k-means is fitted on: all of them, or a keyed sample of ``fit_rows``."""
    if n <= fit_rows:
        return np.arange(n, dtype=np.int64)
    picked = feistel_permute(derive_key(seed, "pool-kmeans-fit"), n, np.arange(fit_rows, dtype=np.uint64))
    return np.sort(picked.astype(np.int64))


def _seed(seed: int, restart: int) -> int:
    digest = hashlib.sha256(f"pool-kmeans\x1f{seed}\x1f{restart}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def kmeans(vectors: VectorFile, k: int, *, seed: int, iterations: int = 20, restarts: int = 10, fit_rows: int = 0,
           advance: Callable[[int], object] | None = None) -> Clustering:
    """Spherical k-means of the (unit-normalized) rows of ``vectors`` into at most ``k`` clusters.

    Each of ``restarts`` runs starts from greedy k-means++ centres (scikit-learn's ``kmeans_plusplus``) and runs
    ``iterations`` Lloyd iterations with faiss on the fit sample (``fit_rows`` rows, 0: 256 per cluster, faiss's
    own default); the run with the highest objective (summed cosine similarity to the nearest centroid) is kept.
    """
    # deferred: faiss and scikit-learn are the optional [semantic] extra, needed only to cluster by embeddings
    import faiss
    from sklearn.cluster import kmeans_plusplus

    n, dim = vectors.shape
    sample = vectors.take(fit_sample(n, fit_rows or 256 * k, seed))
    best, best_obj = None, -np.inf
    for r in range(restarts):
        init, _ = kmeans_plusplus(sample, k, random_state=_seed(seed, r))
        km = faiss.Kmeans(dim, k, niter=iterations, seed=_seed(seed, r), spherical=True,
                          max_points_per_centroid=max(1, -(-sample.shape[0] // k)), verbose=False)
        km.train(sample, init_centroids=np.ascontiguousarray(init, dtype=np.float32))
        if km.obj[-1] > best_obj:
            best, best_obj = km, float(km.obj[-1])
    del sample
    labels = np.empty(n, dtype=np.int64)
    for start, part in vectors.chunks(ASSIGN_CHUNK):
        _, nearest = best.index.search(np.ascontiguousarray(part), 1)
        labels[start : start + part.shape[0]] = nearest[:, 0]
        if advance is not None:
            advance(part.shape[0])
    labels, old = canonical(labels)
    return Clustering(labels, np.asarray(best.centroids, dtype=np.float32)[old])


def by_label(values: Sequence[object]) -> Clustering:
    """Clusters from a label per row (a task, category or language column): one cluster per distinct label."""
    text = np.asarray(["" if v is None else str(v) for v in values], dtype=object)
    uniq, inverse = np.unique(text, return_inverse=True)
    labels, old = canonical(inverse)
    return Clustering(labels, None, [str(uniq[o]) for o in old])


def nearest_centroid(emb: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The id of the nearest centroid (Euclidean) of each row."""
    e = np.asarray(emb, dtype=np.float32)
    c = np.asarray(centroids, dtype=np.float32)
    return np.argmin((c * c).sum(axis=1)[None, :] - 2.0 * (e @ c.T), axis=1).astype(np.int64)


def centroids_of(emb: np.ndarray, labels: np.ndarray, clusters: int) -> np.ndarray:
    """The mean embedding of each cluster (rows of ``emb`` labelled by ``labels``)."""
    sums = np.zeros((clusters, emb.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, np.asarray(emb, dtype=np.float64))
    counts = np.bincount(labels, minlength=clusters).astype(np.float64)
    return (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)
