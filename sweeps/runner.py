"""Running a sweep: make each run's dataset, train, evaluate (each stage skipped when already complete).

Each run lives in ``<output>/<run id>/`` (default output ``runs/sweeps/<name>``) with ``data/`` (the dataset),
``model/`` (the trained model) and ``eval.json``; a stage whose output is complete is skipped, so an interrupted
sweep resumes where it stopped (training from its last checkpoint). Wherever the sweep sets the generator's
``seed`` (``set``, a variant or an axis), training gets the same ``--seed``. Training and evaluation run as
subprocesses of this interpreter that never pick up a same-named package from the working directory
(:func:`core.imports.module_command`; ``training/sft.py`` run by path puts the repository first).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click

from core.atomic import atomic_file, remove_stale, temp_name, write_text_atomic
from core.documents import read_json
from core.errors import ConfigError
from core.imports import ROOT, module_command
from core.metadata import has_metadata, read_metadata
from core.safeio import copy_tree, read_bytes_inside
from generators.make import make_from, recorded_config
from publishing.loading import load_splits
from publishing.localhub import _locked
from sweeps.config import (
    TRAINERS,
    Run,
    Sweep,
    find_file,
    generator_config,
    method_sweep,
    recipe_args,
    warm_start_dir,
    warm_start_run,
    warm_start_sweep,
)
from sweeps.table import REUSED, summarize

# ---------------------------------------------------------------------------------------------------------
# Stages


def train_command(sweep: Sweep, run: Run, data_dir: Path, model_dir: Path) -> list[str]:
    recipe = find_file(sweep, sweep.recipe, "recipe")
    script = str(ROOT / TRAINERS[sweep.trainer])
    if sweep.accelerate_config:
        # `accelerate launch` through training.launch (a user error is one line in train.log, the worker's exit
        # status comes back), of this environment (not whichever `accelerate` is first on PATH)
        config = find_file(sweep, sweep.accelerate_config, "accelerate_config")
        head = module_command("training.launch", "--config_file", str(config), script)
    else:
        head = [sys.executable, script]
    # resume: an interrupted run continues from its last checkpoint (a fresh one starts from scratch)
    return head + recipe_args(sweep, run, recipe, data_dir, model_dir)


def eval_command(sweep: Sweep, model_dir: Path, data_dir: Path, out: Path) -> list[str]:
    ev = sweep.eval
    if ev.kind == "loss":  # held-out completion loss (a pool's unseen and seen clusters)
        cmd = module_command("eval", "loss", str(model_dir), "--dataset", str(data_dir), "-o", str(out), "--splits",
                             ",".join(ev.splits), "--batch-size", str(ev.batch_size), "--resamples", str(ev.resamples))
        return cmd + (["--limit", str(ev.limit)] if ev.limit is not None else [])
    cmd = module_command("eval", "rewrite", str(model_dir), "--dataset", str(data_dir), "-o", str(out),
                         "--splits", ",".join(ev.splits), "--batch-size", str(ev.batch_size))
    if ev.max_new_tokens is not None:
        cmd += ["--max-new-tokens", str(ev.max_new_tokens)]
    if ev.limit is not None:
        cmd += ["--limit", str(ev.limit)]
    return cmd


def _check_data(run: Run, cfg, rdir: Path) -> None:
    """Refuse a run folder whose data was made from another generator config."""
    data_dir = rdir / "data"
    made, wanted = read_metadata(data_dir, check=False)["config"], recorded_config(cfg)
    if made != wanted:
        changed = sorted(k for k in set(made) | set(wanted) if made.get(k) != wanted.get(k))
        raise ConfigError(None, f"run {run.run_id}: its data in {data_dir} was made from another generator config "
                                f"(differs in: {', '.join(changed)}); remove {rdir} (data, model and evaluation) "
                                f"or pick another output folder")


def _signatures(sweep: Sweep, run: Run, data_dir: Path) -> tuple[str, str]:
    """The inputs of the train and eval stages, hashed (a finished stage made from others is refused): the run's
    method's recipe, ``recipe_set`` and trainer, and the warm start it starts from."""
    fingerprint = read_metadata(data_dir, check=False)["fingerprint"]
    view = method_sweep(sweep, run)
    inputs = {"recipe": find_file(view, view.recipe, "recipe").read_text(), "recipe_set": view.recipe_set,
              "accelerate": find_file(sweep, sweep.accelerate_config, "accelerate_config").read_text()
              if sweep.accelerate_config else None,
              "data": fingerprint}
    if run.seed is not None:  # only then: runs of sweeps without a seed keep their signatures
        inputs["train_seed"] = run.seed
    if view.trainer != "sft":  # likewise: SFT runs keep theirs
        inputs["trainer"] = view.trainer
    if sweep.warm_start:
        inputs["warm_start"] = _warm_start_signature(sweep, run)
    train_sig = _signature(inputs)
    return train_sig, _signature({"train": train_sig, "eval": sweep.eval.model_dump()})


# ---------------------------------------------------------------------------------------------------------
# The warm start: one SFT run per seed that every run of that seed starts from


def _warm_start_signature(sweep: Sweep, run: Run) -> str:
    """The inputs of ``run``'s warm start, hashed: its generator config, recipe, ``recipe_set``, accelerate config
    and seed."""
    view, wrun = warm_start_sweep(sweep), warm_start_run(sweep, run)
    return _signature({"data": generator_config(sweep, wrun).to_dict(), "seed": wrun.seed,
                       "recipe": find_file(view, view.recipe, "warm_start.recipe").read_text(),
                       "recipe_set": view.recipe_set,
                       "accelerate": find_file(sweep, sweep.accelerate_config, "accelerate_config").read_text()
                       if sweep.accelerate_config else None})


def ensure_warm_start(sweep: Sweep, run: Run, log=print) -> Path:
    """Make and train ``run``'s warm start unless it is complete (under a lock: jobs of one seed running at once
    train it once, the others wait); its model folder. A warm start made from other settings is refused."""
    wdir, wrun, view = warm_start_dir(sweep, run), warm_start_run(sweep, run), warm_start_sweep(sweep)
    data_dir, model_dir = wdir / "data", wdir / "model"
    wdir.mkdir(parents=True, exist_ok=True)
    with _locked(wdir / ".lock"):
        cfg = generator_config(sweep, wrun)
        if has_metadata(data_dir):
            _check_data(wrun, cfg, wdir)
        else:
            make_from(cfg, data_dir, progress=False, overwrite=data_dir.exists())
            log(f"[{wrun.run_id}] data ready")
        signature = _warm_start_signature(sweep, run)
        _guard(wdir, "train", signature, model_dir.exists(), wrun, model_dir)
        if not training_done(model_dir):
            t = time.perf_counter()
            _record(wdir, "train", signature)
            _call(train_command(view, wrun, data_dir, model_dir), wdir / "train.log")
            log(f"[{wrun.run_id}] trained ({time.perf_counter() - t:.1f}s)")
    return model_dir


def check_unseen_after_warm_start(sweep: Sweep, run: Run, data_dir: Path) -> None:
    """The run's unseen rules must be unseen by its warm start too: no ``test_unseen`` instruction of the run is a
    training instruction of the warm start (the same seed draws the same unseen rules first, so this holds by
    construction; checked, as the generator checks its own splits)."""
    warm = load_splits(str(warm_start_dir(sweep, run) / "data"), None, ["train"])["train"]
    unseen = load_splits(str(data_dir), None, ["test_unseen"])["test_unseen"]
    shared = set(warm.unique("instruction")) & set(unseen.unique("instruction"))
    if shared:
        raise ConfigError("warm_start", f"run {run.run_id}: {len(shared)} of its unseen test rules are training "
                                        f"rules of its warm start (e.g. {sorted(shared)[0]!r}): they would not be "
                                        f"unseen; give the warm start the runs' seed and base config")


def run_state(sweep: Sweep, run: Run) -> str:
    """What running ``run`` will do: ``new``, ``done, skipped`` or ``resumed (...)`` (saying from where).

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
        return "done, skipped" if eval_json.exists() else "resumed (trained; evaluating)"
    checkpoints = sorted((c for c in model_dir.glob("checkpoint-*") if c.name.split("-")[-1].isdigit()),
                         key=lambda c: int(c.name.split("-")[-1]))
    if checkpoints:
        return f"resumed (training from {checkpoints[-1].name})"
    return "resumed (data ready; training)"


def release_problem(sweep: Sweep, run: Run) -> str | None:
    """Why ``run``'s results may not be released (None: its data, model and evaluation are complete and each
    stage was made from the sweep's current settings, as ``stages.json`` records)."""
    rdir = sweep.out / run.run_id
    data_dir, model_dir, eval_json = rdir / "data", rdir / "model", rdir / "eval.json"
    if not has_metadata(data_dir):
        return f"has no data in {data_dir} (run the sweep first)"
    try:
        _check_data(run, generator_config(sweep, run), rdir)
    except ConfigError as exc:
        return exc.message.removeprefix(f"run {run.run_id}: ")
    if not training_done(model_dir):
        return f"is not trained (no finished model in {model_dir}; run the sweep first)"
    if not eval_json.exists():
        return f"has no evaluation ({eval_json} is missing; run the sweep to evaluate it)"
    train_sig, eval_sig = _signatures(sweep, run, data_dir)
    stages = _stages(rdir)
    if stages.get("train") != train_sig:
        return (f"its model in {model_dir} was not trained from the sweep's current settings (stages.json); "
                f"remove it and run the sweep again")
    if stages.get("eval") != eval_sig:
        return (f"its evaluation {eval_json} is stale (not made from the current model and eval settings, "
                f"stages.json); remove it and run the sweep again")
    try:
        scored = read_json(eval_json)["dataset"]["fingerprint"]
    except (ConfigError, KeyError, TypeError):
        return f"its evaluation {eval_json} cannot be read"
    if scored != read_metadata(data_dir, check=False)["fingerprint"]:
        return f"its evaluation {eval_json} scored other data (fingerprint {str(scored)[:16]}) than its own"
    return None


def run_one(sweep: Sweep, run: Run, log=print, reuse_from: Sequence[Path] = ()) -> dict:
    """Make the data, train, evaluate (each skipped when already complete). Returns the run's summary.

    Each stage's inputs are recorded in ``stages.json``; finding a finished stage made from other inputs (the
    sweep file, recipe or base config changed since) is refused rather than silently reused. An interrupted
    training stage resumes from its last checkpoint. With ``reuse_from`` (other sweeps' output folders), a run
    with no model of its own copies a finished model trained there from the same inputs instead of training
    (:func:`find_reusable`); it is then evaluated on its own data as any run is.
    """
    rdir = sweep.out / run.run_id
    data_dir, model_dir, eval_json = rdir / "data", rdir / "model", rdir / "eval.json"
    cfg = generator_config(sweep, run)
    timings = {}
    if has_metadata(data_dir):
        _check_data(run, cfg, rdir)
    else:
        t = time.perf_counter()
        make_from(cfg, data_dir, progress=False, overwrite=data_dir.exists())
        timings["data_s"] = time.perf_counter() - t
        log(f"[{run.run_id}] data ready ({timings['data_s']:.1f}s)")
    train_sig, eval_sig = _signatures(sweep, run, data_dir)
    _guard(rdir, "train", train_sig, model_dir.exists(), run, model_dir)
    if not training_done(model_dir):
        # an evaluation of an earlier model (its model folder removed to retrain) must not outlive it
        eval_json.unlink(missing_ok=True)
        _record(rdir, "eval", None)
        source = None
        if reuse_from and not model_dir.exists():  # a model folder of its own (checkpoints) resumes instead
            source, looked = find_reusable(sweep, run, train_sig, reuse_from)
            if source is None:
                log(f"[{run.run_id}] no run with the same data and training inputs among the {looked} finished runs "
                    f"in --reuse-from: training it")
        if source is not None:
            _reuse_model(source, rdir, train_sig)
            timings["train_s"] = None  # a time of an earlier training of this run no longer applies
            log(f"[{run.run_id}] trained: reused the model of {source.parent.name}/{source.name} (the same data "
                f"fingerprint and training inputs)")
        else:
            warm_args = []
            if sweep.warm_start:  # every run of this seed starts from the same SFT model
                warm_args = ["--model_name_or_path", str(ensure_warm_start(sweep, run, log))]
                check_unseen_after_warm_start(sweep, run, data_dir)
            t = time.perf_counter()
            (rdir / REUSED).unlink(missing_ok=True)
            _record(rdir, "train", train_sig)
            _call(train_command(method_sweep(sweep, run), run, data_dir, model_dir) + warm_args, rdir / "train.log")
            timings["train_s"] = time.perf_counter() - t
            log(f"[{run.run_id}] trained ({timings['train_s']:.1f}s)")
    _guard(rdir, "eval", eval_sig, eval_json.exists(), run, eval_json)
    if not eval_json.exists():
        t = time.perf_counter()
        with atomic_file(eval_json) as tmp:  # eval.json appears complete or not at all
            _call(eval_command(sweep, model_dir, data_dir, tmp), rdir / "eval.log")
        _record(rdir, "eval", eval_sig)
        timings["eval_s"] = time.perf_counter() - t
        log(f"[{run.run_id}] evaluated ({timings['eval_s']:.1f}s)")
    if timings:
        stamp = rdir / "timings.json"
        old = json.loads(stamp.read_text()) if stamp.exists() else {}
        merged = {k: v for k, v in {**old, **timings}.items() if v is not None}
        write_text_atomic(stamp, json.dumps(merged, indent=2) + "\n")
    return summarize(sweep, run)


# ---------------------------------------------------------------------------------------------------------
# Reusing a model another sweep trained from the same inputs

def find_reusable(sweep: Sweep, run: Run, train_sig: str, sources: Sequence[Path]) -> tuple[Path | None, int]:
    """A run folder under one of ``sources`` (other sweeps' output folders) whose finished model was trained from
    exactly this run's training inputs: the same train-stage signature in its ``stages.json`` (recipe text,
    recipe_set, accelerate config, data fingerprint, seed) and the same data fingerprint in its ``datagen.json``.
    Returns it (None if none) and how many finished run folders were looked at."""
    rdir = (sweep.out / run.run_id).resolve()
    fingerprint = read_metadata(rdir / "data", check=False)["fingerprint"]
    looked = 0
    for src in sources:
        src = Path(src)
        if not src.is_dir():
            raise ConfigError("--reuse-from", f"{src} is not a folder (give another sweep's output folder)")
        for cand in sorted(p for p in src.iterdir() if p.is_dir() and not p.is_symlink()):
            if cand.resolve() == rdir:
                continue
            recorded = _recorded_inputs(cand)
            if recorded is None:
                continue
            looked += 1
            if recorded == (train_sig, fingerprint):
                return cand, looked
    return None, looked


def _recorded_inputs(cand: Path) -> tuple[str, str] | None:
    """(train signature, data fingerprint) of a run folder with a finished model, read without following links or
    blocking on special files; None when it has no finished model, a linked ``model`` or ``data``, or cannot be
    read (an unreadable folder is no match)."""
    try:
        if (cand / "model").is_symlink() or (cand / "data").is_symlink() or not training_done(cand / "model"):
            return None
        stages = json.loads(read_bytes_inside(cand, "stages.json", limit=1 << 20))
        meta = json.loads(read_bytes_inside(cand, "data/datagen.json", limit=64 << 20))
        train, fingerprint = stages.get("train"), meta.get("fingerprint")
    except (OSError, ValueError, AttributeError, ConfigError):
        return None
    return (train, fingerprint) if isinstance(train, str) and isinstance(fingerprint, str) else None


def _reuse_model(source: Path, rdir: Path, train_sig: str) -> None:
    """Copy ``source``'s model into ``rdir/model`` (refusing links and special files) and record where it came
    from, by sweep folder and run id only (no machine paths). The record is written first and the model folder
    appears whole, last: a kill at any point leaves either no model (the next run copies or trains again, and a
    training run drops the record) or a complete one with its record. A refused or interrupted copy removes both."""
    write_text_atomic(rdir / REUSED, json.dumps({"model_from": f"{source.parent.name}/{source.name}",
                                                 "train_signature": train_sig}, indent=2) + "\n")
    _record(rdir, "train", train_sig)
    remove_stale(rdir, ".model.reuse-")
    tmp = rdir / temp_name(".model.reuse-")
    try:
        copy_tree(source / "model", tmp)
        tmp.rename(rdir / "model")
    except BaseException:  # refused or interrupted: no model, so no record of one either
        shutil.rmtree(tmp, ignore_errors=True)
        (rdir / REUSED).unlink(missing_ok=True)
        _record(rdir, "train", None)
        raise


def _signature(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _stages(rdir: Path) -> dict:
    path = rdir / "stages.json"
    return read_json(path) if path.exists() else {}


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
