"""Generate a dataset folder: parquet shards per split, ``datagen.json`` metadata and the dataset card.

The folder is written under a temporary name beside the target and renamed into place at the end, so a run
that fails (or is interrupted) leaves no half dataset, and an existing dataset is only replaced on request.
Shards are written in parallel by ``workers`` processes with the same bytes as one process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from cards.dataset_card import write_dataset_card
from core.atomic import atomic_folder, check_output
from core.errors import ConfigError
from core.metadata import write_metadata
from core.safeio import read_hashed
from generators import tasks
from generators.blocks import BLOCKS_PER_ROW_GROUP
from generators.config import GeneratorConfig
from generators.fingerprint import block_digest, combine, dataset_fingerprint
from generators.heldout import TrainWatch, heldout_report
from generators.limits import check_request
from generators.plan import Plan, SplitPlan, make_plan
from generators.report import count_stats, distinct_ngrams
from generators.rng import BLOCK
from generators.space import InstructionSpace
from generators.version import GENERATOR_VERSION, REMAKEABLE_VERSIONS, __version__

COMPRESSIONS = ("zstd", "snappy", "lz4", "gzip", "none")


@dataclass
class ShardJob:
    split: str
    index: int
    count: int
    first_block: int
    last_block: int  # exclusive

    @property
    def filename(self) -> str:
        return f"data/{self.split}-{self.index:05d}-of-{self.count:05d}.parquet"


def shard_jobs(plan: Plan) -> list[ShardJob]:
    per = max(1, -(-plan.cfg.shard_rows // BLOCK))  # blocks per shard (shard_rows rounded up to blocks)
    jobs = []
    for name, sp in plan.splits.items():
        count = max(1, -(-sp.blocks // per))
        for i in range(count):
            jobs.append(ShardJob(name, i, count, i * per, min((i + 1) * per, sp.blocks)))
    return jobs


def block_batch(plan: Plan, split: SplitPlan, block: int) -> pa.RecordBatch:
    if split.table is not None:  # made once with the plan (validation: see generators.heldout)
        return split.table_block(block)
    return tasks.get(plan.cfg.task).make_block(plan, split, block)


def split_table(plan: Plan, split: str) -> pa.Table:
    """All rows of one split in memory (for small datasets, tests and previews; no files written)."""
    sp = plan.splits[split]
    return pa.Table.from_batches([block_batch(plan, sp, b) for b in range(sp.blocks)])


def write_shard(plan: Plan, job: ShardJob, root: Path, progress=None, compression: str = "zstd") -> dict:
    """Write one shard; return its block digests and the statistics the report needs."""
    split = plan.splits[job.split]
    path = root / job.filename
    counts = np.zeros(split.n_instructions, dtype=np.int64)
    digests, noops, rows = [], 0, 0
    prompt_chars = [0, None, 0]  # total, min, max
    watch = TrainWatch(plan, split)
    writer = None
    pending: list[pa.RecordBatch] = []
    try:
        for b in range(job.first_block, job.last_block):
            batch = block_batch(plan, split, b)
            digests.append(block_digest(batch))
            watch.see(batch)
            ids = split.local_index(np.asarray(batch.column(0)))
            counts += np.bincount(ids, minlength=split.n_instructions)
            noops += int(np.asarray(batch.column(6)).sum())
            rows += batch.num_rows
            lens = np.diff(np.asarray(batch.column(4).cast(pa.large_string()).buffers()[1]).view("<i8")[: batch.num_rows + 1])
            prompt_chars[0] += int(lens.sum())
            prompt_chars[1] = int(lens.min()) if prompt_chars[1] is None else min(prompt_chars[1], int(lens.min()))
            prompt_chars[2] = max(prompt_chars[2], int(lens.max()))
            pending.append(batch)
            if len(pending) == BLOCKS_PER_ROW_GROUP or b == job.last_block - 1:
                table = pa.Table.from_batches(pending)
                if writer is None:
                    writer = pq.ParquetWriter(
                        path,
                        table.schema,
                        compression=compression,
                        use_dictionary=["instruction"],
                        write_statistics=["instruction_id", "is_noop"],
                    )
                writer.write_table(table, row_group_size=table.num_rows)
                pending = []
            if progress is not None:
                progress(batch.num_rows)
    finally:
        if writer is not None:
            writer.close()
    return {
        "split": job.split,
        "index": job.index,
        "file": job.filename,
        "rows": rows,
        "bytes": path.stat().st_size,
        "digests": digests,
        "counts": counts,
        "noops": noops,
        "prompt_chars": prompt_chars,
        "watch_hits": watch.hits(),
    }


_WORKER_PLAN: Plan | None = None
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """Make this (worker) process end when the process ``parent`` does, even when that one is killed outright.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, then a check that the parent did not die before the call took
    effect. Elsewhere (macOS, BSD): a daemon thread polls the parent pid every second. Windows has neither: an
    orphaned worker there lives until its current job ends, then blocks (end it by hand)."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent is already gone (we were re-parented before prctl)
        os._exit(1)
    if not armed and os.name == "posix":
        def watch() -> None:
            while True:
                time.sleep(1.0)
                if os.getppid() != parent:
                    os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _init_worker(plan: Plan, parent: int | None = None) -> None:
    global _WORKER_PLAN
    if parent is not None:
        die_with_parent(parent)
    _WORKER_PLAN = plan


def _run_job(job: ShardJob, root: str, compression: str) -> dict:
    if _WORKER_PLAN is None:
        raise RuntimeError("worker started without a plan")
    return write_shard(_WORKER_PLAN, job, Path(root), compression=compression)


def generate(
    cfg: GeneratorConfig,
    out_dir: str | Path,
    *,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    card: bool = True,
    compression: str = "zstd",
    force: bool = False,
    version: str = GENERATOR_VERSION,
) -> dict:
    """Generate the dataset described by ``cfg`` into ``out_dir``; returns its metadata (also in datagen.json).

    ``compression`` is the parquet codec (it changes file bytes, never rows or the fingerprint). The request's
    rows, bytes and memory are estimated first and refused when they cannot fit this machine
    (:mod:`generators.limits`); ``force`` lifts only the soft caps there. ``version``: the generator version whose
    rows to make (one of :data:`generators.version.REMAKEABLE_VERSIONS`; an earlier one to re-make its datasets).
    """
    if version not in REMAKEABLE_VERSIONS:
        raise ConfigError("generator_version", f"{version!r} cannot be made here (choose from "
                                               f"{', '.join(REMAKEABLE_VERSIONS)})")
    out_dir = Path(out_dir)
    check_output(out_dir, overwrite)
    if workers < 1:
        raise ConfigError("workers", f"must be >= 1, got {workers}")
    if compression not in COMPRESSIONS:
        raise ConfigError("compression", f"must be one of {', '.join(COMPRESSIONS)}, got {compression!r}")
    check_request(cfg, out_dir, workers=workers, force=force)  # before any pool is drawn or byte written
    t0 = time.perf_counter()
    plan = make_plan(cfg, version)  # validates the request; nothing written yet
    jobs = shard_jobs(plan)
    total_rows = sum(sp.rows for sp in plan.splits.values())
    with atomic_folder(out_dir) as tmp:
        results = _write_all(plan, jobs, tmp, workers, total_rows, progress, compression)
        meta = _metadata(plan, jobs, results, time.perf_counter() - t0)
        meta["parquet"] = {"compression": compression, "blocks_per_row_group": BLOCKS_PER_ROW_GROUP}
        file_hashes(tmp, meta)  # the SHA-256 of each data file, in datagen.json
        write_metadata(tmp, meta)
        if card:
            write_dataset_card(tmp, meta, **tasks.card_texts(meta))
    meta["elapsed_s"] = time.perf_counter() - t0
    return meta


def _write_all(
    plan: Plan, jobs: list[ShardJob], root: Path, workers: int, total_rows: int, progress: bool, compression: str
) -> list[dict]:
    bar = tqdm(total=total_rows, unit="rows", unit_scale=True, disable=not progress, desc="generate")
    try:
        if workers == 1 or len(jobs) == 1:
            return [write_shard(plan, job, root, progress=bar.update, compression=compression) for job in jobs]
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)), mp_context=get_context("spawn"), initializer=_init_worker,
            initargs=(plan, os.getpid()),
        )
        try:
            futures = [pool.submit(_run_job, job, str(root), compression) for job in jobs]
            results = []
            for fut in futures:
                res = fut.result()
                bar.update(res["rows"])
                results.append(res)
        except BaseException:  # a failed shard, Ctrl-C, SIGTERM: stop the workers before the folder is removed
            stop_pool(pool)
            raise
        pool.shutdown(wait=True)
        return results
    finally:
        bar.close()


def stop_pool(pool: ProcessPoolExecutor, grace_s: float = 5.0) -> None:
    """End a process pool now: pending jobs cancelled, running workers terminated (killed after ``grace_s``)
    and reaped, so nothing writes into a folder that is about to be removed."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # no public way before Python 3.14
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)
    pool.shutdown(wait=False, cancel_futures=True)


def _metadata(plan: Plan, jobs: list[ShardJob], results: list[dict], elapsed: float) -> dict:
    cfg = plan.cfg
    splits: dict[str, dict] = {}
    report: dict[str, dict] = {}
    for name, sp in plan.splits.items():
        mine = [r for r in results if r["split"] == name]
        mine.sort(key=lambda r: r["index"])
        digests = [d for r in mine for d in r["digests"]]
        rows = sum(r["rows"] for r in mine)
        splits[name] = {
            "rows": rows,
            "fingerprint": combine(digests),
            "files": [r["file"] for r in mine],
            "bytes": sum(r["bytes"] for r in mine),
        }
        counts = sum(r["counts"] for r in mine)
        stats = count_stats(counts)
        stats["noop_share"] = round(sum(r["noops"] for r in mine) / rows, 6) if rows else 0.0
        texts = sp.pool_text.to_pylist()
        used = [texts[i] for i in np.flatnonzero(counts)]
        stats["distinct_ngrams"] = distinct_ngrams(used)
        pc = [r["prompt_chars"] for r in mine]
        stats["prompt_chars"] = {
            "mean": round(sum(p[0] for p in pc) / rows, 2) if rows else 0,
            "min": min(p[1] for p in pc if p[1] is not None) if rows else 0,
            "max": max(p[2] for p in pc),
        }
        report[name] = stats
    task = tasks.get(cfg.task)
    if task.instruction_space is not None:
        space = task.instruction_space(cfg)
    else:
        train_space, test_space = InstructionSpace(cfg.space), InstructionSpace(cfg.effective_test_space)
        space = {"train_size": str(train_space.size), "test_size": str(test_space.size),
                 "train_mode": "enumerated" if train_space.dense else "sampled"}
    return {
        "generator": "instruction-diversity",
        "generator_version": plan.behaviour.version,
        "package_version": __version__,
        "task": cfg.task,
        "name": cfg.name,
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "fingerprint": dataset_fingerprint(splits),
        "splits": splits,
        "instruction_space": space,
        "disjointness": {
            "checked": plan.disjoint_checked,
            "train_instructions": cfg.instructions,
            "test_unseen_instructions": plan.splits["test_unseen"].n_instructions if "test_unseen" in plan.splits else 0,
            "shared": plan.shared_instructions,
            **plan.disjointness,
        },
        "patterns": plan.novel_patterns,
        # how many times op inputs hold x, per split (rewrite task); test splits have their own setting from 2.1
        "occurrences": ({name: list(sp.occurrences) for name, sp in plan.splits.items()}
                        if tasks.get(cfg.task).plants_occurrences else None),
        "test_unseen_first_id": plan.splits["test_unseen"].id_offset if "test_unseen" in plan.splits else None,
        "heldout": heldout_report(plan, [r["watch_hits"] for r in results]),  # only train shards have hits (TrainWatch)
        "cipher": {"kind": cfg.cipher.kind, "image": plan.cipher.image} if cfg.cipher.kind != "none" else None,
        "report": report,
        "generation_seconds": round(elapsed, 3),
    }


def file_hashes(folder: str | Path, meta: dict) -> None:
    """Record the SHA-256 of every data file in ``meta`` (``splits.<name>.sha256``: ``{file: hex}``).

    It is the digest the Hub keeps for LFS files, and it covers every byte (footer, row-group statistics, page
    headers), which the row fingerprint does not: a reader that filters on statistics gets other rows from a
    damaged footer whose decoded rows still fingerprint the same. ``datagen.json`` cannot hold its own digest,
    and ``README.md`` is rendered again for each published version, so neither is hashed here: the card's claim
    (the fingerprint) is checked against ``datagen.json`` instead.
    """
    for s in meta["splits"].values():
        s["sha256"] = {f: read_hashed(folder, f)[0] for f in s["files"]}
