"""The paper's three figures from a results table, as PNG files (matplotlib, headless).

Each function takes a list of row dicts (one per trained model) such as :func:`eval.results.sweep_row`
produces or a sweep runner collects, with keys ``I`` (distinct training instructions), ``S`` (examples per
instruction), ``alpha`` (power-law exponent of the instruction distribution), ``accuracy``, ``ci_low``,
``ci_high`` (fractions), writes the figure to ``path`` and returns the plotted data, so callers and tests can
check what was drawn without reading pixels:

- :func:`plot_phase_transition`: accuracy on unseen instructions against I (log scale), with intervals; one
  line, or one per value of a ``series`` key (e.g. ``N`` the training budget, ``noop_fraction``, ``S``).
- :func:`plot_heatmap`: mean accuracy over an I x S grid.
- :func:`plot_power_law`: accuracy against the power-law exponent alpha (log scale, skew growing to the right),
  one line per I; uniform-frequency runs (``distribution: uniform``, alpha None) are a dashed reference line.
- :func:`plot_semantic`: accuracy on unseen (small-k) patterns against the training k range, one line per
  pattern-family mix, one panel per I; the unrestricted runs are dashed reference lines.
- :func:`plot_variants`: the accuracy of a sweep's variants (e.g. restricted and unrestricted training spaces)
  side by side at equal I, where no other plot applies.
- :func:`plot_splits`: what one ``diveval rewrite`` results file holds: accuracy per split (all rows, rewrites,
  no-ops) with its Wilson intervals.

Rows with the same coordinates (the seeds of one point) are averaged: the line goes through the mean, the bars
span the seeds' minimum to maximum, and each seed is drawn as a faint dot; a point of one run shows that run's
Wilson interval instead. The caption says how many seeds (runs) each point averages.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from core.atomic import atomic_file
from core.errors import ConfigError


def _figure():
    # deferred: matplotlib (the [train] extra) only when a plot is drawn
    import matplotlib

    matplotlib.use("Agg")  # headless: no display needed
    import matplotlib.pyplot as plt

    return plt


#: Row keys that must be finite numbers when present: (smallest allowed, largest allowed, smallest excluded);
#: interval bounds only need to be finite.
NUMERIC = {
    "I": (0, None, True), "S": (0, None, True), "N": (0, None, True), "alpha": (0, None, True),
    "noop_fraction": (0, 1, False), "accuracy": (0, 1, False), "ci_low": (None, None, False), "ci_high": (None, None, False),
}


def check_row(row, where: str) -> None:
    """Refuse a row whose plotted values are not finite numbers in range (``where`` names it: file and row)."""
    if not isinstance(row, dict):
        raise ConfigError(None, f"{where} is not a mapping of values")
    for key, (lo, hi, open_lo) in NUMERIC.items():
        v = row.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(None, f"{where}: {key!r} must be a finite number, got {v!r}")
        if lo is not None and (v < lo or (open_lo and v == lo)) or (hi is not None and v > hi):
            bound = f"{'>' if open_lo else '>='} {lo}" + (f" and <= {hi}" if hi is not None else "")
            raise ConfigError(None, f"{where}: {key!r} must be {bound}, got {v!r}")


def _need(rows: Sequence[dict], keys: Sequence[str], plot: str) -> None:
    if not rows:
        raise ConfigError("rows", f"{plot}: the results table is empty")
    for i, row in enumerate(rows):
        name = row.get("model") or row.get("run") or "?" if isinstance(row, dict) else "?"
        check_row(row, f"{plot}: row {i} ({name})")
        for key in keys:
            if row.get(key) is None:
                raise ConfigError("rows", f"{plot}: row {i} ({name}) has no {key!r}")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _is_uniform(row: dict) -> bool:
    """A uniform-frequency run (Uniform on the paper's power-law axis, not alpha = 1)."""
    return row.get("distribution") == "uniform" or row.get("alpha") == "uniform"


def _series_value(row: dict, key: str | None):
    if key is None:
        return None
    if key == "alpha" and _is_uniform(row):
        return "uniform"
    return _label(row.get(key))


def _point(x, group: Sequence[dict]) -> tuple:
    """(x, mean accuracy, low, high): low / high are the min / max over the group's runs (seeds), or the Wilson
    interval of a single run."""
    accs = [r["accuracy"] for r in group]
    if len(group) > 1:
        return (x, _mean(accs), min(accs), max(accs))
    r = group[0]
    return (x, accs[0], r.get("ci_low", accs[0]), r.get("ci_high", accs[0]))


def _grouped(rows: Sequence[dict], series_key: str | None, x_key: str) -> tuple[dict, dict]:
    """({series: [(x, mean, low, high), ...] sorted by x}, {series: [(x, [accuracy of each run]), ...]}),
    averaging the runs (seeds) that share (series, x); see :func:`_point` for low / high."""
    cells: dict = defaultdict(list)
    for row in rows:
        cells[(_series_value(row, series_key), row[x_key])].append(row)
    out: dict = defaultdict(list)
    singles: dict = defaultdict(list)
    for (series, x), group in cells.items():
        out[series].append(_point(x, group))
        singles[series].append((x, [r["accuracy"] for r in group]))
    order = sorted(out, key=_series_order)
    return {s: sorted(out[s]) for s in order}, {s: sorted(singles[s]) for s in order}


def _seed_note(counts: Sequence[int], rows: Sequence[dict] = ()) -> str:
    """The caption: how many runs each point averages and what the bars are."""
    if not counts:
        return ""
    lo, hi = min(counts), max(counts)
    many = f"{lo}" if lo == hi else f"{lo}-{hi}"
    seeds = {r.get("seed") for r in rows}
    unit = "seed" if len(seeds) > 1 or all(r.get("seed") is not None for r in rows) else "run"
    if hi == 1:
        return f"1 {unit} per point; bars: 95% Wilson interval"
    bars = "bars: min-max over seeds" if unit == "seed" else "bars: min-max over runs"
    if lo == 1:
        bars += " (Wilson interval where one run)"
    return f"mean of {many} {unit}s per point (faint dots: each {unit}); {bars}"


def _series_order(value) -> tuple:
    """Lines in legend order: numbers by value (64 before 256), then text, then the unlabelled line."""
    if value is None:
        return (2, 0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


def _label(value):
    """A series value as a dict key: lists (e.g. a pattern-family range [3, 4] swept as an axis) become text."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def _save(fig, path: str | Path) -> Path:
    try:
        with atomic_file(path) as tmp:  # readers never see half a file
            fig.savefig(tmp, dpi=120, bbox_inches="tight")
    finally:
        _figure().close(fig)
    return Path(path)


def split_label(split: str) -> str:
    return {"test_unseen": "unseen instructions", "test_seen": "seen instructions"}.get(split, f"split {split}")


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _fmt_s(v) -> str:
    """An examples-per-instruction value (S = N / I) as a label: whole numbers as such, others rounded to one."""
    if isinstance(v, float) and not v.is_integer():
        return f"≈{round(v)}" if v >= 10 else f"≈{v:.2g}"  # whole numbers from 10 on (not 1.56e+03 or 468.75)
    return str(int(v)) if isinstance(v, float) else str(v)


def _draw_line(ax, points, singles, label, **style) -> str:
    """One line: means with their bars, and each run of a several-run point as a faint dot; its colour."""
    xs = [p[0] for p in points]
    ys = [100 * p[1] for p in points]
    lo = [100 * (p[1] - p[2]) for p in points]
    hi = [100 * (p[3] - p[1]) for p in points]
    bars = ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=label, **style)
    color = bars.lines[0].get_color()
    for x, accs in singles:
        if len(accs) > 1:
            ax.scatter([x] * len(accs), [100 * a for a in accs], s=12, color=color, alpha=0.35, linewidths=0, zorder=3)
    return color


def _log_ticks(ax, xs_all, labels=None) -> None:
    ax.set_xscale("log")
    if len(xs_all) <= 8:  # few points: label them as plain numbers instead of sparse powers of ten
        from matplotlib.ticker import NullFormatter

        ax.set_xticks(xs_all, labels or [_fmt(x) for x in xs_all])
        ax.xaxis.set_minor_formatter(NullFormatter())


def _line_plot(rows, path, *, x_key, series_key, xlabel, series_label, title, split, log_x=True, reference=None,
               invert_x=False) -> dict:
    plt = _figure()
    data, singles = _grouped(rows, series_key, x_key)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = {}
    for series, points in data.items():
        label = f"{series_label} = {_fmt(series)}" if series is not None else None
        colors[series] = _draw_line(ax, points, singles[series], label)
    counts = [len(accs) for lines in singles.values() for _, accs in lines]
    refs = {}
    for series, group in (reference or {}).items():  # e.g. the uniform runs of a power-law plot, per I
        _, mean, low, high = _point(None, group)
        kw = {"color": colors.get(series)} if colors.get(series) else {}
        line = ax.axhline(100 * mean, linestyle="--", linewidth=1, label=f"{series_label} = {_fmt(series)}, uniform", **kw)
        ax.axhspan(100 * low, 100 * high, color=line.get_color(), alpha=0.08, linewidth=0)
        refs[series] = (mean, low, high)
        counts.append(len(group))
    if log_x:
        _log_ticks(ax, sorted({p[0] for points in data.values() for p in points}))
    if invert_x:
        ax.invert_xaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"exact match on {split_label(split)} (%)")
    ax.set_ylim(-3, 103)
    note = _seed_note(counts, rows)
    ax.set_title(f"{title}\n{note}" if note else title, fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    if any(s is not None for s in data) or refs:
        ax.legend(fontsize="small")
    _save(fig, path)
    return {"x": x_key, "series": series_key, "lines": dict(data), "seeds": dict(singles), "reference": refs,
            "note": note, "path": str(path)}


def plot_phase_transition(rows: Sequence[dict], path: str | Path, series: str | None = None, split: str = "test_unseen") -> dict:
    """Accuracy (on unseen instructions, or ``split``) against the number of distinct training instructions (log x).

    Returns ``{"x": "I", "series": key, "lines": {series value: [(I, acc, ci_low, ci_high), ...]}, "path"}``.
    """
    _need(rows, ["I", "accuracy"], "phase transition plot")
    if series is not None and all(r.get(series) is None for r in rows):
        series = None
    return _line_plot(
        rows, path, x_key="I", series_key=series, xlabel="distinct training instructions I (log scale)",
        series_label=series or "", split=split,
        title="Generalization to unseen instructions" if split == "test_unseen" else f"Accuracy on {split_label(split)}",
    )


def plot_power_law(rows: Sequence[dict], path: str | Path, split: str = "test_unseen") -> dict:
    """Accuracy on unseen instructions against the power-law exponent alpha (log x), one line per I.

    The paper's axis (Uniform, 2, 1, 0.5, ..., 0.03) is skew growing: alpha decreases to the right. Uniform runs
    (``distribution: uniform``, or alpha ``"uniform"``) are not a value of alpha: each I's uniform runs are a
    dashed reference line (their mean, with a band over their seeds or their interval), returned under
    ``"reference"`` as ``{I: (mean, low, high)}``.
    """
    # a uniform run needs no alpha (the checks see a numeric stand-in, never plotted); every other row does
    _need([{**r, "alpha": 1.0} if _is_uniform(r) else r for r in rows], ["alpha", "I", "accuracy"], "power-law plot")
    skewed = [r for r in rows if not _is_uniform(r)]
    uniform: dict = defaultdict(list)
    for r in rows:
        if _is_uniform(r):
            uniform[r["I"]].append(r)
    return _line_plot(
        skewed, path, x_key="alpha", series_key="I",
        xlabel="power-law exponent alpha (log scale; skew grows to the right)",
        series_label="I", title="Robustness to imbalanced instruction frequencies", split=split,
        reference=dict(sorted(uniform.items())), invert_x=True,
    )


def plot_heatmap(rows: Sequence[dict], path: str | Path, split: str = "test_unseen") -> dict:
    """Mean accuracy on unseen instructions over the grid of I (columns) by S (rows); empty cells blank.

    Returns ``{"I": [...], "S": [...], "grid": [[acc or None per I] per S], "path"}``.
    """
    _need(rows, ["I", "S", "accuracy"], "heat map")
    plt = _figure()
    i_values = sorted({r["I"] for r in rows})
    s_values = sorted({r["S"] for r in rows})
    cells: dict = defaultdict(list)
    for r in rows:
        cells[(r["S"], r["I"])].append(r["accuracy"])
    grid = [[_mean(cells[(s, i)]) if (s, i) in cells else None for i in i_values] for s in s_values]
    counts = [len(v) for v in cells.values()]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(i_values) + 2), max(3.0, 0.5 * len(s_values) + 1.5)))
    masked = [[float("nan") if v is None else 100 * v for v in line] for line in grid]
    image = ax.imshow(masked, vmin=0, vmax=100, cmap="viridis", aspect="auto", origin="lower")
    for y, line in enumerate(grid):
        for x, v in enumerate(line):
            if v is not None:
                ax.text(x, y, f"{100 * v:.0f}", ha="center", va="center", color="white" if v < 0.6 else "black", fontsize=8)
    ax.set_xticks(range(len(i_values)), [_fmt(v) for v in i_values], rotation=45)
    ax.set_yticks(range(len(s_values)), [_fmt_s(v) for v in s_values])
    ax.set_xlabel("distinct training instructions I")
    ax.set_ylabel("examples per instruction S (= N / I)")
    many = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
    unit = "seeds" if all(r.get("seed") is not None for r in rows) else "runs"
    note = "" if max(counts) == 1 else f"\nmean of {many} {unit} per cell"
    ax.set_title(f"Exact match on {split_label(split)} (%){note}", fontsize="medium")
    fig.colorbar(image, ax=ax, label="accuracy (%)")
    _save(fig, path)
    return {"I": i_values, "S": s_values, "S_labels": [_fmt_s(v) for v in s_values], "grid": grid, "path": str(path)}


def _k_key(row: dict) -> tuple[int, int]:
    low, _, high = str(row["k_range"]).partition("-")
    return int(low), int(high or low)


def plot_semantic(rows: Sequence[dict], path: str | Path, split: str = "test_unseen") -> dict:
    """Accuracy on unseen patterns (the small-k test space) against the training patterns' k range.

    One panel per I, one line per pattern-family mix (``families``, e.g. ``repeated`` or
    ``repeated+periodic+mirrored``) over the restricted k ranges (x: the range's upper end, labelled ``3-4``, ...),
    and each mix's unrestricted runs (``restricted`` False: the training k range overlaps the test's) as a dashed
    reference line at the same I. Returns ``{"panels": {I: {"lines": {families: [(k_max, mean, low, high)]},
    "seeds": {...}, "unrestricted": {families: (mean, low, high)}}}, "k_labels": {k_max: "3-4"}, "path"}``.
    """
    _need(rows, ["I", "k_range", "families", "accuracy"], "semantic plot")
    plt = _figure()
    i_values = sorted({r["I"] for r in rows})
    families = sorted({r["families"] for r in rows}, key=lambda f: (f.count("+"), f))
    colors = dict(zip(families, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4))
    labels = {_k_key(r)[1]: r["k_range"] for r in rows if r.get("restricted") is not False}
    fig, axes = plt.subplots(1, len(i_values), figsize=(4.2 * len(i_values) + 1, 4.2), sharey=True, squeeze=False)
    panels, counts = {}, []
    for ax, i in zip(axes[0], i_values):
        mine = [r for r in rows if r["I"] == i]
        lines = [{**r, "k_max": _k_key(r)[1]} for r in mine if r.get("restricted") is not False]
        data, singles = _grouped(lines, "families", "k_max")
        for fam, points in data.items():
            _draw_line(ax, points, singles[fam], fam, color=colors[fam])
        counts += [len(accs) for ls in singles.values() for _, accs in ls]
        refs = {}
        for fam in families:
            group = [r for r in mine if r.get("restricted") is False and r["families"] == fam]
            if group:
                _, mean, low, high = _point(None, group)
                ax.axhline(100 * mean, linestyle="--", linewidth=1, color=colors[fam], label=f"{fam}, unrestricted "
                           f"(k {group[0]['k_range']})")
                ax.axhspan(100 * low, 100 * high, color=colors[fam], alpha=0.08, linewidth=0)
                refs[fam] = (mean, low, high)
                counts.append(len(group))
        xs = sorted({p[0] for points in data.values() for p in points})
        if xs:
            _log_ticks(ax, xs, [labels[x] for x in xs])
        ax.set_title(f"I = {_fmt(i)}", fontsize="medium")
        ax.set_xlabel("training pattern k range")
        ax.set_ylim(-3, 103)
        ax.grid(True, which="both", alpha=0.3)
        panels[i] = {"lines": data, "seeds": singles, "unrestricted": refs}
    axes[0][0].set_ylabel(f"exact match on {split_label(split)} (%)")
    axes[0][-1].legend(fontsize="x-small")
    note = _seed_note(counts, rows)
    fig.suptitle(f"Semantic restriction: restricted k ranges vs unrestricted, at equal I\n{note}", fontsize="medium", y=1.06)
    _save(fig, path)
    return {"panels": panels, "k_labels": labels, "note": note, "path": str(path)}


def _variant_order(item: tuple[str, bool | None]) -> tuple:
    """Restricted training spaces first, then those not marked, then the unrestricted references; by name."""
    name, restricted = item
    return ({True: 0, None: 1, False: 2}[restricted], str(name))


def plot_variants(rows: Sequence[dict], path: str | Path, split: str = "test_unseen") -> dict:
    """Accuracy of each variant of a sweep (its named training spaces, e.g. restricted and unrestricted pattern
    sub-spaces) at equal I: one group of bars per I, one bar per variant, restricted ones solid and unrestricted ones
    (``restricted`` False) hatched when the rows say which. Bars: mean over the seeds, whiskers min-max over them
    (each seed a dot), or a single run's Wilson interval.

    Returns ``{"groups": {I: {variant: (mean, low, high)}}, "seeds": {I: {variant: [accuracy, ...]}},
    "restricted": {variant: True | False | None}, "note", "path"}``.
    """
    _need(rows, ["I", "variant", "accuracy"], "variants plot")
    plt = _figure()
    kinds = {}
    for r in rows:
        kinds.setdefault(r["variant"], r.get("restricted"))
    variants = [v for v, _ in sorted(kinds.items(), key=_variant_order)]
    i_values = sorted({r["I"] for r in rows})
    colors = dict(zip(variants, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4))
    width = 0.8 / len(variants)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(variants) * len(i_values) + 2), 4.2))
    groups: dict = {}
    seeds: dict = {}
    counts, labelled = [], set()
    for gi, i in enumerate(i_values):
        groups[i], seeds[i] = {}, {}
        for vi, v in enumerate(variants):
            group = [r for r in rows if r["I"] == i and r["variant"] == v]
            if not group:
                continue
            _, mean, low, high = _point(None, group)
            groups[i][v] = (mean, low, high)
            seeds[i][v] = [r["accuracy"] for r in group]
            counts.append(len(group))
            x = gi + (vi - (len(variants) - 1) / 2) * width
            ax.bar(x, 100 * mean, width * 0.9, color=colors[v], hatch="//" if kinds[v] is False else None,
                   edgecolor="black" if kinds[v] is False else colors[v], linewidth=0.5,
                   label=None if v in labelled else v,
                   yerr=[[max(0.0, 100 * (mean - low))], [max(0.0, 100 * (high - mean))]], capsize=3)
            labelled.add(v)
            if len(group) > 1:
                ax.scatter([x] * len(group), [100 * a for a in seeds[i][v]], s=12, color="black", alpha=0.4, zorder=3)
    ax.set_xticks(range(len(i_values)), [f"I = {_fmt(i)}" for i in i_values])
    ax.set_ylabel(f"exact match on {split_label(split)} (%)")
    ax.set_ylim(0, 103)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    note = _seed_note(counts, rows)
    marked = any(k is not None for k in kinds.values())
    title = "Restricted vs unrestricted training spaces, at equal I" if marked else "Sweep variants at equal I"
    ax.set_title(f"{title}\n{note}" if note else title, fontsize="medium")
    _save(fig, path)
    return {"groups": groups, "seeds": seeds, "restricted": kinds, "note": note, "path": str(path)}


def plot_splits(results: dict, path: str | Path, where: str = "results") -> dict:
    """What one ``diveval rewrite`` results file holds: exact match per split, on all rows and, where the file has
    them, on rewrites and no-ops apart; the bars are the Wilson intervals the file records (``where`` names the
    file in errors).

    Returns ``{"groups": {split: {"all" | "rewrites" | "no-ops": (accuracy, ci_low, ci_high, n)}}, "path"}``.
    """
    splits = results.get("splits") if isinstance(results, dict) else None
    if not isinstance(splits, dict) or not splits:
        raise ConfigError(None, f"{where}: no scored splits to plot")
    groups: dict = {}
    for name, s in splits.items():
        if not isinstance(s, dict):
            raise ConfigError(None, f"{where}: splits.{name} is not a mapping of scores")
        parts = {"all": s, **{label: (s.get("by_kind") or {}).get(kind) for kind, label in (("op", "rewrites"),
                                                                                          ("noop", "no-ops"))}}
        groups[name] = {}
        for label, g in parts.items():
            if not isinstance(g, dict) or not g.get("n") or g.get("accuracy") is None:
                continue  # an empty group (a split without no-ops) has nothing to draw
            check_row({k: g.get(k) for k in ("accuracy", "ci_low", "ci_high")}, f"{where}: splits.{name}.{label}")
            groups[name][label] = (g["accuracy"], g["ci_low"], g["ci_high"], g["n"])
    plt = _figure()
    labels = ["all", "rewrites", "no-ops"]
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(max(4.5, 2.2 * len(groups) + 1.5), 4.2))
    colors = dict(zip(labels, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for gi, parts in enumerate(groups.values()):
        for li, label in enumerate(labels):
            if label not in parts:
                continue
            acc, low, high, n = parts[label]
            x = gi + (li - 1) * width
            ax.bar(x, 100 * acc, width * 0.9, color=colors[label], label=label if gi == 0 else None,
                   yerr=[[max(0.0, 100 * (acc - low))], [max(0.0, 100 * (high - acc))]], capsize=3)
            ax.text(x, 1, f"n={n}", ha="center", va="bottom", fontsize="x-small", rotation=90)
    ax.set_xticks(range(len(groups)), [split_label(name) for name in groups])
    ax.set_ylabel("exact match (%)")
    ax.set_ylim(0, 103)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    model, data = (results.get(k, {}).get("name", "?") for k in ("model", "dataset"))
    ax.set_title(f"{model} on {data}\nbars: Wilson 95% intervals", fontsize="medium")
    _save(fig, path)
    return {"groups": groups, "path": str(path)}


LOSS_SPLITS = (("test_unseen", "unseen clusters"), ("test_seen", "seen clusters"))


def plot_heldout_loss(rows: Sequence[dict], path: str | Path) -> dict:
    """Held-out loss (``diveval loss``, nats per completion token) against I (log x): one line for the unseen
    clusters, one for the seen ones; runs of one I (seeds) are averaged with min-max bars, a single run shows its
    bootstrap interval. Rows need ``I`` and ``<split>_loss`` (with ``_loss_ci_low`` / ``_loss_ci_high``).

    Returns ``{"lines": {label: [(I, mean, low, high), ...]}, "path"}``."""
    _need(rows, ["I", "test_unseen_loss"], "held-out loss plot")
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    lines, counts = {}, []
    for split, label in LOSS_SPLITS:
        cells: dict = defaultdict(list)
        for r in rows:
            if r.get(f"{split}_loss") is not None:
                cells[r["I"]].append(r)
        points = []
        for i, group in sorted(cells.items()):
            losses = [g[f"{split}_loss"] for g in group]
            if len(group) > 1:
                points.append((i, _mean(losses), min(losses), max(losses)))
            else:
                g = group[0]
                points.append((i, losses[0], g.get(f"{split}_loss_ci_low", losses[0]), g.get(f"{split}_loss_ci_high", losses[0])))
            counts.append(len(group))
        if points:
            ax.errorbar([p[0] for p in points], [p[1] for p in points],
                        yerr=[[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]],
                        marker="o", capsize=3, label=label, linestyle="-" if split == "test_unseen" else "--")
            lines[label] = points
    _log_ticks(ax, sorted({r["I"] for r in rows}))
    ax.set_xlabel("semantic clusters in training I (log scale)")
    ax.set_ylabel("held-out completion loss (nats / token)")
    note = _seed_note(counts, rows).replace("95% Wilson interval", "95% bootstrap interval").replace(
        "Wilson interval", "bootstrap interval")
    ax.set_title(f"Held-out loss on unseen and seen clusters\n{note}" if note else "Held-out loss", fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)
    return {"lines": lines, "note": note, "path": str(path)}


#: The file the held-out loss plot is written to (by a sweep's collect).
LOSS_PLOT_FILE = "heldout_loss.png"


PLOTS = {"phase": plot_phase_transition, "heatmap": plot_heatmap, "power-law": plot_power_law, "semantic": plot_semantic,
         "variants": plot_variants}
#: The file each kind of plot is written to (by `diveval plot` and by a sweep's collect).
PLOT_FILES = {"phase": "phase_transition.png", "heatmap": "heatmap.png", "power-law": "power_law.png",
              "semantic": "semantic.png", "variants": "variants.png"}
#: The file :func:`plot_splits` is written to by `diveval plot` of one results file.
SPLITS_FILE = "splits.png"


SERIES_KEYS = ("variant", "alpha", "noop_fraction", "N", "S")


def default_series(rows: Sequence[dict]) -> str | None:
    """The key that separates the phase plot's lines: the first of SERIES_KEYS that takes several values among
    rows of the same I (averaging over it would mix the settings a sweep compares); None when none does."""
    for key in SERIES_KEYS:
        by_i: dict = defaultdict(set)
        for r in rows:
            by_i[r.get("I")].add(_label(r.get(key)))
        if any(len(values) > 1 for values in by_i.values()):
            return key
    return None


def supported_plots(rows: Sequence[dict]) -> list[str]:
    """The plots the rows can fill: ``phase`` when I varies, ``heatmap`` when some I has several S (I and S
    varied independently, not just S = N / I), ``power-law`` when alpha varies (or is compared with Uniform),
    ``semantic`` when the training patterns' k range or family mix varies, ``variants`` when neither the phase nor
    the semantic plot applies but a sweep's variants are compared at some I."""
    kinds = []
    i_values = {r.get("I") for r in rows if r.get("I") is not None}
    if len(i_values) > 1:
        kinds.append("phase")
    pairs = {(r.get("I"), r.get("S")) for r in rows if r.get("I") is not None and r.get("S") is not None}
    if len(pairs) > len({i for i, _ in pairs}):
        kinds.append("heatmap")
    alphas = {r.get("alpha") for r in rows if r.get("alpha") is not None and not _is_uniform(r)}
    if alphas and len(alphas) + any(_is_uniform(r) for r in rows) > 1:  # several alphas, or alpha against Uniform
        kinds.append("power-law")
    if len({(r.get("k_range"), r.get("families"), r.get("restricted")) for r in rows if r.get("k_range")}) > 1:
        kinds.append("semantic")
    by_i: dict = defaultdict(set)
    for r in rows:
        if r.get("variant") is not None:
            by_i[r.get("I")].add(r["variant"])
    if not {"phase", "semantic"} & set(kinds) and any(len(v) > 1 for v in by_i.values()):
        kinds.append("variants")  # the variants compared at one I (e.g. a semantic table without k columns)
    return kinds
