"""What the results prose says about a sweep, computed from its per-run rows: the runs a phrase speaks of, the value
it quotes, which runs were scored on the same test rows, and each comparison with its statistical test.

sweeps.report writes these into README.md and results/*/COMMAND.md (see its docstring for the markers); this module
only computes them.

**Selections.** Filters on the rows' columns, all of which must hold: ``I=1000``, ``I=1000,3000`` (either value),
``I<=64`` (also ``>=``, ``<``, ``>``), ``variant=whole-space``, ``alpha=none`` (no value).

**Values** (``STAT COLUMN FILTER...``): STAT is ``mean``, ``min`` or ``max`` (one number), ``range`` (two: the
minimum and the maximum) or ``each`` (one per selected run, in seed order) of COLUMN over the selected runs.
Accuracies (``*_accuracy`` columns) are in percent.

**Comparisons** (``COLUMN_A - COLUMN_B FILTER...``: two accuracies of the same runs; ``COLUMN FILTER... vs
FILTER...``: one accuracy of two selections). The two sides are paired by seed (one run per seed on each side) and
tested from the counts each run got right (accuracy x ``<split>_n``):

- per seed: where both sides were scored on the same rows (equal ``<split>_fingerprint``), McNemar's exact test.
  The results hold counts, not which rows each run got right, so its p-value is given as the range it takes over
  every per-row agreement the two counts allow: whatever the agreement, the exact p-value lies in that range.
  Elsewhere (another split of the same run, or another run's rows) the two counts are independent samples:
  Fisher's exact test;
- over seeds: a paired t-test of the seeds' differences where each seed's two sides are one run or share their rows
  (the seed is then a block); Welch's t-test of the two sides' accuracies otherwise. Both give the 95% interval of the
  mean difference. With three seeds it has two degrees of freedom: only large, consistent gaps reach p < 0.05 (an
  exact permutation test of three seeds could not go below p = 0.25 at all).

All p-values are two-sided and unadjusted for the number of comparisons made. The sentence of a comparison::

    A − B[ (ACCURACY)][ at FILTERS]: d1, d2 and d3 points on seeds 0, 1 and 2
    (DIRECTION; ROWS, TEST: p p1, p2 and p3); mean m points, 95% CI lo to hi (paired t-test | Welch's t-test over
    seeds, p P)

A and B name each side by the filters it does not share with the other (a comparison of selections; ACCURACY then
names the accuracy) or by its accuracy (``unseen``, ``seen``, ``seen, head third``...). Differences are A - B in
points of accuracy; a p-value has two significant digits (``0.13``, ``0.0086``) or reads ``< 0.001``, and McNemar's
range ``< 0.001 to 0.32`` (one value where both ends read alike).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean, stdev

import numpy as np
from scipy import stats

from core.errors import ConfigError

FILTER = re.compile(r"(?P<column>[A-Za-z_]\w*)(?P<op><=|>=|=|<|>)(?P<values>\S+)")
STATS = ("mean", "min", "max", "range", "each")

# an accuracy column's name in a sentence (the results tables' headers, "unseen: all" read as "unseen")
COLUMN_LABELS = {
    "test_unseen_accuracy": "unseen",
    "test_seen_accuracy": "seen",
    "test_seen_head_accuracy": "seen, head third",
    "test_seen_middle_accuracy": "seen, middle third",
    "test_seen_tail_accuracy": "seen, tail third",
}
BARE = {"variant", "distribution"}  # named by their value alone in a label ("whole-space", "uniform")
PAIRING_KNOBS = ("seed", "I", "variant", "distribution", "alpha", "noop_fraction", "N")  # in the sharing note


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    values: tuple[str, ...]

    def holds(self, row: dict) -> bool:
        v = row.get(self.column)
        if self.op == "=":
            return any(_same(v, text) for text in self.values)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return False
        bound = float(self.values[0])
        return {"<=": v <= bound, ">=": v >= bound, "<": v < bound, ">": v > bound}[self.op]

    def label(self) -> str:
        if self.op == "=" and self.column in BARE:
            return " or ".join(self.values)
        return f"{self.column} {self.op} {' or '.join(self.values)}"


def _same(v: object, text: str) -> bool:
    if v is None:
        return text == "none"
    if isinstance(v, bool):
        return text.lower() == str(v).lower()
    if isinstance(v, (int, float)):
        try:
            return float(text) == v
        except ValueError:
            return False
    return str(v) == text


def parse_filters(tokens: Sequence[str], rows: list[dict]) -> tuple[Filter, ...]:
    """The filters of a spec's tokens; a token that is no filter, or names a column no row has, is an error."""
    out = []
    for tok in tokens:
        m = FILTER.fullmatch(tok)
        if not m:
            raise ConfigError("filter", f"{tok!r} is not COLUMN=VALUE[,VALUE...] (or <=, >=, <, > a number)")
        if not any(m["column"] in r for r in rows):
            raise ConfigError("filter", f"{tok!r}: no run has a column {m['column']!r}")
        values = tuple(m["values"].split(","))
        if m["op"] != "=":
            if len(values) > 1:
                raise ConfigError("filter", f"{tok!r}: {m['op']} takes one number")
            try:
                float(values[0])
            except ValueError:
                raise ConfigError("filter", f"{tok!r}: {m['op']} takes a number") from None
        out.append(Filter(m["column"], m["op"], values))
    return tuple(out)


def select(rows: list[dict], filters: Sequence[Filter]) -> list[dict]:
    """The runs every filter holds for, in seed order (then run id); none is an error."""
    chosen = sorted((r for r in rows if all(f.holds(r) for f in filters)), key=lambda r: (r.get("seed"), r["run"]))
    if not chosen:
        raise ConfigError("filter", f"no run has {' '.join(_token(f) for f in filters) or '(no filter)'}")
    return chosen


def _token(f: Filter) -> str:
    return f"{f.column}{f.op}{','.join(f.values)}"


def _column(rows: list[dict], column: str) -> list[float]:
    vals = [r.get(column) for r in rows]
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in vals):
        missing = [r["run"] for r, v in zip(rows, vals) if not isinstance(v, (int, float))]
        raise ConfigError("column", f"{column!r} is not a number in run(s) {', '.join(missing)}")
    scale = 100.0 if column.endswith("_accuracy") else 1.0
    return [scale * v for v in vals]


def quoted_values(rows: list[dict], spec: str) -> list[float]:
    """The value(s) a ``STAT COLUMN FILTER...`` spec names (see the module docstring), accuracies in percent."""
    tokens = spec.split()
    if len(tokens) < 2 or tokens[0] not in STATS:
        raise ConfigError("value", f"{spec!r}: want STAT COLUMN FILTER..., STAT one of {', '.join(STATS)}")
    stat, column = tokens[0], tokens[1]
    vals = _column(select(rows, parse_filters(tokens[2:], rows)), column)
    return {"mean": lambda: [mean(vals)], "min": lambda: [min(vals)], "max": lambda: [max(vals)],
            "range": lambda: [min(vals), max(vals)], "each": lambda: vals}[stat]()


# ---------------------------------------------------------------------------------------------------------
# Which runs were scored on the same rows


def split_of(column: str) -> str:
    """The scored split of an accuracy column: ``test_unseen_accuracy`` -> ``test_unseen``."""
    if not column.endswith("_accuracy"):
        raise ConfigError("column", f"{column!r} is not an accuracy column (<split>_accuracy)")
    return column[: -len("_accuracy")]


def same_rows(a: dict, col_a: str, b: dict, col_b: str) -> bool:
    """Whether run ``a``'s ``col_a`` and run ``b``'s ``col_b`` were scored on the same rows: one split, and equal
    ``<split>_fingerprint`` (the SHA-256 of the split's rows). Without fingerprints nothing is known to be shared."""
    split = split_of(col_a)
    if split != split_of(col_b):
        return False
    fa, fb = a.get(f"{split}_fingerprint"), b.get(f"{split}_fingerprint")
    return fa is not None and fa == fb


def sharing(rows: list[dict]) -> str | None:
    """One sentence saying, for each scored split with fingerprints, which runs were scored on the same rows (and so
    compare as pairs); None where no row carries a fingerprint."""
    shared, own = [], []
    for split in ("test_unseen", "test_seen"):
        key = f"{split}_fingerprint"
        if not any(r.get(key) for r in rows):
            continue
        groups: dict[str, list[dict]] = {}
        for r in rows:
            groups.setdefault(r.get(key) or r["run"], []).append(r)
        name = split.removeprefix("test_")
        if all(len(g) == 1 for g in groups.values()):
            own.append(name)
        else:
            shared.append(f"{_describe(rows, list(groups.values()), key)} were scored on the same {name} rows "
                          f"(equal fingerprints) and compare as pairs")
    if not shared and not own:
        return None
    if not shared:
        return "No two runs share a test split's fingerprint: runs compare as independent samples."
    text = "; ".join(shared)
    return text[0].upper() + text[1:] + (f"; {' and '.join(own)} rows: each run its own." if own else ".")


def _describe(rows: list[dict], groups: list[list[dict]], key: str) -> str:
    """The runs that share rows, by the knobs they agree on: "the runs of one seed and one I"."""
    varying = [k for k in PAIRING_KNOBS if len({repr(r.get(k)) for r in rows}) > 1]
    fixed = [k for k in varying if all(len({repr(r.get(k)) for r in g}) == 1 for g in groups)]
    if len({tuple(repr(r.get(k)) for k in fixed) for r in rows}) == len(groups):  # exactly the runs agreeing on `fixed`
        return "all runs" if not fixed else "the runs of one " + " and one ".join(fixed)
    k = sum(len(g) > 1 for g in groups)
    return f"{k} group{'s' if k > 1 else ''} of runs with equal {key}"


# ---------------------------------------------------------------------------------------------------------
# Tests


def counts(row: dict, column: str) -> tuple[int, int]:
    """(rows right, rows scored) behind a run's accuracy: accuracy x ``<split>_n``."""
    split = split_of(column)
    n, acc = row.get(f"{split}_n"), row.get(column)
    if not isinstance(n, int) or not isinstance(acc, (int, float)):
        raise ConfigError("column", f"{column!r} of run {row['run']} has no accuracy and row count ({split}_n)")
    right = round(acc * n)
    if abs(acc * n - right) > 1e-6:
        raise ConfigError("column", f"{column!r} of run {row['run']}: {acc} is no count out of {n} rows")
    return right, n


def mcnemar_range(right_a: int, right_b: int, n: int) -> tuple[float, float]:
    """The smallest and largest exact McNemar p-value (two-sided) over the 2 x 2 tables of two runs scored on the
    same ``n`` rows that have these marginal counts: ``both`` right on ``a`` rows, ``a`` only on ``right_a - both``,
    ``b`` only on ``right_b - both``, for every feasible ``both``."""
    both = np.arange(max(0, right_a + right_b - n), min(right_a, right_b) + 1)
    only_a, only_b = right_a - both, right_b - both
    p = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(only_a, only_b), only_a + only_b, 0.5))
    return float(p.min()), float(p.max())


def fisher_p(right_a: int, n_a: int, right_b: int, n_b: int) -> float:
    """Fisher's exact test (two-sided) of two independent proportions."""
    return float(stats.fisher_exact([[right_a, n_a - right_a], [right_b, n_b - right_b]]).pvalue)


@dataclass
class SeedTest:
    seed: int
    diff: float  # side A - side B, accuracy in [-1, 1]
    same_rows: bool
    p_low: float  # McNemar: the range over the unknown agreement; Fisher: p_low == p_high
    p_high: float


@dataclass
class Comparison:
    label_a: str
    label_b: str
    of: str  # the accuracy compared, for a comparison of two selections ("" for two accuracies of the same runs)
    at: str  # the filters both sides share, as words ("" when none)
    per_seed: list[SeedTest]
    paired: bool  # across seeds: each seed's sides are one run or share rows
    mean_diff: float
    ci: tuple[float, float] | None  # None with one seed
    p: float | None


def _sides(rows: list[dict], spec: str) -> tuple[tuple[str, tuple[Filter, ...]], tuple[str, tuple[Filter, ...]]]:
    tokens = spec.split()
    if len(tokens) >= 3 and tokens[1] == "-":
        common = parse_filters(tokens[3:], rows)
        return (tokens[0], common), (tokens[2], common)
    if "vs" in tokens and tokens.index("vs") >= 1:
        cut = tokens.index("vs")
        return ((tokens[0], parse_filters(tokens[1:cut], rows)), (tokens[0], parse_filters(tokens[cut + 1:], rows)))
    raise ConfigError("compare", f"{spec!r}: want COLUMN_A - COLUMN_B FILTER... or COLUMN FILTER... vs FILTER...")


def _by_seed(runs: list[dict], what: str) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for r in runs:
        if r.get("seed") in out:
            raise ConfigError("compare", f"{what} selects two runs of seed {r.get('seed')} "
                                         f"({out[r['seed']]['run']}, {r['run']}): add a filter")
        out[r.get("seed")] = r
    return out


def compare(rows: list[dict], spec: str) -> Comparison:
    """The comparison a spec names (see the module docstring), with its per-seed and over-seeds tests."""
    (col_a, fil_a), (col_b, fil_b) = _sides(rows, spec)
    for col in (col_a, col_b):
        split_of(col)
    side_a, side_b = _by_seed(select(rows, fil_a), "side A"), _by_seed(select(rows, fil_b), "side B")
    if sorted(side_a) != sorted(side_b):
        raise ConfigError("compare", f"{spec!r}: the sides have seeds {sorted(side_a)} and {sorted(side_b)}")
    if col_a == col_b and fil_a == fil_b:
        raise ConfigError("compare", f"{spec!r} compares the runs with themselves")
    per_seed = []
    for seed in sorted(side_a):
        a, b = side_a[seed], side_b[seed]
        (ra, na), (rb, nb) = counts(a, col_a), counts(b, col_b)
        shared = same_rows(a, col_a, b, col_b)
        lo, hi = mcnemar_range(ra, rb, na) if shared else (fisher_p(ra, na, rb, nb),) * 2
        per_seed.append(SeedTest(seed, a[col_a] - b[col_b], shared, lo, hi))
    paired = all(t.same_rows or side_a[t.seed]["run"] == side_b[t.seed]["run"] for t in per_seed)
    va = [side_a[s][col_a] for s in sorted(side_a)]
    vb = [side_b[s][col_b] for s in sorted(side_b)]
    ci, p = None, None
    spread = [[x - y for x, y in zip(va, vb)]] if paired else [va, vb]
    if len(va) > 1 and any(stdev(v) > 1e-9 for v in spread):  # with no spread over seeds there is no t-test
        res = stats.ttest_rel(va, vb) if paired else stats.ttest_ind(va, vb, equal_var=False)
        low, high = res.confidence_interval(0.95)
        ci, p = (float(low), float(high)), float(res.pvalue)
    common = [f for f in fil_a if f in fil_b]
    if col_a != col_b:  # two accuracies of the same runs
        label_a, label_b, of = _column_label(col_a), _column_label(col_b), ""
    else:  # one accuracy of two selections, each named by the filters it does not share
        label_a = _filters_label([f for f in fil_a if f not in common]) or _filters_label(fil_a) or "all runs"
        label_b = _filters_label([f for f in fil_b if f not in common]) or _filters_label(fil_b) or "all runs"
        of = _column_label(col_a)
    return Comparison(label_a, label_b, of, _filters_label(common), per_seed, paired, mean(va) - mean(vb), ci, p)


def _column_label(column: str) -> str:
    return COLUMN_LABELS.get(column, split_of(column).removeprefix("test_").replace("_", " "))


def _filters_label(filters: Sequence[Filter]) -> str:
    return ", ".join(f.label() for f in filters)


# ---------------------------------------------------------------------------------------------------------
# The sentence


def p_text(p: float) -> str:
    """``< 0.001``, else two significant digits (``0.13``, ``0.050``, ``0.0086``; ``1.0``)."""
    if p < 0.001:
        return "< 0.001"
    return f"{p:.{max(1, 1 - math.floor(math.log10(p)))}f}"


def points(d: float) -> str:
    """A difference of accuracies in signed points: ``+19.4``, ``-6.2``."""
    return f"{100 * d:+.1f}"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _direction(diffs: Sequence[float]) -> str:
    up, down = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    if up == len(diffs):
        return "higher on every seed"
    if down == len(diffs):
        return "lower on every seed"
    parts = [f"{word} on {k}" for word, k in (("higher", up), ("lower", down), ("equal", len(diffs) - up - down)) if k]
    return ", ".join(parts) + f" of {len(diffs)} seeds"


def _seed_p(t: SeedTest) -> str:
    lo, hi = p_text(t.p_low), p_text(t.p_high)
    return lo if lo == hi else f"{lo} to {hi}"


def _p_list(items: Sequence[str]) -> str:
    """``p = 0.85, 0.50 and < 0.001``; ``p < 0.001 and 0.13``."""
    return "p " + ("" if items[0].startswith("<") else "= ") + _and(items)


def _rows_words(tests: Sequence[SeedTest]) -> str:
    if all(t.same_rows for t in tests):
        return "same rows, McNemar's exact test over the unrecorded per-row agreement"
    if not any(t.same_rows for t in tests):
        return "different rows, Fisher's exact test"
    return "McNemar's exact test where a seed's runs share rows, else Fisher's exact test"


def sentence(c: Comparison) -> str:
    """The comparison as one sentence (shape in the module docstring)."""
    head = f"{c.label_a} − {c.label_b}" + (f" ({c.of})" if c.of else "") + (f" at {c.at}" if c.at else "")
    seeds = _and([str(t.seed) for t in c.per_seed])
    out = (f"{head}: {_and([points(t.diff) for t in c.per_seed])} points on seed{'s' if len(c.per_seed) > 1 else ''} "
           f"{seeds} ({_direction([t.diff for t in c.per_seed])}; {_rows_words(c.per_seed)}: "
           f"{_p_list([_seed_p(t) for t in c.per_seed])})")
    if c.ci is not None and c.p is not None:
        test = "paired t-test" if c.paired else "Welch's t-test"
        out += (f"; mean {points(c.mean_diff)} points, 95% CI {points(c.ci[0])} to {points(c.ci[1])} "
                f"({test} over seeds, p {'= ' if c.p >= 0.001 else ''}{p_text(c.p)})")
    return out
