"""Sweeps: make each dataset, train, evaluate, and collect one results table with plots.

A sweep YAML names a base generator config, a training recipe, and the axes to vary::

    name: phase-transition-reduced
    base_config: reduced_rewrite            # a generator preset name or a YAML path
    recipe: training/recipes/gpt2-scratch-reduced.yaml
    accelerate_config: training/accelerate/single_gpu.yaml   # omit to run training/sft.py with plain python
    set: {budget: 200000}                   # fixed generator overrides
    axes:                                   # the cartesian product of these (dotted generator-config keys)
      instructions: [10, 50, 100, 500, 1000, 5000, 20000, 200000]
      distribution: [{kind: uniform}, {kind: power_law, alpha: 0.5}]   # mapping values: run ids alpha=uniform, alpha=0.5
      seed: [0, 1, 2]                       # the data seed AND the training seed (the recipe's `seed`)
    variants:                               # optional named override sets, crossed with the axes
      restricted: {space.k: [3, 4]}
      unrestricted: {space.k: [1, 4]}
    recipe_set: {num_train_epochs: 10}      # fixed recipe overrides (any SFTConfig / recipe field)
    eval: {splits: [test_unseen, test_seen], batch_size: 256}

Each run lives in ``<output>/<run id>/`` (default output ``runs/sweeps/<name>``) with ``data/`` (the dataset),
``model/`` (the trained model) and ``eval.json``; a stage whose output is complete is skipped, so an interrupted
sweep resumes where it stopped (training from its last checkpoint). Wherever the sweep sets the generator's
``seed`` (``set``, a variant or an axis), training gets the same ``--seed``. The table (``results.json`` /
``.csv``) has one row per run; ``points`` (``results_points.csv``) has one per point (the runs that differ only
by seed): mean, standard deviation, min and max over the seeds, and their number. ``emit`` writes the commands
instead (one line per run, and a run list for a cluster job array).

    python -m training.sweep run sweeps/phase_transition_reduced.yaml
    python -m training.sweep emit sweeps/phase_transition.yaml     # commands.sh + runs.txt for a cluster
    python -m training.sweep run sweeps/X.yaml --only I=1000   # one run (run ids are in runs.txt)
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from core.atomic import write_text_atomic
from core.cli import user_errors
from core.errors import ConfigError
from core.metadata import has_metadata, read_metadata

ROOT = Path(__file__).resolve().parent.parent
SWEEPS_DIR = Path("runs") / "sweeps"  # default outputs: runs/sweeps/<name>, apart from single training runs in runs/
# how an axis is named in run ids
GENERATOR_KEYS_SHORT = {"instructions": "I", "budget": "N", "examples_per_instruction": "S", "distribution.alpha": "alpha",
                        "distribution": "alpha", "noop_fraction": "noop", "seed": "seed", "occurrences": "occ",
                        "space.k": "k", "space.structures": "families"}
# axes a results row already holds as a column of its own (other axes get a column named by their key)
ROW_COLUMNS = {"instructions", "budget", "examples_per_instruction", "distribution", "distribution.kind",
               "distribution.alpha", "noop_fraction", "seed"}


@dataclass
class EvalSettings:
    splits: list[str] = field(default_factory=lambda: ["test_unseen", "test_seen"])
    batch_size: int = 128
    max_new_tokens: int | None = None
    limit: int | None = None


@dataclass
class Sweep:
    name: str
    base_config: str
    recipe: str
    path: Path
    accelerate_config: str | None = None
    set: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, list] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    recipe_set: dict[str, Any] = field(default_factory=dict)
    eval: EvalSettings = field(default_factory=EvalSettings)
    output_dir: str | None = None

    @property
    def out(self) -> Path:
        return Path(self.output_dir) if self.output_dir else SWEEPS_DIR / self.name


@dataclass
class Run:
    run_id: str
    overrides: dict[str, Any]  # generator overrides (dotted keys)
    variant: str | None
    point: str = ""  # the run id without its seed: the runs of one point differ only by seed

    @property
    def seed(self) -> int | None:
        """The generator seed the sweep sets (None: the base config's), also the training seed."""
        return self.overrides.get("seed")


def load_sweep(path: str | Path) -> Sweep:
    from core.config import read_yaml_config

    path = Path(path)
    data = read_yaml_config(path, kind="sweep")
    known = {"name", "base_config", "recipe", "accelerate_config", "set", "axes", "variants", "recipe_set", "eval", "output_dir"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(unknown[0], f"unknown sweep field (known: {', '.join(sorted(known))})")
    for required in ("name", "base_config", "recipe"):
        if not data.get(required):
            raise ConfigError(required, f"the sweep file {path} must set it")
    ev = data.pop("eval", None) or {}
    unknown = sorted(set(ev) - {"splits", "batch_size", "max_new_tokens", "limit"})
    if unknown:
        raise ConfigError(f"eval.{unknown[0]}", "unknown field (known: splits, batch_size, max_new_tokens, limit)")
    for key in ("axes", "variants", "set", "recipe_set"):
        if not isinstance(data.get(key) or {}, dict):
            raise ConfigError(key, "must be a mapping")
    for key, values in (data.get("axes") or {}).items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"axes.{key}", "must be a non-empty list of values")
    axes = data.get("axes") or {}
    for vname, vover in (data.get("variants") or {}).items():
        if not isinstance(vover, dict):
            raise ConfigError(f"variants.{vname}", "must be a mapping of generator overrides")
        clash = sorted(k for k in vover if any(_nested(k, a) for a in axes))
        if clash:
            raise ConfigError(f"variants.{vname}.{clash[0]}", "is also an axis (or inside one); a variant may not "
                                                              "override an axis (the run ids would name values the "
                                                              "runs do not use)")
    for key in data.get("set") or {}:
        inside = [a for a in axes if _nested(key, a)]
        if inside:
            raise ConfigError(f"set.{key}", f"is also the axis {inside[0]!r} (or inside it): the axis would replace it")
    if "seed" in (data.get("recipe_set") or {}):
        raise ConfigError("recipe_set.seed", "set the generator's `seed` instead (in set, a variant or an axis): it "
                                             "is the training seed too")
    sweep = Sweep(path=path, eval=_eval_settings(ev), **{k: v for k, v in data.items() if v is not None})
    _path(sweep, sweep.recipe, "recipe")  # named files must exist before anything starts
    if sweep.accelerate_config:
        _path(sweep, sweep.accelerate_config, "accelerate_config")
    runs(sweep)  # every run's generator config must be valid before anything starts
    return sweep


def _eval_settings(ev: dict) -> EvalSettings:
    """The sweep's ``eval`` mapping, checked as `diveval rewrite` would check it (so a typo fails before training)."""
    from eval.rewrite import DecodeSettings

    settings = EvalSettings(**ev)
    splits = settings.splits
    if not isinstance(splits, list) or not splits or not all(isinstance(x, str) and x for x in splits):
        raise ConfigError("eval.splits", f"must be a non-empty list of split names, got {splits!r}")
    for key in ("batch_size", "max_new_tokens", "limit"):
        value = getattr(settings, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"eval.{key}", f"must be a whole number, got {value!r}")
    try:
        DecodeSettings(batch_size=settings.batch_size, max_new_tokens=settings.max_new_tokens, limit=settings.limit).validate()
    except ConfigError as exc:
        raise ConfigError(f"eval.{exc.field}", exc.message) from None
    return settings


def _nested(a: str, b: str) -> bool:
    """Whether dotted keys ``a`` and ``b`` are the same field or one holds the other (``distribution`` and
    ``distribution.alpha``)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def runs(sweep: Sweep) -> list[Run]:
    """Every run of the sweep (axes x variants), each with a stable id; validates their configs."""
    keys = list(sweep.axes)
    variants = list(sweep.variants.items()) or [(None, {})]
    out = []
    for values in itertools.product(*(sweep.axes[k] for k in keys)):
        for vname, vover in variants:
            over = {**sweep.set, **vover, **dict(zip(keys, values))}
            parts = [_id_part(k, v) for k, v in zip(keys, values)]
            point = [p for k, p in zip(keys, parts) if k != "seed"]
            if vname:
                parts.insert(0, vname)
                point.insert(0, vname)
            out.append(Run("_".join(parts) or "base", over, vname, "_".join(point) or "base"))
    ids = [r.run_id for r in out]
    if len(set(ids)) != len(ids):
        raise ConfigError("axes", "two runs would share one id; give variants distinct names")
    for r in out:
        generator_config(sweep, r)
    return out


def _id_part(key: str, value: Any) -> str:
    """``I=1000``, ``alpha=0.5`` / ``alpha=uniform`` / ``dist=explicit`` (a ``distribution`` mapping), ``k=3-4``,
    ``occ=1-5-10``."""
    name = GENERATOR_KEYS_SHORT.get(key, key.replace(".", "_"))
    if key == "distribution" and isinstance(value, dict):
        kind = value.get("kind", "uniform")
        if kind in ("uniform", "power_law"):  # the paper's axis: Uniform, then the exponents
            return f"alpha={_slug(value.get('alpha', 1.0))}" if kind == "power_law" else "alpha=uniform"
        return f"dist={_slug(kind)}"
    if isinstance(value, dict):
        return f"{name}=" + "-".join(f"{k}{_slug(v)}" for k, v in value.items())
    return f"{name}={_slug(value)}"


def _slug(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "-".join(_slug(x) for x in v)
    return str(v).replace(" ", "").replace("/", "-").replace("[", "").replace("]", "").replace(",", "-")


def generator_config(sweep: Sweep, run: Run):
    from generators.cli import resolve_config_path
    from generators.config import load_config

    base = sweep.base_config
    candidate = (sweep.path.parent / base) if not Path(base).is_absolute() else Path(base)
    path = candidate if candidate.exists() else resolve_config_path(base)
    cfg = load_config(path, [f"{k}={_yaml(v)}" for k, v in run.overrides.items()])
    cfg.name = f"{sweep.name}-{run.run_id}".replace("=", "").replace(".", "p")[:90]
    return cfg


def _yaml(v: Any) -> str:
    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()


# ---------------------------------------------------------------------------------------------------------
# Stages


def train_command(sweep: Sweep, run: Run, data_dir: Path, model_dir: Path) -> list[str]:
    recipe = _path(sweep, sweep.recipe, "recipe")
    script = str(ROOT / "training" / "sft.py")
    if sweep.accelerate_config:
        # `accelerate launch` of this interpreter's environment (not whichever `accelerate` is first on PATH)
        head = module_command("accelerate.commands.launch", "--config_file",
                              str(_path(sweep, sweep.accelerate_config, "accelerate_config")), script)
    else:
        head = [sys.executable, script]
    # resume: an interrupted run continues from its last checkpoint (a fresh one starts from scratch)
    args = ["--config", str(recipe), "--dataset", str(data_dir), "--output_dir", str(model_dir),
            "--resume_from_checkpoint", "auto"]
    for k, v in sweep.recipe_set.items():
        args += [f"--{k}", str(v)]
    if run.seed is not None:  # the sweep's seed is the training seed too (weights, data order, dropout)
        args += ["--seed", str(run.seed)]
    return head + args


# Runs a module as ``python -m`` does, but without the working directory first on sys.path: a folder holding an
# ``eval/`` or ``accelerate/`` package must not replace ours. (``python -P`` / PYTHONSAFEPATH need Python 3.11;
# ``-I`` would also drop PYTHONPATH and the user site.) Under PYTHONSAFEPATH nothing was prepended to remove.
_RUN_MODULE = (
    "import runpy, sys\n"
    "if not getattr(sys.flags, 'safe_path', False):\n"
    "    del sys.path[0]\n"
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)\n"
)


def module_command(module: str, *args: str) -> list[str]:
    """``python -m MODULE ARGS`` of this interpreter, immune to same-named packages in the working directory."""
    return [sys.executable, "-c", _RUN_MODULE, module, *args]


def eval_command(sweep: Sweep, model_dir: Path, data_dir: Path, out: Path) -> list[str]:
    ev = sweep.eval
    cmd = module_command("eval", "rewrite", str(model_dir), "--dataset", str(data_dir), "-o", str(out),
                         "--splits", ",".join(ev.splits), "--batch-size", str(ev.batch_size))
    if ev.max_new_tokens is not None:
        cmd += ["--max-new-tokens", str(ev.max_new_tokens)]
    if ev.limit is not None:
        cmd += ["--limit", str(ev.limit)]
    return cmd


def _path(sweep: Sweep, p: str, field_name: str) -> Path:
    for base in (sweep.path.parent, Path.cwd(), ROOT):
        if (base / p).is_file():
            return (base / p).resolve()
    raise ConfigError(field_name, f"{p} (named in {sweep.path}) does not exist")


def _check_data(run: Run, cfg, rdir: Path) -> None:
    """Refuse a run folder whose data was made from another generator config."""
    data_dir = rdir / "data"
    made = read_metadata(data_dir, check=False)["config"]
    if made != cfg.to_dict():
        changed = sorted(k for k in set(made) | set(cfg.to_dict()) if made.get(k) != cfg.to_dict().get(k))
        raise ConfigError(None, f"run {run.run_id}: its data in {data_dir} was made from another generator config "
                                f"(differs in: {', '.join(changed)}); remove {rdir} (data, model and evaluation) "
                                f"or pick another output folder")


def _signatures(sweep: Sweep, run: Run, data_dir: Path) -> tuple[str, str]:
    """The inputs of the train and eval stages, hashed (a finished stage made from others is refused)."""
    fingerprint = read_metadata(data_dir, check=False)["fingerprint"]
    inputs = {"recipe": _path(sweep, sweep.recipe, "recipe").read_text(), "recipe_set": sweep.recipe_set,
              "accelerate": _path(sweep, sweep.accelerate_config, "accelerate_config").read_text()
              if sweep.accelerate_config else None,
              "data": fingerprint}
    if run.seed is not None:  # only then: runs of sweeps without a seed keep their signatures
        inputs["train_seed"] = run.seed
    train_sig = _signature(inputs)
    return train_sig, _signature({"train": train_sig, "eval": vars(sweep.eval)})


def run_state(sweep: Sweep, run: Run) -> str:
    """What running ``run`` will do: ``new``, ``skipped (finished)`` or ``resumed (...)`` (saying from where).

    Raises, as :func:`run_one` would, when a finished stage was made from other settings.
    """
    rdir = sweep.out / run.run_id
    data_dir, model_dir, eval_json = rdir / "data", rdir / "model", rdir / "eval.json"
    if not has_metadata(data_dir):
        return "resumed (making its data)" if rdir.exists() and any(rdir.iterdir()) else "new"
    _check_data(run, generator_config(sweep, run), rdir)
    train_sig, eval_sig = _signatures(sweep, run, data_dir)
    _guard(rdir, "train", train_sig, model_dir.exists(), run, model_dir)
    if training_done(model_dir):
        _guard(rdir, "eval", eval_sig, eval_json.exists(), run, eval_json)
        return "skipped (finished)" if eval_json.exists() else "resumed (trained; evaluating)"
    checkpoints = sorted((c for c in model_dir.glob("checkpoint-*") if c.name.split("-")[-1].isdigit()),
                         key=lambda c: int(c.name.split("-")[-1]))
    if checkpoints:
        return f"resumed (training from {checkpoints[-1].name})"
    return "resumed (data ready; training)"


def run_one(sweep: Sweep, run: Run, log=print) -> dict:
    """Make the data, train, evaluate (each skipped when already complete). Returns the run's summary.

    Each stage's inputs are recorded in ``stages.json``; finding a finished stage made from other inputs (the
    sweep file, recipe or base config changed since) is refused rather than silently reused. An interrupted
    training stage resumes from its last checkpoint.
    """
    from generators.build import generate

    rdir = sweep.out / run.run_id
    data_dir, model_dir, eval_json = rdir / "data", rdir / "model", rdir / "eval.json"
    cfg = generator_config(sweep, run)
    timings = {}
    if has_metadata(data_dir):
        _check_data(run, cfg, rdir)
    else:
        t = time.perf_counter()
        generate(cfg, data_dir, progress=False, overwrite=data_dir.exists())
        timings["data_s"] = time.perf_counter() - t
        log(f"[{run.run_id}] data ready ({timings['data_s']:.1f}s)")
    train_sig, eval_sig = _signatures(sweep, run, data_dir)
    _guard(rdir, "train", train_sig, model_dir.exists(), run, model_dir)
    if not training_done(model_dir):
        # an evaluation of an earlier model (its model folder removed to retrain) must not outlive it
        eval_json.unlink(missing_ok=True)
        _record(rdir, "eval", None)
        t = time.perf_counter()
        _record(rdir, "train", train_sig)
        _call(train_command(sweep, run, data_dir, model_dir), rdir / "train.log")
        timings["train_s"] = time.perf_counter() - t
        log(f"[{run.run_id}] trained ({timings['train_s']:.1f}s)")
    _guard(rdir, "eval", eval_sig, eval_json.exists(), run, eval_json)
    if not eval_json.exists():
        t = time.perf_counter()
        tmp = eval_json.with_suffix(".tmp.json")
        _call(eval_command(sweep, model_dir, data_dir, tmp), rdir / "eval.log")
        tmp.rename(eval_json)
        _record(rdir, "eval", eval_sig)
        timings["eval_s"] = time.perf_counter() - t
        log(f"[{run.run_id}] evaluated ({timings['eval_s']:.1f}s)")
    if timings:
        stamp = rdir / "timings.json"
        old = json.loads(stamp.read_text()) if stamp.exists() else {}
        write_text_atomic(stamp, json.dumps({**old, **timings}, indent=2) + "\n")
    return summarize(sweep, run)


def _signature(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _stages(rdir: Path) -> dict:
    path = rdir / "stages.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _record(rdir: Path, stage: str, signature: str | None) -> None:
    """Record (or, with None, forget) the inputs a stage was made from."""
    rdir.mkdir(parents=True, exist_ok=True)
    stages = {k: v for k, v in {**_stages(rdir), stage: signature}.items() if v is not None}
    write_text_atomic(rdir / "stages.json", json.dumps(stages, indent=2) + "\n")


def _guard(rdir: Path, stage: str, signature: str, exists: bool, run: Run, made: Path) -> None:
    stored = _stages(rdir).get(stage)
    if exists and stored is not None and stored != signature:
        raise ConfigError(None, f"run {run.run_id}: its {stage} stage in {rdir} was made with other settings (the "
                                f"recipe, recipe_set, eval settings or data changed); remove {made} to redo it, "
                                f"or pick another output folder")



def training_done(model_dir: Path) -> bool:
    """A finished training run leaves its final model and card (checkpoints alone mean: resume)."""
    return (model_dir / "config.json").exists() and (model_dir / "README.md").exists()


def _call(cmd: list[str], log_path: Path) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(cmd)}\n")
        log.flush()
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=Path.cwd())
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise click.ClickException(f"command failed ({proc.returncode}), log {log_path}:\n" + "\n".join(tail))


# ---------------------------------------------------------------------------------------------------------
# Results


def summarize(sweep: Sweep, run: Run) -> dict:
    """One results-table row: the run's knobs (from its training data) and its accuracies (from eval.json)."""
    from eval.results import diversity_of, frequency_columns, power_law_alpha, semantic_columns

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
        "noop_fraction": cfg["noop_fraction"],
        "seed": cfg["seed"],
        **semantic_columns(diversity_of(meta) or {}),
        "effective_instructions": meta["report"]["train"].get("effective_instructions"),
        "dataset_fingerprint": meta["fingerprint"],
    }
    for k in sweep.axes:  # axis values not already a column above (e.g. a structure parameter)
        if k not in ROW_COLUMNS:
            row[k] = run.overrides[k]
    ev = rdir / "eval.json"
    if ev.exists():
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
    timing = rdir / "timings.json"
    if timing.exists():
        row.update({k: round(v, 2) for k, v in json.loads(timing.read_text()).items()})
    return row


# per-run columns of a row that are not a point's (a point's runs differ in them)
RUN_ONLY = {"run", "seed", "dataset_fingerprint"}


def _aggregated(key: str) -> bool:
    """Columns averaged over a point's seeds: accuracies and the effective number of instructions."""
    return key == "accuracy" or key.endswith("_accuracy") or key == "effective_instructions"


def aggregate(rows: list[dict]) -> list[dict]:
    """One row per point (the runs that differ only by seed), in order of first appearance.

    A point row holds the knobs its runs share, ``runs`` and ``seeds`` (lists) and ``n_seeds``, and for each
    accuracy column (``accuracy``, ``<split>_accuracy``, ``<split>_<kind or third>_accuracy``) and
    ``effective_instructions``: the mean over the seeds that have it, ``_sd`` (sample standard deviation, None for
    one seed), ``_min``, ``_max`` and ``_seeds`` (how many had it).
    """
    from statistics import mean, stdev

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
            elif k not in RUN_ONLY and k not in agg and all(v == values[0] for v in values):
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


PLOT_FILES = {"phase": "phase_transition.png", "heatmap": "heatmap.png", "power-law": "power_law.png",
              "semantic": "semantic.png"}


def make_plots(sweep: Sweep, rows: list[dict]) -> list[Path]:
    """The plots that fit the axes: unseen accuracy vs I; I x S heat map; accuracy vs power-law alpha (Uniform as a
    reference); accuracy vs the training k range per family mix (restricted vs unrestricted). Seeds are averaged,
    their spread shown."""
    from eval import plots

    have = [r for r in rows if r.get("accuracy") is not None]
    kinds = plots.supported_plots(have)
    knobs = len([k for k in sweep.axes if k not in ("instructions", "seed")]) + bool(sweep.variants)
    if "semantic" in kinds and "phase" in kinds and knobs > 1:
        kinds.remove("phase")  # its lines (one knob) would average over the other (k ranges or families)
    made: list[Path] = []
    for kind in kinds:
        path = sweep.out / PLOT_FILES[kind]
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


# ---------------------------------------------------------------------------------------------------------
# CLI


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run a sweep of generate -> train -> evaluate runs and collect the results table and plots."""


def _load(sweep_file: str, output: str | None) -> Sweep:
    sweep = load_sweep(sweep_file)
    if output:
        sweep.output_dir = output
    return sweep


@main.command("run")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--only", "only", multiple=True, help="Run only these run ids (repeatable).")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output folder (default runs/sweeps/<name>).")
@user_errors
def run_cmd(sweep_file: str, only: tuple[str, ...], output: str | None) -> None:
    """Run every run of SWEEP_FILE in turn (resumable), then write results.json/.csv and plots."""
    sweep = _load(sweep_file, output)
    todo = runs(sweep)
    if only:
        known = {r.run_id for r in todo}
        missing = [o for o in only if o not in known]
        if missing:
            raise ConfigError("--only", f"no run {missing[0]!r} in this sweep (runs: {', '.join(sorted(known))})")
        todo = [r for r in todo if r.run_id in only]
    t0 = time.perf_counter()
    rows = []
    for i, r in enumerate(todo, 1):
        state = run_state(sweep, r)
        click.echo(f"run {i}/{len(todo)}: {r.run_id}" + ("" if state == "new" else f": {state}"))
        rows.append(run_one(sweep, r, log=click.echo))
    click.echo(f"{len(rows)} runs done in {time.perf_counter() - t0:.1f}s; {collect(sweep)}")


@main.command("emit")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output folder (default runs/sweeps/<name>).")
@user_errors
def emit_cmd(sweep_file: str, output: str | None) -> None:
    """Write commands.sh (one line per run) and runs.txt (run ids, for a job array) instead of running."""
    sweep = _load(sweep_file, output)
    sweep.out.mkdir(parents=True, exist_ok=True)
    rs = runs(sweep)
    lines = ["#!/usr/bin/env bash", f"# {len(rs)} runs of sweep {sweep.name}; each line is independent (resumable).",
             f"# Job array (--array=1-{len(rs)}; sed counts lines from 1): "
             "RUN=$(sed -n \"${SLURM_ARRAY_TASK_ID}p\" runs.txt); python -m training.sweep run SWEEP --only \"$RUN\"; "
             "then the last line (collect) once every run has finished",
             "set -euo pipefail"]
    for r in rs:
        lines.append(shlex.join(["python", "-m", "training.sweep", "run", str(sweep.path), "--only", r.run_id,
                                 "-o", str(sweep.out)]))
    lines.append(shlex.join(["python", "-m", "training.sweep", "collect", str(sweep.path), "-o", str(sweep.out)]))
    (sweep.out / "commands.sh").write_text("\n".join(lines) + "\n")
    (sweep.out / "runs.txt").write_text("\n".join(r.run_id for r in rs) + "\n")
    click.echo(f"wrote {sweep.out / 'commands.sh'} and {sweep.out / 'runs.txt'} ({len(rs)} runs)")


@main.command("collect")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output folder (default runs/sweeps/<name>).")
@user_errors
def collect_cmd(sweep_file: str, output: str | None) -> None:
    """Collect the finished runs' results into results.json/.csv and plots."""
    click.echo(collect(_load(sweep_file, output)))


if __name__ == "__main__":
    main()
