"""Instruction pools: I semantic clusters x S rows of a real instruction pool, whole clusters held out as unseen.

How a pool dataset is made (``datagen generate`` of a ``task: pool`` config, :mod:`generators.real.pool_config`):

1. Each source is loaded and mapped to (instruction, response) pairs as for mixtures
   (:mod:`generators.real.sources`); its rows are visited in source order and kept unless empty, contaminated or
   an exact or near duplicate of a row kept before (the mixtures' filters). ``pool_rows`` caps the pool at a
   keyed sample of the usable rows.
2. Every pool row gets a cluster: k-means over sentence embeddings of its instruction
   (:mod:`generators.real.embed`, :mod:`generators.real.clusters`; embeddings are streamed in chunks into a
   disk-backed array, so a pool of millions of rows embeds and clusters in bounded memory, with progress), or
   the value of a label column, or its source.
3. :mod:`generators.real.pool_select` picks the unseen-test clusters, the training clusters and every split's
   rows (random or core-set selection within clusters).
4. The splits are written as parquet (``data/<split>-*.parquet``: ``id``, ``source``, ``source_index``,
   ``cluster_id``, ``instruction``, ``prompt``, ``completion``), with ``datagen.json``, the card and the record of
   what cannot be recomputed bit-exactly on another machine: ``clusters/assignment.parquet`` (the cluster and
   core-set rank of every pool row), the centroids (``clusters/centroids.npy``) and the 2-D map
   (``clusters/map.svg``), each listed with its SHA-256 in ``datagen.json`` (``extra_files``).

Determinism: the same config and sources give the same rows and fingerprint on one machine. Embeddings (and so
k-means) can differ in their last bits across BLAS builds, CPUs and GPUs; a re-make (``datagen verify``) therefore
reads the recorded assignment instead of clustering again, which gives the same rows anywhere, and separately
reports how far re-embedding here agrees with it (the share of sampled rows nearest to their recorded cluster's
centroid).
"""

from __future__ import annotations

import importlib.util
import io
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from cards.pool_card import map_svg, write_pool_card
from core.atomic import atomic_folder, check_output
from core.errors import ConfigError
from core.metadata import read_metadata, write_metadata
from core.safeio import read_hashed
from generators.build import file_hashes
from generators.real import embed as embedding
from generators.real.clusters import Clustering, by_label, canonical, centroids_of, kmeans, nearest_centroid
from generators.real.diversity import cluster_map
from generators.real.mixture import (
    RowFilters,
    declared_origin,
    filter_meta,
    load_decontamination,
    metadata_head,
    write_split,
)
from generators.real.pool_config import PoolConfig, locate_source
from generators.real.pool_report import split_report
from generators.real.pool_select import SPLITS, PoolPlan, plan_pool
from generators.real.semantic import sample_indices
from generators.real.sources import LoadedSource, load_source
from generators.real.vectors import VectorFile
from generators.rng import derive_key, feistel_permute

#: Bumped whenever the rows made for a given config, sources and recorded assignment change.
POOL_VERSION = "1.0"
ASSIGNMENT_FILE = "clusters/assignment.parquet"
CENTROIDS_FILE = "clusters/centroids.npy"
MAP_FILE = "clusters/map.svg"
SCHEMA = pa.schema([("id", pa.int64()), ("source", pa.string()), ("source_index", pa.int64()),
                    ("cluster_id", pa.int64()), ("instruction", pa.string()), ("prompt", pa.string()),
                    ("completion", pa.string())])
ASSIGNMENT_SCHEMA = pa.schema([("source", pa.string()), ("source_index", pa.int64()), ("cluster", pa.int64()),
                               ("coreset_rank", pa.int64())])
_FILTER_CHUNK = 1024
#: Pool rows re-embedded by ``datagen verify`` to report agreement with the recorded clusters.
AGREEMENT_SAMPLE = 500


@dataclass
class Pool:
    """The usable rows of the sources, in pool order (sources in config order, rows in source order)."""

    sources: list[LoadedSource]
    source: np.ndarray  # position of each pool row's source in the config
    index: np.ndarray  # each pool row's row in its source
    stats: list[Counter]  # per source: what the filters removed
    usable: list[int]  # per source: rows that passed the filters (before the pool_rows cap)

    def __len__(self) -> int:
        return int(self.source.size)

    def texts(self) -> list[str]:
        return [self.sources[s].instructions[i] for s, i in zip(self.source.tolist(), self.index.tolist())]

    def completions(self) -> list[str]:
        return [self.sources[s].completions[i] for s, i in zip(self.source.tolist(), self.index.tolist())]

    def names(self) -> np.ndarray:
        return np.asarray([src.cfg.name for src in self.sources], dtype=object)[self.source]


def build_pool(cfg: PoolConfig, out_dir: str | Path, *, overwrite: bool = False, progress: bool = True,
               recorded: str | Path | None = None, agreement_sample: int = 0, scratch: str | Path | None = None) -> dict:
    """Make the pool dataset of ``cfg`` into ``out_dir``; returns its metadata (also in datagen.json).

    ``recorded``: a dataset folder whose recorded assignment is used instead of clustering (a re-make; its file
    must match the SHA-256 that folder's datagen.json records); ``agreement_sample`` rows are then re-embedded here
    and compared with it (``meta["reembedding"]``). ``scratch``: a folder for the embeddings file (default: a
    temporary folder, removed at the end); ``meta["stage_seconds"]`` says where the time went."""
    out_dir = Path(out_dir)
    check_output(out_dir, overwrite)
    t0 = time.perf_counter()
    if not recorded and cfg.needs_embeddings:  # before any source is read
        reason = embedding.unavailable_reason(cfg.clusters.model, cfg.clusters.revision) or _faiss_missing(cfg)
        if reason:
            raise ConfigError("clusters.kind" if cfg.clusters.kind == "kmeans" else "selection.kind",
                              f"{cfg.clusters.kind} clusters / {cfg.selection.kind} selection need sentence embeddings, "
                              f"{reason.removeprefix('skipped: ')}; or cluster by a label column (clusters.kind: column) "
                              f"with random selection")
    stages = Stopwatch()
    benchmarks, not_checked, decontaminator = load_decontamination(cfg.decontamination)
    label_column = cfg.clusters.column if cfg.clusters.kind == "column" else None
    for src in cfg.sources:  # a re-make names a local file by its name: the working directory, or shipped data
        if src.path:
            src.path = locate_source(src.path)
    sources = [load_source(src, f"sources[{i}]", progress, label_column) for i, src in enumerate(cfg.sources)]
    stages.lap("load")
    pool = usable_rows(cfg, sources, RowFilters(cfg, decontaminator), progress)
    texts, completions = pool.texts(), pool.completions()
    stages.lap("filter")
    with tempfile.TemporaryDirectory(prefix="datagen-pool-") as tmp_scratch:
        if recorded:
            clustering, ranks, agreement = _read_record(cfg, recorded, pool, texts, agreement_sample)
            emb, why = None, "not computed when re-making (verify compares the rows)"
        else:
            clustering, emb = cluster_pool(cfg, pool, texts, Path(scratch or tmp_scratch), progress, stages)
            ranks, agreement, why = None, None, embedding.unavailable_reason(cfg.clusters.model, cfg.clusters.revision)
        stages.lap("record" if recorded else "cluster")
        bar = tqdm(total=cfg.instructions, unit="clusters", disable=not progress, desc="select")
        try:
            plan = plan_pool(cfg, clustering.labels, ranks=ranks, embeddings=emb, advance=bar.update)
        finally:
            bar.close()
        stages.lap("select")
        report = {split: split_report(plan.rows[split], clustering.labels, texts, completions,
                                      sample=cfg.semantic.sample, seed=cfg.seed, embeddings=emb, skipped=why)
                  for split in SPLITS if plan.rows[split].size}
        xy = _map(cfg, clustering, emb, len(pool))
        stages.lap("report")
        with atomic_folder(out_dir) as tmp:
            splits = {split: write_split(_table(cfg, pool, plan.rows[split], clustering.labels, texts, completions),
                                         tmp, cfg.shard_rows, split)
                      for split in SPLITS if plan.rows[split].size}
            extra = _write_record(tmp, pool, clustering, plan, xy, recorded)
            meta = _metadata(cfg, pool, clustering, plan, splits, report, xy, benchmarks, not_checked)
            meta["extra_files"] = extra
            if agreement is not None:
                meta["reembedding"] = agreement
            meta["generation_seconds"] = round(time.perf_counter() - t0, 3)
            file_hashes(tmp, meta)
            stages.lap("write")
            meta["stage_seconds"] = stages.seconds
            write_metadata(tmp, meta)
            if not recorded:
                write_pool_card(tmp, meta)
    meta["elapsed_s"] = time.perf_counter() - t0
    return meta


class Stopwatch:
    """Seconds per stage of a build, in order (``lap(name)`` closes the stage that ran since the last lap)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._last, 3)
        self._last = now


def _faiss_missing(cfg: PoolConfig) -> str | None:
    """Why k-means cannot run here (None when it can)."""
    for module, dist in (("faiss", "faiss-cpu"), ("sklearn", "scikit-learn")):
        if cfg.clusters.kind == "kmeans" and importlib.util.find_spec(module) is None:
            return f"skipped: the {dist} package is not installed (pip install 'instruction-diversity[semantic]')"
    return None


def usable_rows(cfg: PoolConfig, sources: list[LoadedSource], filters: RowFilters, progress: bool) -> Pool:
    """Every source's rows that pass the filters, in source order (the first of duplicates is kept)."""
    src_pos, idx, stats, usable = [], [], [], []
    total = sum(s.rows for s in sources)
    with tqdm(total=total, unit="rows", disable=not progress, desc="filter") as bar:
        for s, src in enumerate(sources):
            st: Counter = Counter()
            kept: list[int] = []
            for start in range(0, src.rows, _FILTER_CHUNK):
                chunk = list(range(start, min(src.rows, start + _FILTER_CHUNK)))
                got, _ = filters.visit(src, chunk, st, len(chunk))
                kept.extend(got)
                bar.update(len(chunk))
            src_pos.append(np.full(len(kept), s, dtype=np.int64))
            idx.append(np.asarray(kept, dtype=np.int64))
            stats.append(st)
            usable.append(len(kept))
    source, index = np.concatenate(src_pos), np.concatenate(idx)
    if cfg.pool_rows and source.size > cfg.pool_rows:
        keep = np.sort(feistel_permute(derive_key(cfg.seed, "pool-rows-cap"), source.size,
                                       np.arange(cfg.pool_rows, dtype=np.uint64)).astype(np.int64))
        source, index = source[keep], index[keep]
    if source.size == 0:
        raise ConfigError("sources", "no usable rows (every row is empty, contaminated or a duplicate)")
    return Pool(sources, source, index, stats, usable)


def cluster_pool(cfg: PoolConfig, pool: Pool, texts: list[str], scratch: Path, progress: bool,
                 stages: Stopwatch) -> tuple[Clustering, Callable[[np.ndarray], np.ndarray] | None]:
    """The clusters of the pool and a function giving embeddings of pool rows (None when no model is at hand)."""
    c = cfg.clusters
    if c.kind == "kmeans":
        vectors = VectorFile(scratch / "embeddings.f32", embedding.dimension(c.model, c.revision))
        with tqdm(total=len(pool), unit="rows", disable=not progress, desc="embed") as bar:
            for chunk in embedding.embed_stream(texts, batch_size=c.batch_size, model=c.model, revision=c.revision):
                vectors.append(chunk)
                bar.update(chunk.shape[0])
        stages.lap("embed")
        with tqdm(total=len(pool), unit="rows", disable=not progress, desc="cluster") as bar:
            clustering = kmeans(vectors, c.k, seed=cfg.seed, iterations=c.iterations, restarts=c.restarts,
                                fit_rows=c.fit_rows, advance=bar.update)
        stages.lap("cluster")
        return clustering, vectors.take
    if c.kind == "column":
        values = [pool.sources[s].labels[i] for s, i in zip(pool.source.tolist(), pool.index.tolist())]
        clustering = by_label(values)
    else:
        labels, old = canonical(pool.source)
        clustering = Clustering(labels, None, [pool.sources[int(o)].cfg.name for o in old])
    if embedding.unavailable_reason(c.model, c.revision) is not None:
        return clustering, None
    return clustering, lambda rows: embedding.embed([texts[i] for i in rows], batch_size=c.batch_size,
                                                    model=c.model, revision=c.revision)


def _map(cfg: PoolConfig, clustering: Clustering, emb, n: int) -> np.ndarray | None:
    """2-D coordinates of the clusters: from the centroids, or for label clusters from the mean embedding of a keyed
    sample of ``semantic.sample`` pool rows (clusters missing from the sample get NaN; None without embeddings)."""
    if clustering.centroids is not None:
        return cluster_map(clustering.centroids)
    if emb is None or cfg.semantic.sample == 0:
        return None
    m = int(clustering.labels.max()) + 1
    rows = np.sort(sample_indices(n, cfg.semantic.sample, cfg.seed))
    labels = clustering.labels[rows]
    centroids = centroids_of(emb(rows), labels, m)
    present = np.bincount(labels, minlength=m) > 0
    xy = np.full((m, 2), np.nan)
    xy[present] = cluster_map(centroids[present])
    return xy


def _table(cfg: PoolConfig, pool: Pool, rows: np.ndarray, labels: np.ndarray, texts: list[str],
           completions: list[str]) -> pa.Table:
    names = pool.names()
    return pa.table([
        pa.array(np.arange(rows.size, dtype=np.int64)),
        pa.array(names[rows].tolist(), pa.string()),
        pa.array(pool.index[rows]),
        pa.array(labels[rows]),
        pa.array([texts[i] for i in rows], pa.string()),
        pa.array([cfg.prompt_template.format(instruction=texts[i]) for i in rows], pa.string()),
        pa.array([completions[i] for i in rows], pa.string()),
    ], schema=SCHEMA)


def _write_record(root: Path, pool: Pool, clustering: Clustering, plan: PoolPlan, xy, recorded) -> dict[str, str]:
    """Write the assignment (and the centroids and map, when there are any); returns ``{file: sha256}``."""
    (root / "clusters").mkdir()
    ranks = plan.coreset_rank if plan.coreset_rank is not None else np.full(len(pool), -1, dtype=np.int64)
    table = pa.table([pa.array(pool.names().tolist(), pa.string()), pa.array(pool.index),
                      pa.array(clustering.labels), pa.array(ranks)], schema=ASSIGNMENT_SCHEMA)
    pq.write_table(table, root / ASSIGNMENT_FILE, compression="zstd", use_dictionary=["source"])
    files = [ASSIGNMENT_FILE]
    if clustering.centroids is not None and not recorded:
        buf = io.BytesIO()
        np.save(buf, clustering.centroids, allow_pickle=False)
        (root / CENTROIDS_FILE).write_bytes(buf.getvalue())
        files.append(CENTROIDS_FILE)
    if xy is not None:
        (root / MAP_FILE).write_text(map_svg(xy, plan.roles, np.bincount(clustering.labels)), encoding="utf-8")
        files.append(MAP_FILE)
    return {f: read_hashed(root, f)[0] for f in files}


def _read_record(cfg: PoolConfig, folder: str | Path, pool: Pool, texts: list[str],
                 agreement_sample: int) -> tuple[Clustering, np.ndarray | None, dict | None]:
    """The recorded clusters and core-set ranks of ``folder`` (checked against its datagen.json's SHA-256 and
    against this pool's rows), and how far re-embedding agrees with them."""
    from_meta = _recorded_meta(folder)
    with tempfile.TemporaryDirectory(prefix="datagen-pool-record-") as tmp:
        copies = {}
        for f in (ASSIGNMENT_FILE, CENTROIDS_FILE):
            if f not in from_meta:
                continue
            try:
                sha, _ = read_hashed(folder, f, Path(tmp) / Path(f).name)
            except (OSError, ConfigError) as exc:
                raise ConfigError(None, f"{f} (the recorded clusters) cannot be read: {exc}") from None
            if sha != from_meta[f]:
                raise ConfigError(None, f"{f} (the recorded clusters) has SHA-256 {sha[:16]}, datagen.json records "
                                        f"{from_meta[f][:16]}: the record was changed, so the data cannot be re-made")
            copies[f] = Path(tmp) / Path(f).name
        if ASSIGNMENT_FILE not in copies:
            raise ConfigError(None, f"datagen.json lists no {ASSIGNMENT_FILE} (the recorded clusters): cannot re-make")
        try:
            table = pq.read_table(copies[ASSIGNMENT_FILE])
            centroids = np.load(copies[CENTROIDS_FILE], allow_pickle=False) if CENTROIDS_FILE in copies else None
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise ConfigError(None, f"the recorded clusters cannot be read: {exc}") from None
    if table.schema.names != ASSIGNMENT_SCHEMA.names or table.num_rows != len(pool) \
            or table.column("source").to_pylist() != pool.names().tolist() \
            or not np.array_equal(table.column("source_index").to_numpy(), pool.index):
        raise ConfigError(None, f"{ASSIGNMENT_FILE} does not list this pool's usable rows (a changed source, or a "
                                f"record of other data): cannot re-make")
    labels = table.column("cluster").to_numpy().astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ConfigError(None, f"{ASSIGNMENT_FILE} holds a negative cluster id: cannot re-make")
    ranks = table.column("coreset_rank").to_numpy().astype(np.int64) if cfg.selection.kind == "coreset" else None
    agreement = reembedding_agreement(cfg, labels, centroids, texts, agreement_sample) if agreement_sample else None
    return Clustering(labels, centroids), ranks, agreement


def _recorded_meta(folder: str | Path) -> dict[str, str]:
    """``{file: sha256}`` of the record files the folder's datagen.json lists."""
    return dict(read_metadata(folder).get("extra_files") or {})


def reembedding_agreement(cfg: PoolConfig, labels: np.ndarray, centroids: np.ndarray | None, texts: list[str],
                          sample: int) -> dict:
    """Re-embed a keyed sample of pool rows here and count those nearest to their recorded cluster's centroid."""
    c = cfg.clusters
    if c.kind != "kmeans" or centroids is None:
        return {"skipped": f"clusters come from {'a label column' if c.kind == 'column' else 'the sources'}: nothing "
                           f"to re-embed"}
    reason = embedding.unavailable_reason(c.model, c.revision)
    if reason is not None:
        return {"skipped": reason}
    rows = np.sort(sample_indices(labels.size, sample, cfg.seed + 1))
    here = nearest_centroid(embedding.embed([texts[i] for i in rows], batch_size=c.batch_size, model=c.model,
                                            revision=c.revision), centroids)
    agree = int((here == labels[rows]).sum())
    return {"sample": int(rows.size), "agree": agree, "share": round(agree / rows.size, 4),
            "model": embedding.model_label(c.model, c.revision)}


def _metadata(cfg: PoolConfig, pool: Pool, clustering: Clustering, plan: PoolPlan, splits: dict, report: dict,
              xy, benchmarks, not_checked) -> dict:
    sizes = np.bincount(clustering.labels)
    source_meta, contaminated = [], {}
    in_pool = np.bincount(pool.source, minlength=len(cfg.sources))
    for s, (src_cfg, src) in enumerate(zip(cfg.sources, pool.sources, strict=True)):
        st = pool.stats[s]
        removed_c = {b.name: st.get(f"contaminated:{b.name}", 0) for b in benchmarks}
        contaminated[src_cfg.name] = removed_c
        source_meta.append({
            "name": src_cfg.name, "origin": src.origin or declared_origin(src_cfg), "rows_available": src.rows,
            "fingerprint": src.fingerprint, "usable": pool.usable[s], "in_pool": int(in_pool[s]),
            "removed": {"empty": st.get("empty", 0), "contaminated": removed_c,
                        "exact_duplicate": st.get("exact_duplicate", 0), "near_duplicate": st.get("near_duplicate", 0)},
            "unmappable_rows": src.unmappable,
        })
    c = cfg.clusters
    method = {"kmeans": f"k-means (faiss, spherical) over {embedding.model_label(c.model, c.revision)} embeddings of "
                        f"the instruction, k = {c.k}",
              "column": f"the value of column {c.column!r}", "source": "the source of each row"}[c.kind]
    return {
        **metadata_head(cfg, POOL_VERSION, splits, source_meta),
        **filter_meta(cfg, source_meta, benchmarks, not_checked, contaminated),
        "clusters": {
            "kind": c.kind, "method": method, "pool_rows": len(pool), "clusters": int(sizes.size),
            "sizes": {"min": int(sizes.min()), "median": float(np.median(sizes)), "max": int(sizes.max())},
            "names": clustering.names,
            "train": plan.train.tolist(), "train_rows": plan.counts.tolist(), "test_unseen": plan.unseen.tolist(),
            "skipped_too_small": plan.skipped, "shared_clusters": 0,
            "map": None if xy is None else [[None if np.isnan(v) else round(float(v), 4) for v in p] for p in xy],
        },
        "disjointness": {"checked": True, "level": "clusters", "shared_clusters": 0},
        "report": report,
    }
