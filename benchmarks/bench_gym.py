"""Items per second of `generators.gym` against reasoning-gym's own string tasks, in the same process.

Both sides make items one index after another (``dataset[i]`` for i = 0 .. n-1, a fresh dataset each run, best
of ``--repeat`` runs interleaved across the datasets), each item a ``{question, answer, metadata}`` dict, and score each item's own answer with
``score_answer``. Ours: the rewrite task at the paper's lengths (inputs 50, rules 20 -> 20, 26 letters, 1,000
rules; made a block of 8,192 rows at a time by the vectorized builder) and the ``markov`` preset (made with a
Python loop per row). Theirs: reasoning-gym's string tasks (spell_backward, string_insertion,
string_manipulation, string_splitting, letter_jumble), each with its defaults. The ratio is ours over theirs;
"fastest" is the fastest of their tasks. Building a dataset (drawing its rules) is timed apart and not in the
rates. Pinned to one CPU core, pyarrow single-threaded.

    python benchmarks/bench_gym.py [--items 100000] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench_generation import pin_one_core

from generators.gym import create_dataset, register_reasoning_gym

RG_TASKS = ("spell_backward", "string_insertion", "string_manipulation", "string_splitting", "letter_jumble")
PAPER_REWRITE = {
    "name": "bench-gym", "seed": 0, "instructions": 1000, "input_len": 50,
    "space": {"alphabet": "abcdefghijklmnopqrstuvwxyz", "x_len": 20, "y_len": 20},
    "splits": {"test_unseen": {"instructions": 100, "examples": 1000}, "test_seen": {"examples": 0}},
}


def rate(make, n: int) -> dict:
    """One run of ``make()`` (a fresh dataset of n items): items/s, score_answer/s, build seconds, mean score."""
    t0 = time.perf_counter()
    ds = make()
    t1 = time.perf_counter()
    items = [ds[i] for i in range(n)]
    t2 = time.perf_counter()
    total = sum(ds.score_answer(it["answer"], it) for it in items)
    t3 = time.perf_counter()
    return {"items_per_s": round(n / (t2 - t1)), "scores_per_s": round(n / (t3 - t2)), "build_s": round(t1 - t0, 3),
            "own_answer_mean_score": round(total / n, 6)}


def best_rates(makers: dict, n: int, repeat: int) -> dict:
    """Best of ``repeat`` runs per dataset, the runs interleaved (one of each, then again), so that a change in
    the machine's load reaches every side alike."""
    best: dict[str, dict] = {}
    for _ in range(repeat):
        for name, make in makers.items():
            r = rate(make, n)
            if name not in best or r["items_per_s"] > best[name]["items_per_s"]:
                best[name] = {**r, "scores_per_s": max(r["scores_per_s"], best.get(name, r)["scores_per_s"])}
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = ap.parse_args()
    where = pin_one_core()
    if not register_reasoning_gym():
        raise SystemExit("reasoning-gym is not installed: pip install -e '.[rl]'")
    import reasoning_gym  # deferred: installed (checked above); its import takes seconds

    n = args.items
    makers = {
        "ours rewrite_paper_lengths": lambda: create_dataset(PAPER_REWRITE, size=n),
        "ours markov_preset": lambda: create_dataset("markov", size=n),
        **{f"theirs {t}": (lambda t=t: reasoning_gym.create_dataset(t, seed=0, size=n)) for t in RG_TASKS},
    }
    best = best_rates(makers, n, args.repeat)
    ours = {k.removeprefix("ours "): v for k, v in best.items() if k.startswith("ours ")}
    theirs = {k.removeprefix("theirs "): v for k, v in best.items() if k.startswith("theirs ")}
    bad = [k for k, r in ours.items() if r["own_answer_mean_score"] != 1.0]
    if bad:
        raise RuntimeError(f"ours scored an item's own answer below 1.0: {bad}")
    fastest = max(theirs, key=lambda t: theirs[t]["items_per_s"])
    ratios = {
        name: {"vs_fastest": round(r["items_per_s"] / theirs[fastest]["items_per_s"], 2),
               "vs_each": {t: round(r["items_per_s"] / v["items_per_s"], 2) for t, v in theirs.items()}}
        for name, r in ours.items()
    }
    print(f"gym items, {n:,} per dataset, best of {args.repeat}, one core ({where})")
    for name, r in {**{f"ours {k}": v for k, v in ours.items()}, **{f"reasoning-gym {k}": v for k, v in theirs.items()}}.items():
        print(f"  {name:<36} {r['items_per_s']:>10,} items/s  {r['scores_per_s']:>10,} scores/s  (built in {r['build_s']} s; own answers score {r['own_answer_mean_score']})")
    for name, r in ratios.items():
        print(f"  ratio ours {name} / fastest reasoning-gym string task ({fastest}): {r['vs_fastest']}x")
    if args.json:
        args.json.write_text(json.dumps({"items": n, "cpu": where, "ours": ours, "reasoning_gym": theirs,
                                         "fastest": fastest, "ratios": ratios}, indent=2) + "\n")


if __name__ == "__main__":
    main()
