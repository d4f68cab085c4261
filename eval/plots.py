"""The paper's three figures from a results table, as PNG files (matplotlib, headless).

Each function takes a list of row dicts (one per trained model) such as :func:`eval.results.sweep_row`
produces or a sweep runner collects, with keys ``I`` (distinct training instructions), ``S`` (examples per
instruction), ``alpha`` (power-law exponent of the instruction distribution), ``accuracy``, ``ci_low``,
``ci_high`` (fractions), writes the figure to ``path`` and returns the plotted data, so callers and tests can
check what was drawn without reading pixels:

- :func:`plot_phase_transition`: accuracy on unseen instructions against I (log scale), with intervals; one
  line, or one per value of a ``series`` key (e.g. ``N`` the training budget, ``noop_fraction``, ``S``).
- :func:`plot_heatmap`: mean accuracy over an I x S grid.
- :func:`plot_power_law`: accuracy against the power-law exponent alpha (log scale), one line per I.

Rows with the same coordinates (e.g. seeds) are averaged (intervals: the mean of the bounds).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from generators.atomic import atomic_file
from generators.errors import ConfigError


def _figure():
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


def _grouped(rows: Sequence[dict], series_key: str | None, x_key: str) -> dict:
    """{series: [(x, accuracy, ci_low, ci_high), ...] sorted by x}, averaging rows that share (series, x)."""
    cells: dict = defaultdict(list)
    for row in rows:
        cells[(_label(row.get(series_key)) if series_key else None, row[x_key])].append(row)
    out: dict = defaultdict(list)
    for (series, x), group in cells.items():
        out[series].append(
            (
                x,
                _mean([r["accuracy"] for r in group]),
                _mean([r.get("ci_low", r["accuracy"]) for r in group]),
                _mean([r.get("ci_high", r["accuracy"]) for r in group]),
            )
        )
    return {s: sorted(points) for s, points in sorted(out.items(), key=lambda kv: _series_order(kv[0]))}


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


def _line_plot(rows, path, *, x_key, series_key, xlabel, series_label, title, split, log_x=True) -> dict:
    plt = _figure()
    data = _grouped(rows, series_key, x_key)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for series, points in data.items():
        xs = [p[0] for p in points]
        ys = [100 * p[1] for p in points]
        lo = [100 * (p[1] - p[2]) for p in points]
        hi = [100 * (p[3] - p[1]) for p in points]
        label = f"{series_label} = {_fmt(series)}" if series is not None else None
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=label)
    if log_x:
        ax.set_xscale("log")
        xs_all = sorted({p[0] for points in data.values() for p in points})
        if len(xs_all) <= 8:  # few points: label them as plain numbers instead of sparse powers of ten
            from matplotlib.ticker import NullFormatter

            ax.set_xticks(xs_all, [_fmt(x) for x in xs_all])
            ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"exact match on {split_label(split)} (%)")
    ax.set_ylim(-3, 103)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if any(s is not None for s in data):
        ax.legend(fontsize="small")
    _save(fig, path)
    return {"x": x_key, "series": series_key, "lines": {s: points for s, points in data.items()}, "path": str(path)}


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

    Smaller alpha = more imbalanced instruction frequencies (alpha = 1 is uniform).
    """
    _need(rows, ["alpha", "I", "accuracy"], "power-law plot")
    return _line_plot(
        rows, path, x_key="alpha", series_key="I", xlabel="power-law exponent alpha (log scale; 1 = uniform)",
        series_label="I", title="Robustness to imbalanced instruction frequencies", split=split,
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
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(i_values) + 2), max(3.0, 0.5 * len(s_values) + 1.5)))
    masked = [[float("nan") if v is None else 100 * v for v in line] for line in grid]
    image = ax.imshow(masked, vmin=0, vmax=100, cmap="viridis", aspect="auto", origin="lower")
    for y, line in enumerate(grid):
        for x, v in enumerate(line):
            if v is not None:
                ax.text(x, y, f"{100 * v:.0f}", ha="center", va="center", color="white" if v < 0.6 else "black", fontsize=8)
    ax.set_xticks(range(len(i_values)), [_fmt(v) for v in i_values], rotation=45)
    ax.set_yticks(range(len(s_values)), [_fmt(v) for v in s_values])
    ax.set_xlabel("distinct training instructions I")
    ax.set_ylabel("examples per instruction S")
    ax.set_title(f"Exact match on {split_label(split)} (%)")
    fig.colorbar(image, ax=ax, label="accuracy (%)")
    _save(fig, path)
    return {"I": i_values, "S": s_values, "grid": grid, "path": str(path)}


PLOTS = {"phase": plot_phase_transition, "heatmap": plot_heatmap, "power-law": plot_power_law}


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
    varied independently, not just S = N / I), ``power-law`` when alpha varies."""
    kinds = []
    i_values = {r.get("I") for r in rows if r.get("I") is not None}
    if len(i_values) > 1:
        kinds.append("phase")
    pairs = {(r.get("I"), r.get("S")) for r in rows if r.get("I") is not None and r.get("S") is not None}
    if len(pairs) > len({i for i, _ in pairs}):
        kinds.append("heatmap")
    if len({r.get("alpha") for r in rows if r.get("alpha") is not None}) > 1:
        kinds.append("power-law")
    return kinds
