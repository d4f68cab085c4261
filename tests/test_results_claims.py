"""The numbers quoted in the prose of README.md and results/*/COMMAND.md are recomputed from the committed rows.

test_results_tables.py checks the generated tables; this file checks the sentences around them. It reads the
per-run rows of each committed results.json directly (not through sweeps.table), so a sentence left over from
earlier data, or a number typed by hand, fails here:

- every percentage with decimals (and every "N points" difference) in the prose is a value of the rows: a run's
  accuracy or interval bound, a point's mean, or the difference between two runs of the same seed;
- every range "A-B%" with decimals is the minimum and maximum of one accuracy column over some points of one
  sweep, or one run's 95% interval;
- the claims stated with whole percentages, effective instructions or minutes are recomputed one by one below,
  each from its definition.

A results/<sweep>/COMMAND.md is checked against its own sweep's rows only; README.md, which quotes every sweep,
against all of them.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "results").glob("*/COMMAND.md"))]
RESULTS = {p.parent.name: json.loads(p.read_text()) for p in sorted((ROOT / "results").glob("*/results.json"))}
NUM = r"\d+\.\d+"


def _pct(x: float) -> float:
    return round(100 * x + 1e-9, 1)


def _prose(md: Path) -> str:
    """The markdown with its generated tables blanked (test_results_tables.py checks those); lines keep their place."""
    return re.sub(r"<!-- results-table:.*?<!-- /results-table -->", lambda m: "\n" * m.group(0).count("\n"),
                  md.read_text(), flags=re.S)


def _rows(sweep: str) -> list[dict]:
    return RESULTS[sweep]["rows"]


def _accuracy_columns(row: dict) -> list[str]:
    return [k for k, v in row.items() if k.endswith("_accuracy") and isinstance(v, float)]


def _sweeps(md: Path) -> list[dict]:
    """The results a document may quote: its own sweep's for a COMMAND.md, every sweep's for README.md."""
    return [RESULTS[md.parent.name]] if md.name == "COMMAND.md" else list(RESULTS.values())


def _values(sweeps: list[dict]) -> set[float]:
    """Every percentage a sentence may quote: per-run values and bounds, point means, same-seed differences."""
    out: set[float] = set()
    for res in sweeps:
        rows = res["rows"]
        by_point: dict[str, list[dict]] = {}
        for r in rows:
            by_point.setdefault(r["point"], []).append(r)
            out |= {_pct(v) for k, v in r.items() if isinstance(v, float) and ("accuracy" in k or "_ci_" in k)}
        for runs in by_point.values():
            for col in _accuracy_columns(runs[0]):
                vals = [r[col] for r in runs if isinstance(r.get(col), float)]
                out.add(_pct(sum(vals) / len(vals)))
        for a, b in itertools.permutations(rows, 2):
            if a["seed"] == b["seed"]:
                out |= {_pct(a[col] - b[col]) for col in _accuracy_columns(a) if isinstance(b.get(col), float)}
    return out


def _ranges(sweeps: list[dict]) -> set[tuple[float, float]]:
    """(min, max) of each accuracy column over every non-empty set of points of one sweep, and each run's interval."""
    out: set[tuple[float, float]] = set()
    for res in sweeps:
        rows = res["rows"]
        points = sorted({r["point"] for r in rows})
        for r in rows:
            for col in _accuracy_columns(r):
                lo, hi = r.get(col.replace("_accuracy", "_ci_low")), r.get(col.replace("_accuracy", "_ci_high"))
                if isinstance(lo, float) and isinstance(hi, float):
                    out.add((_pct(lo), _pct(hi)))
        if len(points) > 12:  # subsets of a large sweep: single points and contiguous runs of them suffice
            groups = [points[i:j] for i in range(len(points)) for j in range(i + 1, len(points) + 1)]
        else:
            groups = [list(c) for n in range(1, len(points) + 1) for c in itertools.combinations(points, n)]
        for group in groups:
            sel = [r for r in rows if r["point"] in group]
            for col in _accuracy_columns(sel[0]):
                vals = [r[col] for r in sel if isinstance(r.get(col), float)]
                if vals:
                    out.add((_pct(min(vals)), _pct(max(vals))))
    return out


def _quoted(text: str):
    """(line, the quoted text, its numbers, whether it is a range) for each percentage or points with decimals."""
    for m in re.finditer(rf"(?<![\d.])({NUM}(?:(?:[-–]|,\s+|\s+and\s+){NUM})*)(%|\s+points?\b|\s+percent\b)", text):
        line = text[:m.start()].count("\n") + 1
        nums = [float(x) for x in re.findall(NUM, m.group(1))]
        yield line, m.group(0), nums, bool(re.fullmatch(rf"{NUM}[-–]{NUM}", m.group(1)))


def test_the_checker_finds_quoted_numbers_and_rejects_made_up_ones():
    found = list(_quoted("seen 29.0-35.2% against 34.05%; by 19.4, 11.8 and\n3.2 points; 87-92%, 1.5 s, 2.5 percent"))
    assert [(line, q, n, r) for line, q, n, r in found] == [
        (1, "29.0-35.2%", [29.0, 35.2], True), (1, "34.05%", [34.05], False),
        (1, "19.4, 11.8 and\n3.2 points", [19.4, 11.8, 3.2], False), (2, "2.5 percent", [2.5], False)]
    semantic = [RESULTS["toy_cpu_semantic"]]
    assert 123.4 not in _values(semantic) and (9.0, 12.2) not in _ranges(semantic)  # a stale 2-seed range
    assert 19.4 in _values(semantic) and 19.5 not in _values(semantic)
    assert _prose(ROOT / "README.md").count("\n") == (ROOT / "README.md").read_text().count("\n")


@pytest.mark.parametrize("md", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_quoted_percentage_is_a_value_of_the_committed_rows(md):
    values, ranges = _values(_sweeps(md)), _ranges(_sweeps(md))
    bad = []
    for line, quoted, nums, is_range in _quoted(_prose(md)):
        if is_range and (nums[0], nums[1]) not in ranges:
            bad.append(f"line {line}: {quoted} is not the min-max of a column over some points, nor an interval")
        elif not is_range and any(n not in values for n in nums):
            bad.append(f"line {line}: {quoted} is not a value of the committed rows")
    assert not bad, f"{md.relative_to(ROOT)}: " + "; ".join(bad)


def _text(*docs: str) -> str:
    return " ".join(" ".join(_prose(ROOT / d).split()) for d in docs)  # lines joined: sentences wrap


def _by(sweep: str, **knobs) -> list[dict]:
    return [r for r in _rows(sweep) if all(r.get(k) == v for k, v in knobs.items())]


def test_semantic_whole_space_beats_the_restricted_space_on_every_seed_by_the_quoted_points():
    seeds = sorted({r["seed"] for r in _rows("toy_cpu_semantic")})
    acc = {(r["variant"], r["seed"]): r["test_unseen_accuracy"] for r in _rows("toy_cpu_semantic")}
    gaps = [acc["whole-space", s] - acc["restricted-k3-8", s] for s in seeds]
    assert all(g > 0 for g in gaps)
    quoted = "by " + ", ".join(f"{100 * g:.1f}" for g in gaps[:-1]) + f" and {100 * gaps[-1]:.1f} points"
    assert quoted in _text("README.md") and quoted in _text("results/toy_cpu_semantic/COMMAND.md")
    # the comparison is paired: each seed's three runs were scored on the same unseen rows
    fps = {(r["seed"], r["test_unseen_fingerprint"]) for r in _rows("toy_cpu_semantic")}
    assert len(fps) == len(seeds) and "scored on the same rows" in _text("README.md")
    # one family against three: per seed, in the order the sentence gives them, and no consistent order
    one = [acc["one-family-k3-8", s] for s in seeds]
    three = [acc["restricted-k3-8", s] for s in seeds]
    fmt = lambda v: ", ".join(f"{100 * x:.1f}" for x in v[:-1]) + f" and {100 * v[-1]:.1f}%"  # noqa: E731
    assert f"per seed {fmt(one)} against {fmt(three)}: no consistent order" in _text(
        "results/toy_cpu_semantic/COMMAND.md")
    assert len({a > b for a, b in zip(one, three)}) == 2


def test_phase_transition_whole_percent_claims():
    small = [r for r in _rows("toy_cpu_phase_transition") if r["I"] <= 64]
    assert min(r["test_seen_accuracy"] for r in small) >= 0.94
    assert "seen accuracy is 94% or more in every run" in _text("results/toy_cpu_phase_transition/COMMAND.md")
    assert "seen accuracy 94% or more in every run" in _text("README.md")
    large = [r["test_unseen_op_accuracy"] for r in _rows("toy_cpu_phase_transition") if r["I"] in (1000, 3000)]
    quoted = f"{round(100 * min(large))}-{round(100 * max(large))}% on unseen rewrites"
    assert quoted in _text("README.md") and quoted in _text("results/toy_cpu_phase_transition/COMMAND.md")
    seen_1000 = [r["test_seen_accuracy"] for r in _by("toy_cpu_phase_transition", I=1000)]
    other = f"sweep reaches {round(100 * min(seen_1000))}-{round(100 * max(seen_1000))}% at I = 1,000"
    assert other in _text("results/toy_cpu_semantic/COMMAND.md")


def test_power_law_i3000_alpha003_claims():
    runs = sorted(r["test_unseen_op_accuracy"] for r in _by("toy_cpu_power_law", I=3000, alpha=0.03))
    assert len(runs) == 3
    text = _text("results/toy_cpu_power_law/COMMAND.md")
    assert f"({_pct(runs[2])}% on unseen rewrites) and two fall to {round(100 * runs[0])}-{round(100 * runs[1])}%" in text
    # "one seed stays at the Uniform level": inside the Uniform runs' range at I = 3,000
    uniform = [r["test_unseen_op_accuracy"] for r in _by("toy_cpu_power_law", I=3000, distribution="uniform")]
    assert min(uniform) <= runs[2] <= max(uniform) and "One seed stays at the Uniform level" in text
    # README: "two of its three seeds lose about half of their unseen accuracy" (against the Uniform mean)
    assert all(0.4 < r / _mean_of(uniform) < 0.6 for r in runs[:2])
    assert "two of its three seeds lose about half of their unseen accuracy" in _text("README.md")


def _mean_of(values: list[float]) -> float:
    return sum(values) / len(values)


def _mean(rows: list[dict], col: str) -> float:
    return _mean_of([r[col] for r in rows])


def test_phase_transition_small_i_applies_no_unseen_rule():
    assert max(r["test_unseen_op_accuracy"] for r in _rows("toy_cpu_phase_transition") if r["I"] <= 16) == 0.0
    assert "no unseen rewrite row is right at I <= 16" in _text("results/toy_cpu_phase_transition/COMMAND.md")


def test_power_law_effective_instructions_and_what_they_score_like():
    text = _text("results/toy_cpu_power_law/COMMAND.md")
    skewed = _by("toy_cpu_power_law", I=3000, alpha=0.03)
    assert round(_mean(skewed, "effective_instructions"), -1) == 220 and "About 220 effective instructions" in text
    assert "220 effective instructions at I = 3,000 score like 256 Uniform ones" in _text("README.md")
    few = _by("toy_cpu_power_law", I=256, alpha=0.1)
    assert round(_mean(few, "effective_instructions")) == 62 and "62 effective (I = 256" in text
    # "score between the Uniform runs at I = 64 and I = 256" (the Uniform runs are the phase-transition sweep's)
    for col in ("test_unseen_accuracy", "test_unseen_op_accuracy"):
        lo = _mean(_by("toy_cpu_phase_transition", I=64), col)
        hi = _mean(_by("toy_cpu_phase_transition", I=256), col)
        assert lo < _mean(few, col) < hi, col
        # "about 220 effective instructions at I = 3,000 (alpha 0.03) score like 256 Uniform instructions"
        assert abs(_mean(skewed, col) - hi) < 0.02, col
    assert max(r["test_unseen_op_accuracy"] for r in _by("toy_cpu_power_law", I=256, alpha=0.03)) <= 0.005
    assert "to at most 0.5% at alpha 0.03" in text


@pytest.mark.parametrize("sweep", [s for s in sorted(RESULTS) if s.startswith("toy_cpu_")])
def test_the_quoted_training_times_are_the_rows_train_s(sweep):
    minutes = [r["train_s"] / 60 for r in _rows(sweep) if r.get("train_s")]
    lo, hi = round(min(minutes)), round(max(minutes))
    text = _text(f"results/{sweep}/COMMAND.md")
    assert f"took {lo}-{hi} minutes per run" in text or f"vary from {lo} to {hi} minutes" in text, (lo, hi)
    assert re.search(rf"sweeps/{sweep}\.yaml +#[^\n]* {lo}-{hi} min each", (ROOT / "README.md").read_text()), (lo, hi)
