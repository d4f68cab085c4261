"""Diversity report: how many distinct instructions a split really holds, and how evenly it uses them.

- ``instructions_in_pool``; ``distinct_instructions``: those with at least one example in the split;
  ``instructions_without_examples``: the rest (under a skewed distribution some training instructions get no
  examples at all: they stay in the pool and in these statistics).
- ``examples_per_instruction``: min / median / mean / max over the split's instruction pool (zeros included).
- ``entropy_bits`` of the empirical instruction distribution and ``effective_instructions`` = 2**entropy_bits =
  exp(entropy in nats) (equals the instruction count when examples are spread evenly; the paper's "effective
  number" of instructions).
- ``noop_share``: share of rows whose output equals the input.
- ``distinct_ngrams``: distinct character n-grams / all n-grams over the split's distinct instruction texts
  (n = 1..4), a lexical diversity measure that also applies to real instruction sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def count_stats(counts: np.ndarray) -> dict:
    """Statistics of per-instruction example counts (one entry per instruction in the pool)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0 or counts.size == 0:
        return {"instructions_in_pool": int(counts.size), "distinct_instructions": 0, "rows": 0}
    p = counts[counts > 0] / total
    entropy = float(-(p * np.log2(p)).sum())
    return {
        "instructions_in_pool": int(counts.size),
        "distinct_instructions": int((counts > 0).sum()),
        "instructions_without_examples": int((counts == 0).sum()),
        "rows": total,
        "examples_per_instruction": {
            "min": int(counts.min()),
            "median": float(np.median(counts)),
            "mean": round(total / counts.size, 4),
            "max": int(counts.max()),
        },
        "entropy_bits": round(entropy, 6),
        "effective_instructions": round(float(2.0**entropy), 3),
    }


def distinct_ngrams(texts: Iterable[str], ns: Sequence[int] = (1, 2, 3, 4), limit: int = 20000) -> dict[str, float]:
    """distinct-n: distinct character n-grams over all n-grams, for each n (over at most ``limit`` texts)."""
    out = {}
    texts = list(texts)[:limit]
    for n in ns:
        seen: set[str] = set()
        total = 0
        for t in texts:
            k = len(t) - n + 1
            if k <= 0:
                continue
            total += k
            seen.update(t[i : i + n] for i in range(k))
        out[str(n)] = round(len(seen) / total, 6) if total else 0.0
    return out


def format_report(report: dict) -> str:
    """A terminal table of a dataset's per-split report."""
    lines = []
    header = f"{'split':<12}{'rows':>10}{'instr.':>9}{'effective':>11}{'min/med/max per instr.':>26}{'no-op':>8}{'distinct-4':>12}"
    lines.append(header)
    lines.append("-" * len(header))
    for split, r in report.items():
        e = r.get("examples_per_instruction", {})
        per = f"{e.get('min', 0)}/{e.get('median', 0):g}/{e.get('max', 0)}"
        lines.append(
            f"{split:<12}{r.get('rows', 0):>10}{r.get('distinct_instructions', 0):>9}"
            f"{r.get('effective_instructions', 0):>11.1f}{per:>26}{r.get('noop_share', 0):>8.3f}"
            f"{r.get('distinct_ngrams', {}).get('4', 0):>12.4f}"
        )
    return "\n".join(lines)
