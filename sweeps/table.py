"""The results of a sweep: one row per run (its knobs, from its training data, and its accuracies), one row per
point (the runs that differ only by seed: mean, standard deviation, min and max over the seeds), the tables
(``results.json`` / ``.csv``, ``results_points.csv``) and the plots that fit the sweep's axes.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from core.atomic import owned_tempdir, write_text_atomic
from core.documents import read_json
from core.errors import ConfigError
from core.metadata import read_metadata
from core.safeio import read_hashed
from eval import plots
from eval.loss_results import loss_columns
from eval.results import diversity_of, frequency_columns, power_law_alpha, semantic_columns
from sweeps.config import ROW_COLUMNS, Run, Sweep, runs

REUSED = "reused.json"  # in a run folder: its model was copied from another sweep's run (``--reuse-from``)
PLOTS_RECORD = "plots.json"  # in a sweep's output folder: the plots make_plots drew, with their SHA-256


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
        # I as configured (above) and the instructions that drew at least one row (fewer under a skewed power law);
        # a pool's instructions are clusters: its effective number of clusters
        "I_with_rows": meta["report"]["train"].get("distinct_instructions"),
        "effective_instructions": meta["report"]["train"].get("effective_instructions",
                                                              meta["report"]["train"].get("effective_clusters")),
        **data_columns(meta.get("patterns") or {}),
        "dataset_fingerprint": meta["fingerprint"],
        # the scored splits' own fingerprints: runs with equal ones were scored on the same rows (a paired comparison)
        **{f"{split}_fingerprint": meta["splits"][split]["fingerprint"]
           for split in sweep.eval.splits if split in meta["splits"]},
    }
    for k in sweep.axes:  # axis values not already a column above (e.g. a structure parameter)
        if k not in ROW_COLUMNS:
            row[k] = run.overrides[k]
    if sweep.compare or sweep.trainer != "sft":  # how it was trained (a compared method, or RL)
        row["method"] = run.method or sweep.trainer
    ev = rdir / "eval.json"
    if ev.exists() and sweep.eval.kind == "loss":
        row.update(loss_columns(read_json(ev), sweep.eval.splits))
    elif ev.exists():
        results = read_json(ev)
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
        row["model_from"] = read_json(rdir / REUSED)["model_from"]
    timing = rdir / "timings.json"
    if timing.exists():
        row.update({k: round(v, 2) for k, v in read_json(timing).items()})
    return row


def data_columns(patterns: dict) -> dict:
    """What a run's unseen test shares with its training data (``datagen.json``'s ``patterns``, generator 2.1):
    the share of unseen rules whose replacement occurs in training, and the training patterns inside the test
    space (0 unless the config opted out of keeping them out). {} for data made before they were recorded."""
    keys = ("unseen_replacements_in_train", "train_patterns_in_test_space")
    return {k: patterns[k] for k in keys if k in patterns}


# per-run columns of a row that are not a point's (a point's runs differ in them), besides every ``*_fingerprint``
RUN_ONLY = {"run", "seed", "model_from"}


def _run_only(key: str) -> bool:
    return key in RUN_ONLY or key.endswith("_fingerprint")


AVERAGED = {"effective_instructions", "I_with_rows", "unseen_replacements_in_train", "loss_gap"}


def _aggregated(key: str) -> bool:
    """Columns averaged over a point's seeds: accuracies, held-out losses, the effective number of instructions, the
    instructions with rows and the share of unseen replacements seen in training (each seed draws its own)."""
    return key == "accuracy" or key.endswith(("_accuracy", "_loss")) or key in AVERAGED


def aggregate(rows: list[dict]) -> list[dict]:
    """One row per point (the runs that differ only by seed), in order of first appearance.

    A point row holds the knobs its runs share, ``runs`` and ``seeds`` (lists) and ``n_seeds``, and for each
    accuracy column (``accuracy``, ``<split>_accuracy``, ``<split>_<kind or third>_accuracy``) and each of
    :data:`AVERAGED`: the mean over the seeds that have it, ``_sd`` (sample standard deviation, None for
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
    """One line per method a sweep compares, per variant, else per value of the first axis other than I (seeds
    are averaged)."""
    if sweep.compare:
        return "method"
    if sweep.variants:
        return "variant"
    for k in sweep.axes:
        if k not in ("instructions", "seed"):
            return ROW_KEYS.get(k, k)
    return None


def make_plots(sweep: Sweep, rows: list[dict]) -> list[Path]:
    """The plots that fit the axes: unseen accuracy vs I; I x S heat map; accuracy vs power-law alpha (Uniform as a
    reference); accuracy vs the training k range per family mix (restricted vs unrestricted). Seeds are averaged,
    their spread shown.

    Each is drawn in a private folder, hashed there and renamed into the sweep's output folder; ``plots.json``
    (:data:`PLOTS_RECORD`) then records exactly these plots with their SHA-256, and a release publishes exactly
    what it records (:func:`recorded_plots`), never another PNG that lies in the folder."""
    have = [r for r in rows if r.get("accuracy") is not None]
    kinds = plots.supported_plots(have)
    if sweep.eval.kind == "loss":  # held-out loss against I, unseen and seen clusters
        have = [r for r in rows if r.get("test_unseen_loss") is not None]
        kinds = ["heldout_loss"] if len({r["I"] for r in have}) >= 2 else []
    knobs = len([k for k in sweep.axes if k not in ("instructions", "seed")]) + bool(sweep.variants)
    if "semantic" in kinds and "phase" in kinds and knobs > 1:
        kinds.remove("phase")  # its lines (one knob) would average over the other (k ranges or families)
    made: list[Path] = []
    record: dict[str, str] = {}
    sweep.out.mkdir(parents=True, exist_ok=True)
    with owned_tempdir(".plots-", sweep.out) as tmp:  # beside the plots: renamed into place, never copied
        for kind in kinds:
            name = plots.LOSS_PLOT_FILE if kind == "heldout_loss" else plots.PLOT_FILES[kind]
            if kind == "phase":
                plots.plot_phase_transition(have, tmp / name, series=series_key(sweep))
            elif kind == "heldout_loss":
                plots.plot_heldout_loss(have, tmp / name)
            else:
                plots.PLOTS[kind](have, tmp / name)
            record[name] = read_hashed(tmp, name)[0]
            os.replace(tmp / name, sweep.out / name)
            made.append(sweep.out / name)
    write_text_atomic(sweep.out / PLOTS_RECORD, json.dumps({"plots": record}, indent=2) + "\n")
    return made


def recorded_plots(sweep: Sweep) -> dict[str, str]:
    """``{file name: SHA-256}`` of the plots :func:`make_plots` last drew into the sweep's output folder."""
    path = sweep.out / PLOTS_RECORD
    if not path.exists():
        return {}
    doc = read_json(path)
    found = doc.get("plots") if isinstance(doc, dict) else None
    names = set(plots.PLOT_FILES.values())
    if not isinstance(found, dict) or not all(k in names and isinstance(v, str) for k, v in found.items()):
        raise ConfigError(None, f"{path} is damaged: not a record of the sweep's plots; run `python -m sweeps "
                                f"collect` to draw them again")
    return found


def collect(sweep: Sweep) -> str:
    """Write the table and plots of every finished run; a one-line account of what was written."""
    rows = [summarize(sweep, r) for r in runs(sweep) if (sweep.out / r.run_id / "eval.json").exists()]
    _, cpath = write_table(sweep, rows)
    plots = make_plots(sweep, rows)
    points = len({r["point"] for r in rows})
    return (f"{len(rows)} finished runs ({points} points) in table {cpath}"
            + (f", plots {', '.join(map(str, plots))}" if plots else ""))


