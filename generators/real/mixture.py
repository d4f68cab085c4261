"""Instruction mixtures: build a dataset folder from real instruction sources with per-source ratios.

How a mixture is built (all deterministic: the same config and sources give the same rows and bytes):

1. Each source is loaded and mapped to (instruction, response) pairs (:mod:`generators.real.sources`).
2. ``size`` rows are split over the sources by weight with the largest-remainder rule, so each source's
   count is within one row of ``size * weight / sum(weights)`` and the counts add up to ``size``.
3. Sources are walked in config order; each source's rows are visited in the order of a keyed permutation
   (``seed``, source name) and a row is kept unless it is empty, contaminated (:mod:`generators.real.decontam`),
   an exact or near duplicate of a row kept before it, from this or an earlier source (:mod:`generators.real.dedup`),
   until the source's count is reached. Removal counts are over the rows visited. A source that runs out of
   usable rows is an error naming it.
4. The kept rows are put in the order of another keyed permutation (sources interleaved), numbered by ``id``
   and written as parquet (``data/train-*.parquet``) with ``datagen.json`` and a dataset card, atomically.

Columns: ``id``, ``source``, ``source_index`` (row in the source), ``instruction`` (the mapped prompt),
``prompt`` (``prompt_template`` filled with the instruction) and ``completion`` (the response), ready for TRL's
``SFTTrainer``.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from cards.mixture_card import write_mixture_card
from core.atomic import atomic_folder, check_output
from core.errors import ConfigError
from core.metadata import write_metadata
from generators.build import file_hashes
from generators.fingerprint import block_digest, combine, dataset_fingerprint
from generators.real.decontam import Decontaminator, load_benchmarks
from generators.real.dedup import ExactIndex, MinHashIndex, normalize
from generators.real.mixture_config import MixtureConfig
from generators.real.semantic import sample_indices, semantic_report
from generators.real.sources import LoadedSource, load_source
from generators.report import count_stats, distinct_ngrams
from generators.rng import BLOCK, derive_key, feistel_permute
from generators.version import __version__

#: Bumped whenever the rows built for a given config and sources change.
MIXTURE_VERSION = "1.0"
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("source", pa.string()),
        ("source_index", pa.int64()),
        ("instruction", pa.string()),
        ("prompt", pa.string()),
        ("completion", pa.string()),
    ]
)
_VISIT_CHUNK = 1024
#: distinct-n is computed over this many instructions (a keyed sample): it falls as text grows, so mixtures are
#: compared at one fixed amount of text.
NGRAM_SAMPLE = 5000


def load_decontamination(dc) -> tuple[list, dict, Decontaminator | None]:
    """(benchmarks checked, those not checked with why, the decontaminator or None) for a ``decontamination``
    section; an MBPP file named by ``MBPP_OVERRIDE_PATH`` is recorded in the section, so a re-make uses it too."""
    if dc.enabled and dc.mbpp is None and os.environ.get("MBPP_OVERRIDE_PATH"):
        dc.mbpp = os.environ["MBPP_OVERRIDE_PATH"]
    benchmarks, not_checked = load_benchmarks(dc.humaneval, dc.mbpp, dc.ngram) if dc.enabled else ([], {})
    return benchmarks, not_checked, Decontaminator(benchmarks, dc.ngram) if benchmarks else None


def source_targets(size: int, weights: list[float]) -> list[int]:
    """Split ``size`` over ``weights`` by the largest-remainder rule (ties go to the earlier source)."""
    total = float(sum(weights))
    exact = [size * w / total for w in weights]
    counts = [int(np.floor(x)) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: size - sum(counts)]:
        counts[i] += 1
    return counts


class RowFilters:
    """The row filters shared by all sources, in the order applied: empty, contaminated, exact, near (pools use
    them too, :mod:`generators.real.pool`)."""

    def __init__(self, cfg: MixtureConfig, decontaminator: Decontaminator | None) -> None:
        self.decontaminator = decontaminator
        self.exact = ExactIndex() if cfg.dedup.exact else None
        d = cfg.dedup
        self.near = MinHashIndex(d.permutations, d.bands, d.threshold, d.shingle) if d.near else None

    def visit(self, source: LoadedSource, rows: list[int], stats: Counter, room: int) -> tuple[list[int], int]:
        """Keep up to ``room`` of ``rows`` (source indices, in visiting order): (kept rows, rows looked at)."""
        sigs = {}
        if self.near is not None:
            live = [i for i in rows if source.instructions[i] and source.completions[i]]
            sigs = dict(zip(live, self.near.signatures([normalize(source.instructions[i]) for i in live]), strict=True))
        kept: list[int] = []
        for pos, i in enumerate(rows):
            if len(kept) == room:
                return kept, pos
            instruction, completion = source.instructions[i], source.completions[i]
            if not instruction or not completion:
                stats["empty"] += 1
                continue
            if self.decontaminator is not None:
                hit = self.decontaminator.match(instruction, completion)
                if hit is not None:
                    stats[f"contaminated:{hit}"] += 1
                    continue
            norm = normalize(instruction)
            if self.exact is not None and norm in self.exact:
                stats["exact_duplicate"] += 1
                continue
            if self.near is not None and not self.near.add(sigs[i]):
                stats["near_duplicate"] += 1
                continue
            if self.exact is not None:
                self.exact.add(norm)
            kept.append(i)
        return kept, len(rows)


def _select(cfg: MixtureConfig, sources: list[LoadedSource | None], targets: list[int], filters: RowFilters, bar) -> tuple[list[tuple[int, int]], list[dict]]:
    """Walk the sources and keep ``targets[s]`` rows of each; returns (source, row) pairs and per-source stats."""
    picked: list[tuple[int, int]] = []
    report = []
    for s, (src, target) in enumerate(zip(sources, targets, strict=True)):
        stats: Counter = Counter()
        visited = kept = 0
        if src is not None and target > 0:
            n = src.rows
            key = derive_key(cfg.seed, "mixture", src.cfg.name)
            while kept < target and visited < n:
                chunk = np.arange(visited, min(n, visited + _VISIT_CHUNK), dtype=np.uint64)
                rows = feistel_permute(key, n, chunk).astype(np.int64).tolist()
                got, looked = filters.visit(src, rows, stats, target - kept)
                picked.extend((s, i) for i in got)
                visited += looked
                kept += len(got)
                bar.update(len(got))
            if kept < target:
                removed = ", ".join(f"{v} {k}" for k, v in sorted(stats.items()) if v) or "none removed"
                raise ConfigError(
                    f"sources[{s}]",
                    f"source {src.cfg.name!r} has only {kept} usable rows of {n} ({removed}); the mixture needs {target} "
                    f"from it: lower size or its weight",
                )
        report.append({"visited": visited, "kept": kept, "stats": stats})
    return picked, report


def build_mixture(cfg: MixtureConfig, out_dir: str | Path, overwrite: bool = False, progress: bool = True) -> dict:
    """Build the mixture described by ``cfg`` into ``out_dir``; returns its metadata (also in datagen.json)."""
    out_dir = Path(out_dir)
    check_output(out_dir, overwrite)
    t0 = time.perf_counter()
    benchmarks, not_checked, decontaminator = load_decontamination(cfg.decontamination)
    targets = source_targets(cfg.size, [s.weight for s in cfg.sources])
    sources: list[LoadedSource | None] = [
        load_source(src, f"sources[{i}]", progress) if targets[i] > 0 else None for i, src in enumerate(cfg.sources)
    ]
    bar = tqdm(total=cfg.size, unit="rows", disable=not progress, desc="mix")
    try:
        picked, walk = _select(cfg, sources, targets, RowFilters(cfg, decontaminator), bar)
    finally:
        bar.close()
    order = feistel_permute(derive_key(cfg.seed, "mixture-order"), len(picked), np.arange(len(picked), dtype=np.uint64))
    picked = [picked[int(j)] for j in order]
    table = _table(cfg, sources, picked)

    with atomic_folder(out_dir) as tmp:
        split = write_split(table, tmp, cfg.shard_rows)
        meta = _metadata(cfg, sources, targets, walk, benchmarks, not_checked, table, split, progress)
        meta["generation_seconds"] = round(time.perf_counter() - t0, 3)
        file_hashes(tmp, meta)  # the SHA-256 of each data file, in datagen.json
        write_metadata(tmp, meta)

        write_mixture_card(tmp, meta)
    meta["elapsed_s"] = time.perf_counter() - t0
    return meta


def _table(cfg: MixtureConfig, sources: list[LoadedSource | None], picked: list[tuple[int, int]]) -> pa.Table:
    names, index, instructions, prompts, completions = [], [], [], [], []
    for s, i in picked:
        src = sources[s]
        assert src is not None  # only loaded sources have picked rows
        names.append(src.cfg.name)
        index.append(i)
        instructions.append(src.instructions[i])
        prompts.append(cfg.prompt_template.format(instruction=src.instructions[i]))
        completions.append(src.completions[i])
    return pa.table(
        [pa.array(np.arange(len(picked), dtype=np.int64)), pa.array(names, pa.string()), pa.array(index, pa.int64()),
         pa.array(instructions, pa.string()), pa.array(prompts, pa.string()), pa.array(completions, pa.string())],
        schema=SCHEMA,
    )


def write_split(table: pa.Table, root: Path, shard_rows: int, split: str = "train") -> dict:
    """Write ``data/<split>-*.parquet`` (row groups of BLOCK rows); returns the split's entry for datagen.json."""
    per = max(1, -(-shard_rows // BLOCK)) * BLOCK
    count = max(1, -(-table.num_rows // per))
    files, digests, size = [], [], 0
    for k in range(count):
        shard = table.slice(k * per, per)
        name = f"data/{split}-{k:05d}-of-{count:05d}.parquet"
        pq.write_table(shard, root / name, row_group_size=BLOCK, compression="zstd",
                       use_dictionary=["source"], write_statistics=[c for c in ("id", "source_index") if c in table.column_names])
        digests.extend(block_digest(shard.slice(b, BLOCK)) for b in range(0, shard.num_rows, BLOCK))
        files.append(name)
        size += (root / name).stat().st_size
    return {"rows": table.num_rows, "fingerprint": combine(digests), "files": files, "bytes": size}


def _metadata(cfg, sources, targets, walk, benchmarks, not_checked, table: pa.Table, split: dict, progress: bool) -> dict:
    splits = {"train": split}
    instructions = table.column("instruction").to_pylist()
    names = table.column("source").to_pylist()
    per_source = Counter(names)
    stats = count_stats(np.fromiter(Counter(normalize(t) for t in instructions).values(), dtype=np.int64))
    stats["per_source"] = {s.name: per_source.get(s.name, 0) for s in cfg.sources}
    stats["sources"] = count_stats(np.array([per_source.get(s.name, 0) for s in cfg.sources], dtype=np.int64))
    sample = sample_indices(len(instructions), NGRAM_SAMPLE, cfg.seed)
    stats["distinct_ngrams"] = distinct_ngrams([instructions[i] for i in sample])
    stats["distinct_ngrams_sample"] = int(sample.size)
    for col in ("instruction", "completion"):
        lens = np.array([len(t) for t in table.column(col).to_pylist()], dtype=np.int64)
        stats[f"{col}_chars"] = {"mean": round(float(lens.mean()), 2), "min": int(lens.min()), "max": int(lens.max())}
    stats["semantic"] = (
        semantic_report(instructions, names, cfg.semantic.sample, cfg.seed, progress)
        if cfg.semantic.sample
        else {"metric": "mean_pairwise_cosine_distance", "skipped": "skipped: semantic.sample is 0"}
    )

    source_meta, contaminated = [], {}
    for src_cfg, src, target, w in zip(cfg.sources, sources, targets, walk, strict=True):
        st = w["stats"]
        removed_c = {b.name: st.get(f"contaminated:{b.name}", 0) for b in benchmarks}
        contaminated[src_cfg.name] = removed_c
        source_meta.append({
            "name": src_cfg.name,
            "origin": src.origin if src is not None else declared_origin(src_cfg),
            "weight": src_cfg.weight,
            "target": target,
            "rows_available": src.rows if src is not None else None,
            "fingerprint": src.fingerprint if src is not None else None,
            "visited": w["visited"],
            "kept": w["kept"],
            "removed": {"empty": st.get("empty", 0), "contaminated": removed_c,
                        "exact_duplicate": st.get("exact_duplicate", 0), "near_duplicate": st.get("near_duplicate", 0)},
            "unmappable_rows": src.unmappable if src is not None else 0,
        })
    return {
        **metadata_head(cfg, MIXTURE_VERSION, splits, source_meta),
        **filter_meta(cfg, source_meta, benchmarks, not_checked, contaminated),
        "report": {"train": stats},
    }


def metadata_head(cfg, version: str, splits: dict, source_meta: list[dict]) -> dict:
    """The first entries of a mixture's or pool's ``datagen.json``: who made it, from which config, its
    fingerprint, splits and sources."""
    return {
        "generator": "instruction-diversity",
        "generator_version": version,
        "package_version": __version__,
        "task": cfg.task,
        "name": cfg.name,
        "seed": cfg.seed,
        "config": cfg.to_public_dict(),
        "fingerprint": dataset_fingerprint(splits),
        "splits": splits,
        "sources": source_meta,
    }


def filter_meta(cfg, source_meta: list[dict], benchmarks: list, not_checked: dict, contaminated: dict) -> dict:
    """The ``dedup`` and ``decontamination`` entries of ``datagen.json`` (mixtures and pools)."""
    dc, dd = cfg.decontamination, cfg.dedup
    return {
        "dedup": {
            "exact": dd.exact,
            "near": dd.near,
            "method": f"MinHash, {dd.permutations} permutations, LSH {dd.bands} bands, byte {dd.shingle}-grams of the "
            f"normalized instruction, estimated Jaccard >= {dd.threshold}",
            "removed": {s["name"]: {k: s["removed"][k] for k in ("exact_duplicate", "near_duplicate")} for s in source_meta},
        },
        "decontamination": {
            "enabled": dc.enabled,
            "method": f"word {dc.ngram}-gram overlap of instruction or response with benchmark prompt + canonical solution",
            "benchmarks": {b.name: {"checked": True, "problems": b.problems, "ngrams": len(b.ngrams), "origin": b.origin}
                           for b in benchmarks}
            | {name: {"checked": False, "note": note} for name, note in not_checked.items()},
            "removed": contaminated,
            "total_removed": sum(sum(v.values()) for v in contaminated.values()),
        },
    }


def declared_origin(src) -> dict:
    if src.hub is not None:
        return {"kind": "hub", "id": src.hub, "revision": src.revision, "subset": src.subset, "split": src.split, "commit": None}
    return {"kind": "path", "name": Path(src.path).name, "split": src.split}


def format_mixture_report(meta: dict) -> str:
    """A terminal table of a mixture's sources: target, kept and removed rows."""
    head = f"{'source':<20}{'target':>8}{'kept':>8}{'visited':>9}{'empty':>7}{'contam.':>9}{'exact dup':>11}{'near dup':>10}"
    lines = [head, "-" * len(head)]
    for s in meta["sources"]:
        r = s["removed"]
        lines.append(
            f"{s['name']:<20}{s['target']:>8}{s['kept']:>8}{s['visited']:>9}{r['empty']:>7}"
            f"{sum(r['contaminated'].values()):>9}{r['exact_duplicate']:>11}{r['near_duplicate']:>10}"
        )
    sem = meta["report"]["train"]["semantic"]
    lines.append(
        f"distinct 4-grams {meta['report']['train']['distinct_ngrams']['4']:.4f}; semantic diversity "
        + (f"{sem['value']:.4f} (mean pairwise cosine distance, {sem['sample']} instructions)" if "value" in sem else sem["skipped"])
    )
    return "\n".join(lines)
