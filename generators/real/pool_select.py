"""Which clusters and rows of a pool each split takes, from the cluster of every pool row (pure numpy).

1. The clusters are put in the order of a keyed permutation (seed). The first ``splits.test_unseen.instructions``
   are the unseen-test clusters: they depend on the seed and the pool only, so every run of a sweep over I is
   scored on the same unseen clusters, and no training row ever comes from one (checked, with a real error).
2. Training rows per training cluster are exact numbers (:func:`generators.plan.example_counts`, the synthetic
   tasks' distribution code: uniform, power law, explicit); ``test_seen`` rows are spread evenly over the
   training clusters that have training rows, ``validation`` rows in proportion to the training rows.
3. The training clusters are the next clusters of that order that have enough rows for their position's
   training and held-out rows (a cluster with too few is passed over, and counted).
4. Within a cluster, rows are visited in a keyed random order: held-out rows (``test_seen``, then
   ``validation``) come from its end, training rows from the rest: its first rows (``random``) or, for
   ``coreset``, the k-center greedy order over them (:mod:`generators.real.coreset`), recorded per row as
   ``coreset_rank`` so that a re-make needs no embeddings. Unseen-test rows are the first rows of their clusters,
   spread as evenly as each cluster's size allows.
5. Each split's rows are put in the order of a keyed permutation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.errors import ConfigError
from generators.plan import example_counts, instruction_weights
from generators.real.coreset import k_center_greedy
from generators.real.pool_config import PoolConfig
from generators.rng import derive_key, feistel_permute

SPLITS = ("train", "validation", "test_unseen", "test_seen")


@dataclass
class PoolPlan:
    clusters: int  # clusters in the pool
    unseen: np.ndarray  # cluster ids of test_unseen
    train: np.ndarray  # cluster ids of training, by position
    counts: np.ndarray  # training rows of each training cluster (by position)
    skipped: int  # clusters passed over for having too few rows
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # split -> pool rows, in output order
    coreset_rank: np.ndarray | None = None  # per pool row: its k-center rank in its cluster, else -1

    @property
    def roles(self) -> np.ndarray:
        """Per cluster: 0 unused, 1 training, 2 unseen test."""
        out = np.zeros(self.clusters, dtype=np.int8)
        out[self.train] = 1
        out[self.unseen] = 2
        return out


class DisjointnessError(RuntimeError):
    """A training row shares its cluster with an unseen-test row, or a row is in two splits: a bug, never input."""


def spread(total: int, caps: np.ndarray) -> np.ndarray:
    """``total`` rows spread as evenly as possible over entries with at most ``caps`` rows each (an entry that
    fills up passes its share on; remainders go to the earlier entries). Sums to less when the caps do."""
    caps = np.asarray(caps, dtype=np.int64)
    counts = np.zeros(caps.size, dtype=np.int64)
    open_ = np.arange(caps.size)
    left = int(total)
    while left > 0 and open_.size:
        share, extra = divmod(left, open_.size)
        give = share + (np.arange(open_.size) < extra)
        room = caps[open_] - counts[open_]
        full = room <= give
        if not full.any():
            counts[open_] += give
            break
        counts[open_[full]] = caps[open_[full]]
        left -= int(room[full].sum())
        open_ = open_[~full]
    return counts


def members(labels: np.ndarray, clusters: int) -> list[np.ndarray]:
    """The pool rows of each cluster, in pool order."""
    order = np.argsort(labels, kind="stable")
    return np.split(order, np.cumsum(np.bincount(labels, minlength=clusters))[:-1])


def visiting_order(cfg: PoolConfig, cluster: int, rows: np.ndarray) -> np.ndarray:
    """A cluster's rows in its keyed random order."""
    key = derive_key(cfg.seed, "pool-rows", cluster)
    return rows[feistel_permute(key, rows.size, np.arange(rows.size, dtype=np.uint64)).astype(np.int64)]


def plan_pool(cfg: PoolConfig, labels: np.ndarray, *, ranks: np.ndarray | None = None,
              embeddings: Callable[[np.ndarray], np.ndarray] | None = None,
              advance: Callable[[int], object] | None = None) -> PoolPlan:
    """The plan of a pool whose rows have cluster ``labels`` (0..m-1). ``ranks``: recorded core-set ranks (a
    re-make); else ``embeddings(rows)`` gives the rows' embeddings for core-set selection."""
    labels = np.asarray(labels, dtype=np.int64)
    m = int(labels.max()) + 1 if labels.size else 0
    tu = cfg.splits.test_unseen
    need_clusters = cfg.instructions + tu.instructions
    if m < need_clusters:
        raise ConfigError("instructions", f"the pool has {m} clusters; {cfg.instructions} training and "
                                          f"{tu.instructions} unseen-test clusters need {need_clusters}")
    order = feistel_permute(derive_key(cfg.seed, "pool-clusters"), m, np.arange(m, dtype=np.uint64)).astype(np.int64)
    by_cluster = members(labels, m)
    sizes = np.bincount(labels, minlength=m)
    unseen = order[: tu.instructions]

    counts = example_counts(cfg.train_examples, cfg.instructions, instruction_weights(cfg))
    active = np.flatnonzero(counts > 0)
    seen = np.zeros(cfg.instructions, dtype=np.int64)
    seen[active] = example_counts(cfg.splits.test_seen.examples, active.size, None) if active.size else 0
    val = example_counts(cfg.splits.validation.examples, cfg.instructions, counts.astype(np.float64)) \
        if counts.sum() else np.zeros(cfg.instructions, dtype=np.int64)
    cap = cfg.selection.candidates if cfg.selection.kind == "coreset" else 0
    if cap and cap < int(counts.max()):
        raise ConfigError("selection.candidates", f"{cap} candidates cannot give a cluster its {int(counts.max())} "
                                                  f"training rows: raise it (or 0: every row of a cluster)")
    train, skipped = [], 0
    for c in order[tu.instructions:]:
        j = len(train)
        if j == cfg.instructions:
            break
        if sizes[c] >= counts[j] + seen[j] + val[j]:
            train.append(int(c))
        else:
            skipped += 1
    if len(train) < cfg.instructions:
        need = int((counts + seen + val).max())
        raise ConfigError("instructions", f"only {len(train)} of the pool's {m} clusters (after {tu.instructions} "
                                          f"unseen-test ones) have the rows a training cluster needs here (up to "
                                          f"{need}: training, test_seen and validation rows); lower "
                                          f"examples_per_instruction or budget, the held-out splits, or clusters.k")
    plan = PoolPlan(m, unseen, np.asarray(train, dtype=np.int64), counts, skipped)
    plan.coreset_rank = np.full(labels.size, -1, dtype=np.int64) if cfg.selection.kind == "coreset" else None
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for j, c in enumerate(plan.train):
        visit = visiting_order(cfg, int(c), by_cluster[c])
        held = int(seen[j] + val[j])
        tail = visit[visit.size - held :]
        parts["test_seen"].append(tail[: seen[j]])
        parts["validation"].append(tail[seen[j] :])
        parts["train"].append(_training_rows(cfg, visit[: visit.size - held], int(counts[j]), cap, plan, ranks,
                                             embeddings, int(c)))
        if advance is not None:
            advance(1)
    if ranks is not None and plan.coreset_rank is not None and not np.array_equal(
            np.flatnonzero(ranks >= 0), np.sort(np.concatenate(parts["train"]))):
        raise ConfigError(None, "the recorded assignment ranks other rows than this config's core-set training rows: "
                                "the record does not belong to this config")
    unseen_counts = spread(tu.examples, sizes[unseen])
    if int(unseen_counts.sum()) < tu.examples:
        raise ConfigError("splits.test_unseen.examples", f"the {tu.instructions} unseen-test clusters hold "
                                                         f"{int(sizes[unseen].sum())} rows, fewer than the "
                                                         f"{tu.examples} asked for")
    for c, k in zip(unseen, unseen_counts):
        parts["test_unseen"].append(visiting_order(cfg, int(c), by_cluster[c])[:k])
    for split in SPLITS:
        rows = np.concatenate(parts[split]) if parts[split] else np.zeros(0, dtype=np.int64)
        perm = feistel_permute(derive_key(cfg.seed, "pool-order", split), rows.size, np.arange(rows.size, dtype=np.uint64))
        plan.rows[split] = rows[perm.astype(np.int64)]
    check_disjoint(plan, labels)
    return plan


def _training_rows(cfg: PoolConfig, candidates: np.ndarray, count: int, cap: int, plan: PoolPlan,
                   ranks: np.ndarray | None, embeddings, cluster: int) -> np.ndarray:
    if cfg.selection.kind == "random":
        return candidates[:count]
    cands = candidates[:cap] if cap else candidates
    if ranks is not None:  # a re-make: the recorded k-center order
        r = ranks[cands]
        picked = cands[(r >= 0) & (r < count)]
        picked = picked[np.argsort(ranks[picked], kind="stable")]
        if picked.size != count:
            raise ConfigError(None, f"the recorded assignment's core-set ranks of cluster {cluster} do not give its "
                                    f"{count} training rows: the record does not belong to this config")
    else:
        picked = cands[k_center_greedy(embeddings(cands), count)]
    plan.coreset_rank[picked] = np.arange(picked.size)
    return picked


def check_disjoint(plan: PoolPlan, labels: np.ndarray) -> None:
    """No unseen-test cluster holds a training row, and no pool row is in two splits (real errors)."""
    shared = np.intersect1d(labels[plan.rows["train"]], labels[plan.rows["test_unseen"]])
    if shared.size:
        raise DisjointnessError(f"internal error: clusters {shared[:5].tolist()} hold training and unseen-test rows")
    every = np.concatenate([plan.rows[s] for s in SPLITS])
    if np.unique(every).size != every.size:
        raise DisjointnessError("internal error: a pool row is in two splits")
