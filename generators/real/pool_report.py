"""The diversity report of a pool dataset, per split, and its terminal table.

Per split: ``rows``; ``clusters`` (clusters with at least one row); ``effective_clusters`` = exp of the entropy
(in nats) of the split's rows over its clusters (equals ``clusters`` when rows are spread evenly);
``examples_per_cluster`` (min / median / mean / max over the clusters used); distinct character n-grams of a
keyed sample of instructions; instruction and completion lengths; and, from sentence embeddings of a keyed
sample of ``semantic.sample`` instructions, the Vendi score (:func:`generators.real.diversity.vendi_score`) and
the mean pairwise cosine distance (:func:`generators.real.semantic.mean_pairwise_cosine_distance`). The
embedding measures are left out, with the reason, when no embeddings are at hand (a re-make, or no model).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from generators.real.diversity import vendi_score
from generators.real.mixture import NGRAM_SAMPLE
from generators.real.semantic import mean_pairwise_cosine_distance, sample_indices
from generators.report import count_stats, distinct_ngrams


def split_report(rows: np.ndarray, labels: np.ndarray, texts: Sequence[str], completions: Sequence[str], *,
                 sample: int, seed: int, embeddings: Callable[[np.ndarray], np.ndarray] | None,
                 skipped: str | None) -> dict:
    """The report of one split (``rows``: pool row indices; ``texts`` / ``completions``: per pool row)."""
    counts = np.bincount(labels[rows]) if rows.size else np.zeros(0, dtype=np.int64)
    used = counts[counts > 0]
    stats = count_stats(used)
    out: dict = {"rows": int(rows.size), "clusters": int(used.size)}
    if rows.size:
        out["effective_clusters"] = stats["effective_instructions"]
        out["entropy_bits"] = stats["entropy_bits"]
        out["examples_per_cluster"] = stats["examples_per_instruction"]
        picked = rows[sample_indices(rows.size, NGRAM_SAMPLE, seed)]
        out["distinct_ngrams"] = distinct_ngrams([texts[i] for i in picked])
        out["distinct_ngrams_sample"] = int(picked.size)
        for name, col in (("instruction", texts), ("completion", completions)):
            lens = np.fromiter((len(col[i]) for i in rows), dtype=np.int64, count=rows.size)
            out[f"{name}_chars"] = {"mean": round(float(lens.mean()), 2), "min": int(lens.min()), "max": int(lens.max())}
    out["semantic"] = semantic_measures(rows, sample=sample, seed=seed, embeddings=embeddings, skipped=skipped)
    return out


def semantic_measures(rows: np.ndarray, *, sample: int, seed: int,
                      embeddings: Callable[[np.ndarray], np.ndarray] | None, skipped: str | None) -> dict:
    """Vendi score and mean pairwise cosine distance of a keyed sample of ``rows`` (or why they are skipped)."""
    if embeddings is None or sample == 0:
        return {"skipped": skipped or "skipped: semantic.sample is 0"}
    picked = rows[sample_indices(rows.size, sample, seed)]
    if picked.size < 2:
        return {"skipped": "skipped: fewer than two rows"}
    emb = embeddings(np.sort(picked))
    return {"sample": int(picked.size), "vendi_score": round(vendi_score(emb), 3),
            "mean_pairwise_cosine_distance": round(mean_pairwise_cosine_distance(emb), 4)}


def format_pool_report(meta: dict) -> str:
    """A terminal table of a pool dataset: its clusters, then one line per split."""
    cl = meta["clusters"]
    lines = [
        f"pool: {cl['pool_rows']} usable rows in {cl['clusters']} clusters ({cl['method']}); training clusters "
        f"{len(cl['train'])}, unseen-test clusters {len(cl['test_unseen'])} (shared: {cl['shared_clusters']}); "
        f"selection {meta['config']['selection']['kind']}",
    ]
    head = f"{'split':<12}{'rows':>8}{'clusters':>10}{'effective':>11}{'min/med/max per cl.':>22}{'distinct-4':>12}{'Vendi':>9}{'cos dist':>10}"
    lines += [head, "-" * len(head)]
    for split, r in meta["report"].items():
        e = r.get("examples_per_cluster", {})
        per = f"{e.get('min', 0)}/{e.get('median', 0):g}/{e.get('max', 0)}"
        sem = r["semantic"]
        vendi = f"{sem['vendi_score']:.1f}" if "vendi_score" in sem else "-"
        cos = f"{sem['mean_pairwise_cosine_distance']:.3f}" if "mean_pairwise_cosine_distance" in sem else "-"
        lines.append(f"{split:<12}{r['rows']:>8}{r['clusters']:>10}{r.get('effective_clusters', 0):>11.1f}{per:>22}"
                     f"{r.get('distinct_ngrams', {}).get('4', 0):>12.4f}{vendi:>9}{cos:>10}")
    skipped = {r["semantic"]["skipped"] for r in meta["report"].values() if "skipped" in r["semantic"]}
    lines += [f"embedding measures {s}" for s in sorted(skipped)]
    return "\n".join(lines)
