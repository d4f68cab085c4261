"""Generation throughput of `datagen` against a plain one-row-at-a-time loop, in the same process.

Everything runs pinned to one CPU core (pyarrow limited to one thread), on the paper's default lengths (inputs
50, patterns and replacements 20, 26 letters). The baseline is what one would write without vectorizing:
Python's `random`, `str.find` per row, a list of dicts, one `pyarrow` table. Two comparisons:

- rows built in memory (Arrow): the generator's blocks against the loop's records;
- end to end into parquet files (same codec): `generate()` (which also fingerprints every row and computes
  the diversity report) against the loop plus `pyarrow.parquet.write_table`.

Peak memory is measured in child processes at two sizes to show it stays flat (shards stream).

    python benchmarks/bench_generation.py [--rows 1000000] [--baseline-rows 100000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from generators import config_from_dict
from generators.build import generate

ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def paper_config(rows: int) -> dict:
    return {
        "name": "bench", "seed": 0, "instructions": 1000, "budget": rows, "input_len": 50,
        "space": {"alphabet": ALPHABET, "x_len": 20, "y_len": 20},
        "splits": {"test_unseen": {"instructions": 100, "examples": 0}, "test_seen": {"examples": 0}},
    }


def run_ours_in_memory(rows: int) -> float:
    from generators.build import block_batch
    from generators.plan import make_plan

    t0 = time.perf_counter()
    plan = make_plan(config_from_dict(paper_config(rows)))
    split = plan.splits["train"]
    n = sum(block_batch(plan, split, b).num_rows for b in range(split.blocks))
    assert n == rows
    return rows / (time.perf_counter() - t0)


def run_ours(rows: int, out: Path, compression: str = "zstd") -> float:
    t0 = time.perf_counter()
    generate(config_from_dict(paper_config(rows)), out, progress=False, card=False, overwrite=True, compression=compression)
    return rows / (time.perf_counter() - t0)


def run_baseline(rows: int, out: Path | None, instructions: int = 1000, seed: int = 0, compression: str = "zstd") -> float:
    """A plain loop: one row at a time, the same task and record layout (written with the same settings)."""
    t0 = time.perf_counter()
    rnd = random.Random(seed)
    rules = []
    seen = set()
    while len(rules) < instructions:
        x = "".join(rnd.choices(ALPHABET, k=20))
        y = "".join(rnd.choices(ALPHABET, k=20))
        if x != y and (x, y) not in seen:
            seen.add((x, y))
            rules.append((x, y))
    records = []
    for i in range(rows):
        x, y = rules[i % instructions]
        z = "".join(rnd.choices(ALPHABET, k=50))
        at = rnd.randrange(0, 50 - 20 + 1)
        z = z[:at] + x + z[at + 20 :]
        j = z.find(x)
        out_text = z[:j] + y + z[j + len(x) :]
        rule = f"{x} -> {y}"
        records.append({
            "instruction_id": i % instructions, "instruction": rule, "input": z, "output": out_text,
            "prompt": f"{rule}\n{z}\n", "completion": out_text, "is_noop": False, "pattern_len": len(x),
        })
    table = pa.Table.from_pylist(records)
    if out is not None:
        pq.write_table(table, out, compression=compression, use_dictionary=["instruction"],
                       write_statistics=["instruction_id", "is_noop"])
    return rows / (time.perf_counter() - t0)


def _peak_rss_child(rows: int, out: str, queue) -> None:
    pin_one_core()
    generate(config_from_dict(paper_config(rows)), out, progress=False, card=False, overwrite=True)
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # MiB (Linux reports KiB)


def peak_rss_mib(rows: int, out: Path) -> float:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_rss_child, args=(rows, str(out), q))
    p.start()
    value = q.get()
    p.join()
    return value


def pin_one_core() -> str:
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--baseline-rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs for ours")
    ap.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = ap.parse_args()
    where = pin_one_core()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mem = max(run_ours_in_memory(args.rows) for _ in range(args.repeat))
        base_mem = run_baseline(args.baseline_rows, None)
        codecs = {c: max(run_ours(args.rows, tmp / f"{c}{i}", c) for i in range(args.repeat)) for c in ("zstd", "snappy", "none")}
        base = run_baseline(args.baseline_rows, tmp / "baseline.parquet")
        small = peak_rss_mib(args.rows // 4, tmp / "mem_small")
        large = peak_rss_mib(args.rows, tmp / "mem_large")
    ours = codecs["zstd"]
    result = {
        "rows": args.rows, "baseline_rows": args.baseline_rows, "cpu": where,
        "in_memory": {"ours_rows_per_s": round(mem), "baseline_rows_per_s": round(base_mem), "speedup": round(mem / base_mem, 1)},
        "to_parquet_zstd": {"ours_rows_per_s": round(ours), "baseline_rows_per_s": round(base), "speedup": round(ours / base, 1)},
        "ours_to_parquet_by_codec": {c: round(v) for c, v in codecs.items()},
        "peak_rss_mib": {str(args.rows // 4): round(small), str(args.rows): round(large)},
    }
    print(f"generation, paper default lengths, one core ({where}); ours: {args.rows:,} rows, best of {args.repeat}; "
          f"plain loop: {args.baseline_rows:,} rows")
    print(f"  rows in memory (Arrow):   datagen {mem:>11,.0f} rows/s   plain loop {base_mem:>9,.0f} rows/s   "
          f"speed-up {mem / base_mem:5.1f}x")
    print(f"  into zstd parquet:        datagen {ours:>11,.0f} rows/s   plain loop {base:>9,.0f} rows/s   "
          f"speed-up {ours / base:5.1f}x  (datagen also fingerprints every row)")
    for codec in ("snappy", "none"):
        print(f"  datagen into {codec + ' parquet:':<15}{codecs[codec]:>11,.0f} rows/s")
    print(f"  peak memory: {small:.0f} MiB at {args.rows // 4:,} rows, {large:.0f} MiB at {args.rows:,} rows")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
