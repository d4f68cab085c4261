"""Audit the patterns of toy semantic runs, from the written rows (the table in COMMAND.md was made with it).

    python results/toy_cpu_semantic/audit_patterns.py RUN_FOLDER...   # each holding data/<split>-*.parquet

For each run: how many unseen-test patterns also occur in training, how many training patterns have a k = 2
structure (the test sub-space), how many unseen-test patterns do, and the training patterns by family with k in
[3, 8], and a digest of the unseen-test rows (runs with equal digests were scored on the same rows). The families are read from their definitions (DESIGN.md: repeated `aaabbbccc` k = 3, periodic `abcabc`
k = 2, mirrored `abccbaabc` k = 3) as plain string checks, not from the generator's index maps. One JSON line per run.
"""

import glob
import hashlib
import json
import math
import sys
from collections import Counter

import pyarrow.parquet as pq


def repeated(p: str, k: int) -> bool:  # runs of k equal characters
    return all(len(set(p[j:j + k])) == 1 for j in range(0, len(p), k))


def periodic(p: str, k: int) -> bool:  # k copies of a base (the last one cut)
    b = math.ceil(len(p) / k)
    return p == (p[:b] * k)[:len(p)]


def mirrored(p: str, k: int) -> bool:  # base, reversed base, base, ...
    b = math.ceil(len(p) / k)
    base = p[:b]
    return p == "".join(base if i % 2 == 0 else base[::-1] for i in range(k))[:len(p)]


FAMILIES = {"repeated": repeated, "periodic": periodic, "mirrored": mirrored}


def classes(p: str, ks) -> set[tuple[str, int]]:
    return {(f, k) for f, fn in FAMILIES.items() for k in ks if fn(p, k)}


def split_rows(run: str, split: str, columns: list[str]) -> list[dict]:
    """Every row of the split, from all of its parquet shards."""
    files = sorted(glob.glob(f"{run}/data/{split}-*.parquet") or glob.glob(f"{run}/data/data/{split}-*.parquet"))
    if not files:
        raise SystemExit(f"{run}: no {split} parquet file")
    return [row for f in files for row in pq.read_table(f, columns=columns).to_pylist()]


def patterns(run: str, split: str) -> set[str]:
    return {r["instruction"].split(" -> ")[0] for r in split_rows(run, split, ["instruction"])}


def rows_digest(run: str, split: str) -> str:
    """SHA-256 of the split's (prompt, completion) pairs, sorted: independent of row order and of the file's bytes."""
    pairs = sorted(json.dumps([r["prompt"], r["completion"]]) for r in split_rows(run, split, ["prompt", "completion"]))
    return hashlib.sha256("\n".join(pairs).encode()).hexdigest()


def audit(run: str) -> dict:
    train, test = patterns(run, "train"), patterns(run, "test_unseen")
    families = Counter(f for p in train for f in {f for f, _ in classes(p, range(3, 9))})
    return {"run": run.rstrip("/").split("/")[-1], "train_patterns": len(train), "test_patterns": len(test),
            "test_in_train_verbatim": len(train & test),
            "train_with_k2_structure": sum(1 for p in train if classes(p, [2])),
            "train_family_k3_8": dict(families),
            "train_no_k3_8_structure": sum(1 for p in train if not classes(p, range(3, 9))),
            "test_with_k2_structure": sum(1 for p in test if classes(p, [2])),
            "test_unseen_rows_sha256": rows_digest(run, "test_unseen")}


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        print(json.dumps(audit(folder)))
