"""The results of a sweep: one row per run (its knobs, from its training data, and its accuracies), one row per
point (the runs that differ only by seed: mean, standard deviation, min and max over the seeds), the tables
(``results.json`` / ``.csv``, ``results_points.csv``) and the plots that fit the sweep's axes.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from core.atomic import write_text_atomic
from core.metadata import read_metadata
from eval import plots
from eval.loss_results import loss_columns
from eval.results import diversity_of, frequency_columns, power_law_alpha, semantic_columns
from sweeps.config import ROW_COLUMNS, Run, Sweep, runs

REUSED = "reused.json"  # in a run folder: its model was copied from another sweep's run (``--reuse-from``)


def summarize(sweep: Sweep, run: Run) -> dict:
    """One results-table row: the run's knobs (from its training data) and its accuracies (from eval.json)."""
    rdir = sweep.out / run.run_id
    meta = read_metadata(rdir / "data", check=False)
    cfg = meta["config"]
    n = meta["splits"]["train"]["rows"]
    row: dict[str, Any] = {
        "run": run.run_id,
        "point": run.point,
        "variant": run.variant,
        "I": cfg["instructions"],
        "N": n,
        "S": n / cfg["instructions"],
        "distribution": cfg["distribution"]["kind"],
        "alpha": power_law_alpha(cfg["distribution"]),  # None for uniform: its own point, not alpha = 1
        "noop_fraction": cfg.get("noop_fraction"),  # none for a pool of real data
        "seed": cfg["seed"],
        **semantic_columns(diversity_of(meta) or {}),
        # a pool's instructions are clusters: its effective number of clusters
        "effective_instructions": meta["report"]["train"].get("effective_instructions",
                                                              meta["report"]["train"].get("effective_clusters")),
        "dataset_fingerprint": meta["fingerprint"],
        # the scored splits' own fingerprints: runs with equal ones were scored on the same rows (a paired comparison)
        **{f"{split}_fingerprint": meta["splits"][split]["fingerprint"]
           for split in sweep.eval.splits if split in meta["splits"]},
    }
    for k in sweep.axes:  # axis values not already a column above (e.g. a structure parameter)
        if k not in ROW_COLUMNS:
            row[k] = run.overrides[k]
    ev = rdir / "eval.json"
    if ev.exists() and sweep.eval.kind == "loss":
        row.update(loss_columns(json.loads(ev.read_text()), sweep.eval.splits))
    elif ev.exists():
        results = json.loads(ev.read_text())
        for split in sweep.eval.splits:
            s = results.get("splits", {}).get(split)
            if s is None:
                continue
            row[f"{split}_accuracy"] = s["accuracy"]
            row[f"{split}_ci_low"], row[f"{split}_ci_high"] = s["ci_low"], s["ci_high"]
            row[f"{split}_n"] = s["n"]
            for kind, k in (s.get("by_kind") or {}).items():
                row[f"{split}_{kind}_accuracy"] = k["accuracy"]
        row.update(frequency_columns(results, "test_seen"))  # seen accuracy of the head / middle / tail thirds
        if "test_unseen_accuracy" in row:  # the plotted quantity, under the keys eval.plots reads
            row["accuracy"], row["ci_low"], row["ci_high"] = (
                row["test_unseen_accuracy"], row["test_unseen_ci_low"], row["test_unseen_ci_high"])
    if (rdir / REUSED).exists():
        row["model_from"] = json.loads((rdir / REUSED).read_text())["model_from"]
    timing = rdir / "timings.json"
    if timing.exists():
        row.update({k: round(v, 2) for k, v in json.loads(timing.read_text()).items()})
    return row


# per-run columns of a row that are not a point's (a point's runs differ in them), besides every ``*_fingerprint``
RUN_ONLY = {"run", "seed", "model_from"}


def _run_only(key: str) -> bool:
    return key in RUN_ONLY or key.endswith("_fingerprint")


def _aggregated(key: str) -> bool:
    """Columns averaged over a point's seeds: accuracies, held-out losses and the effective number of instructions."""
    return (key == "accuracy" or key.endswith(("_accuracy", "_loss")) or key in ("effective_instructions", "loss_gap"))


def aggregate(rows: list[dict]) -> list[dict]:
    """One row per point (the runs that differ only by seed), in order of first appearance.

    A point row holds the knobs its runs share, ``runs`` and ``seeds`` (lists) and ``n_seeds``, and for each
    accuracy column (``accuracy``, ``<split>_accuracy``, ``<split>_<kind or third>_accuracy``) and
    ``effective_instructions``: the mean over the seeds that have it, ``_sd`` (sample standard deviation, None for
    one seed), ``_min``, ``_max`` and ``_seeds`` (how many had it).
    """
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r.get("point") or r["run"], []).append(r)
    out = []
    for point, group in groups.items():
        keys = list(dict.fromkeys(k for r in group for k in r))
        agg: dict[str, Any] = {"point": point, "runs": [r["run"] for r in group], "seeds": [r.get("seed") for r in group],
                               "n_seeds": len(group)}
        for k in keys:
            values = [r.get(k) for r in group]
            if _aggregated(k):
                have = [v for v in values if v is not None]
                agg[k] = mean(have) if have else None
                agg[f"{k}_sd"] = stdev(have) if len(have) > 1 else None
                agg[f"{k}_min"], agg[f"{k}_max"] = (min(have), max(have)) if have else (None, None)
                agg[f"{k}_seeds"] = len(have)
            elif not _run_only(k) and k not in agg and all(v == values[0] for v in values):
                agg[k] = values[0]  # a knob (I, S, alpha, variant, ...): the same for every seed
        out.append(agg)
    return out


def _csv(rows: list[dict]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()} for r in rows)
    return buf.getvalue()


def write_table(sweep: Sweep, rows: list[dict]) -> tuple[Path, Path]:
    """results.json (``rows``: one per run, ``points``: one per point), results.csv (runs) and
    results_points.csv (points)."""
    sweep.out.mkdir(parents=True, exist_ok=True)
    jpath, cpath = sweep.out / "results.json", sweep.out / "results.csv"
    points = aggregate(rows)
    # `diveval plot` reads the rows (and averages seeds itself)
    write_text_atomic(jpath, json.dumps({"sweep": sweep.name, "rows": rows, "points": points}, indent=2) + "\n")
    write_text_atomic(cpath, _csv(rows))
    write_text_atomic(sweep.out / "results_points.csv", _csv(points))
    return jpath, cpath


ROW_KEYS = {"distribution.alpha": "alpha", "distribution": "alpha", "noop_fraction": "noop_fraction", "budget": "N",
            "examples_per_instruction": "S"}


def series_key(sweep: Sweep) -> str | None:
    """One line per variant, else per value of the first axis other than I (seeds are averaged)."""
    if sweep.variants:
        return "variant"
    for k in sweep.axes:
        if k not in ("instructions", "seed"):
            return ROW_KEYS.get(k, k)
    return None


def make_plots(sweep: Sweep, rows: list[dict]) -> list[Path]:
    """The plots that fit the axes: unseen accuracy vs I; I x S heat map; accuracy vs power-law alpha (Uniform as a
    reference); accuracy vs the training k range per family mix (restricted vs unrestricted). Seeds are averaged,
    their spread shown."""
    if sweep.eval.kind == "loss":  # held-out loss against I, unseen and seen clusters
        scored = [r for r in rows if r.get("test_unseen_loss") is not None]
        if len({r["I"] for r in scored}) < 2:
            return []
        path = sweep.out / plots.LOSS_PLOT_FILE
        plots.plot_heldout_loss(scored, path)
        return [path]
    have = [r for r in rows if r.get("accuracy") is not None]
    kinds = plots.supported_plots(have)
    knobs = len([k for k in sweep.axes if k not in ("instructions", "seed")]) + bool(sweep.variants)
    if "semantic" in kinds and "phase" in kinds and knobs > 1:
        kinds.remove("phase")  # its lines (one knob) would average over the other (k ranges or families)
    made: list[Path] = []
    for kind in kinds:
        path = sweep.out / plots.PLOT_FILES[kind]
        if kind == "phase":
            plots.plot_phase_transition(have, path, series=series_key(sweep))
        else:
            plots.PLOTS[kind](have, path)
        made.append(path)
    return made


def collect(sweep: Sweep) -> str:
    """Write the table and plots of every finished run; a one-line account of what was written."""
    rows = [summarize(sweep, r) for r in runs(sweep) if (sweep.out / r.run_id / "eval.json").exists()]
    _, cpath = write_table(sweep, rows)
    plots = make_plots(sweep, rows)
    points = len({r["point"] for r in rows})
    return (f"{len(rows)} finished runs ({points} points) in table {cpath}"
            + (f", plots {', '.join(map(str, plots))}" if plots else ""))


