"""Sweep files: a base generator config, a training recipe, and the axes to vary (a typed model, loaded by
:mod:`core.config` like generator and mixture configs).

A sweep YAML::

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

Reinforcement learning (``sweeps/rl_*.yaml``) adds three optional fields:

    trainer: grpo                           # training/grpo.py trains each run with `recipe` (default: sft)
    warm_start:                             # one SFT run per seed, the model every run of that seed starts from
      recipe: training/recipes/tiny-cpu.yaml
      set: {instructions: 16}               # its data: base_config + `set` + these (+ the run's seed)
      recipe_set: {max_steps: 2000}
    compare:                                # the same runs trained another way, from the same warm start
      sft: {trainer: sft, recipe: training/recipes/tiny-cpu.yaml, recipe_set: {max_steps: 40}}

With ``compare`` every run is made once per method (the main one is named by ``trainer``); run ids start with the
method (``grpo_I=16``, ``sft_I=16``) and the table and phase plot compare them at equal I. The warm start lives in
``<output>/warm_start/seed=N/`` (``base`` without a seed) and is trained once, by whichever run needs it first.

Every run's generator config and training recipes (each method's and the warm start's recipe file with its
``recipe_set`` and the run's seed, read as its training command reads them) are built and checked when the file is
loaded, so a bad value fails before anything starts, naming the sweep file and the run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, PlainValidator, PrivateAttr

from core.config import ConfigModel, Int, OptInt, OptStr, Str, build, invalid, read_yaml_config
from core.errors import ConfigError
from core.imports import ROOT
from eval.rewrite import DecodeSettings
from generators.cli import resolve_config_path
from generators.config import load_config
from generators.real.pool_config import is_pool_config, load_pool_config
from training import grpo_recipe
from training.recipe import parse_recipe, validate

SWEEPS_DIR = Path("runs") / "sweeps"  # default outputs: runs/sweeps/<name>, apart from single training runs in runs/


# how an axis is named in run ids
GENERATOR_KEYS_SHORT = {"instructions": "I", "budget": "N", "examples_per_instruction": "S", "distribution.alpha": "alpha",
                        "distribution": "alpha", "noop_fraction": "noop", "seed": "seed", "occurrences": "occ",
                        "space.k": "k", "space.structures": "families", "abstraction.diversification": "diver"}
# axes a results row already holds as a column of its own (other axes get a column named by their key)
ROW_COLUMNS = {"instructions", "budget", "examples_per_instruction", "distribution", "distribution.kind",
               "distribution.alpha", "noop_fraction", "seed"}


def _split_names(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(x, str) and x for x in value):
        raise invalid(f"must be a non-empty list of split names, got {value!r}")
    return value


def _axis(value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise invalid("must be a non-empty list of values")
    return value


def _overrides(value: Any) -> dict:
    if not isinstance(value, dict):
        raise invalid("must be a mapping of generator overrides")
    return value


EVAL_KINDS = ("exact_match", "loss")


class EvalSettings(ConfigModel):
    """How each run is evaluated: ``kind: exact_match`` (`diveval rewrite` options) or ``kind: loss`` (`diveval
    loss`: held-out completion loss, e.g. of a pool's unseen and seen clusters; ``resamples`` bootstrap resamples)."""

    kind: Str = "exact_match"
    splits: Annotated[list[str], PlainValidator(_split_names)] = Field(default_factory=lambda: ["test_unseen", "test_seen"])
    batch_size: Int = 128
    max_new_tokens: OptInt = None
    limit: OptInt = None
    resamples: Int = 1000


#: The training entry point of each trainer a sweep may name.
TRAINERS = {"sft": "training/sft.py", "grpo": "training/grpo.py"}
WARM_START_DIR = "warm_start"  # in a sweep's output folder: the warm starts, one folder per seed


class Method(ConfigModel):
    """How a run is trained: the entry point (``trainer``: a key of :data:`TRAINERS`), its recipe and overrides."""

    trainer: Str = "sft"
    recipe: Str
    recipe_set: dict[str, Any] = Field(default_factory=dict)


class WarmStart(ConfigModel):
    """One SFT run per seed that the sweep's runs of that seed start from (their ``model_name_or_path``): its data
    is the base config with the sweep's ``set``, then its own ``set``, and the run's seed."""

    recipe: Str
    set: dict[str, Any] = Field(default_factory=dict)
    recipe_set: dict[str, Any] = Field(default_factory=dict)


class Sweep(ConfigModel):
    """A sweep file (see the module docstring); ``path`` is the file it was read from."""

    name: Str
    base_config: Str
    recipe: Str
    trainer: Str = "sft"
    warm_start: WarmStart | None = None
    compare: dict[str, Method] = Field(default_factory=dict)
    accelerate_config: OptStr = None
    set: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, Annotated[list, PlainValidator(_axis)]] = Field(default_factory=dict)
    variants: dict[str, Annotated[dict[str, Any], PlainValidator(_overrides)]] = Field(default_factory=dict)
    recipe_set: dict[str, Any] = Field(default_factory=dict)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    output_dir: OptStr = None
    _path: Path = PrivateAttr(default=Path("sweep.yaml"))

    @property
    def path(self) -> Path:
        return self._path

    @property
    def out(self) -> Path:
        return Path(self.output_dir) if self.output_dir else SWEEPS_DIR / self.name


@dataclass
class Run:
    run_id: str
    overrides: dict[str, Any]  # generator overrides (dotted keys)
    variant: str | None
    point: str = ""  # the run id without its seed: the runs of one point differ only by seed
    method: str | None = None  # with `compare`: the method that trains it (None: the sweep's own `trainer`)

    @property
    def seed(self) -> int | None:
        """The generator seed the sweep sets (None: the base config's), also the training seed."""
        return self.overrides.get("seed")


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file: its fields, its named files, and every run's generator config."""
    path = Path(path)
    data = read_yaml_config(path, kind="sweep")
    for required in ("name", "base_config", "recipe"):
        if not data.get(required):
            raise ConfigError(required, f"the sweep file {path} must set it")
    sweep = build(Sweep, {k: v for k, v in data.items() if v is not None})
    sweep._path = path
    check_sweep(sweep)
    find_file(sweep, sweep.recipe, "recipe")  # named files must exist before anything starts
    for name, m in sweep.compare.items():
        find_file(sweep, m.recipe, f"compare.{name}.recipe")
    if sweep.warm_start:
        find_file(sweep, sweep.warm_start.recipe, "warm_start.recipe")
    if sweep.accelerate_config:
        find_file(sweep, sweep.accelerate_config, "accelerate_config")
    check_recipes(sweep, runs(sweep))  # every run's generator config and recipe, before anything starts
    return sweep


def check_sweep(sweep: Sweep) -> None:
    """What the field types cannot say: variants and ``set`` must not overlap an axis, the seed is the
    generator's, and the eval settings are `diveval rewrite`'s (so a typo fails before training)."""
    for vname, vover in sweep.variants.items():
        clash = sorted(k for k in vover if any(_nested(k, a) for a in sweep.axes))
        if clash:
            raise ConfigError(f"variants.{vname}.{clash[0]}", "is also an axis (or inside one); a variant may not "
                                                              "override an axis (the run ids would name values the "
                                                              "runs do not use)")
    for key in sweep.set:
        inside = [a for a in sweep.axes if _nested(key, a)]
        if inside:
            raise ConfigError(f"set.{key}", f"is also the axis {inside[0]!r} (or inside it): the axis would replace it")
    if "seed" in sweep.recipe_set:
        raise ConfigError("recipe_set.seed", "set the generator's `seed` instead (in set, a variant or an axis): it "
                                             "is the training seed too")
    check_methods(sweep)
    ev = sweep.eval
    if ev.kind not in EVAL_KINDS:
        raise ConfigError("eval.kind", f"must be one of {', '.join(EVAL_KINDS)}, got {ev.kind!r}")
    if ev.resamples < 1:
        raise ConfigError("eval.resamples", f"must be >= 1, got {ev.resamples}")
    try:
        DecodeSettings(batch_size=ev.batch_size, max_new_tokens=ev.max_new_tokens, limit=ev.limit).validate()
    except ConfigError as exc:
        raise ConfigError(f"eval.{exc.field}", exc.message) from None


def check_methods(sweep: Sweep) -> None:
    """``trainer``, ``compare`` and ``warm_start``: known trainers, method names usable in run ids, and no seed of
    their own (the run's seed is the training seed); ``compare`` only where one plot line per method says it all
    (axes I and seed, no variants)."""
    methods = {"": Method(trainer=sweep.trainer, recipe=sweep.recipe, recipe_set=sweep.recipe_set),
               **{f"compare.{k}.": m for k, m in sweep.compare.items()}}
    if sweep.warm_start:
        methods["warm_start."] = Method(recipe=sweep.warm_start.recipe, recipe_set=sweep.warm_start.recipe_set)
    for where, m in methods.items():
        if m.trainer not in TRAINERS:
            raise ConfigError(f"{where}trainer", f"must be one of {', '.join(TRAINERS)}, got {m.trainer!r}")
        if where and "seed" in m.recipe_set:
            raise ConfigError(f"{where}recipe_set.seed", "the run's seed is the training seed (set the generator's "
                                                         "`seed` in set, a variant or an axis)")
    if sweep.warm_start:
        if "seed" in sweep.warm_start.set:
            raise ConfigError("warm_start.set.seed", "each seed of the sweep gets its own warm start, made with that "
                                                     "seed (so its training rules avoid the runs' unseen rules)")
        if sweep.warm_start.recipe_set.get("model_name_or_path"):
            raise ConfigError("warm_start.recipe_set.model_name_or_path", "the warm start is trained by "
                                                                          "training/sft.py from its recipe's model")
    for name in sweep.compare:
        if name == sweep.trainer or not name.replace("-", "").isalnum() or not name.islower():
            raise ConfigError(f"compare.{name}", f"a method's name starts its runs' ids: lowercase letters, digits "
                                                 f"and '-', other than the sweep's own trainer ({sweep.trainer!r})")
    if sweep.compare:
        other = [a for a in sweep.axes if a not in ("instructions", "seed")]
        if other or sweep.variants:
            raise ConfigError("compare", f"compares methods at each I: the sweep may vary only instructions and "
                                         f"seed, not {(other or ['variants'])[0]!r} (a plot line per method would "
                                         f"average over it)")


def method_sweep(sweep: Sweep, run: Run) -> Sweep:
    """The sweep as ``run``'s method sees it: ``trainer``, ``recipe`` and ``recipe_set`` those of its method."""
    if run.method is None or run.method == sweep.trainer:
        return sweep
    m = sweep.compare[run.method]
    return sweep.model_copy(update={"trainer": m.trainer, "recipe": m.recipe, "recipe_set": m.recipe_set})


def warm_start_sweep(sweep: Sweep) -> Sweep:
    """The sweep as its warm start sees it: trained by training/sft.py with the warm start's recipe."""
    ws = sweep.warm_start
    return sweep.model_copy(update={"trainer": "sft", "recipe": ws.recipe, "recipe_set": ws.recipe_set,
                                    "warm_start": None, "compare": {}})


def warm_start_run(sweep: Sweep, run: Run) -> Run:
    """The warm start of ``run``'s seed, as a run of its own (``warm_start_seed=N``; its folder:
    :func:`warm_start_dir`)."""
    seed = {} if run.seed is None else {"seed": run.seed}
    name = "base" if run.seed is None else f"seed={run.seed}"
    return Run(f"{WARM_START_DIR}_{name}", {**sweep.set, **sweep.warm_start.set, **seed}, None, WARM_START_DIR)


def warm_start_dir(sweep: Sweep, run: Run) -> Path:
    """``<output>/warm_start/seed=N`` (``base`` when the sweep sets no seed): the warm start ``run`` starts from."""
    return sweep.out / WARM_START_DIR / warm_start_run(sweep, run).run_id.removeprefix(f"{WARM_START_DIR}_")


def _nested(a: str, b: str) -> bool:
    """Whether dotted keys ``a`` and ``b`` are the same field or one holds the other (``distribution`` and
    ``distribution.alpha``)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def runs(sweep: Sweep) -> list[Run]:
    """Every run of the sweep (axes x variants), each with a stable id; validates their configs."""
    keys = list(sweep.axes)
    variants = list(sweep.variants.items()) or [(None, {})]
    methods = [sweep.trainer, *sweep.compare] if sweep.compare else [None]
    out = []
    for method in methods:
        for values in itertools.product(*(sweep.axes[k] for k in keys)):
            for vname, vover in variants:
                over = {**sweep.set, **vover, **dict(zip(keys, values))}
                parts = [_id_part(k, v) for k, v in zip(keys, values)]
                point = [p for k, p in zip(keys, parts) if k != "seed"]
                for prefix in (vname, method):
                    if prefix:
                        parts.insert(0, prefix)
                        point.insert(0, prefix)
                out.append(Run("_".join(parts) or "base", over, vname, "_".join(point) or "base", method))
    ids = [r.run_id for r in out]
    if len(set(ids)) != len(ids):
        raise ConfigError("axes", "two runs would share one id; give variants distinct names")
    for r in out:
        generator_config(sweep, r)
    if sweep.warm_start:  # each seed's warm start too
        for seed in {r.seed for r in out}:
            generator_config(sweep, warm_start_run(sweep, next(r for r in out if r.seed == seed)))
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
    """The generator config of one run: the base config (a synthetic task's or a pool's) with the sweep's, variant's
    and axes' overrides."""
    base = sweep.base_config
    candidate = (sweep.path.parent / base) if not Path(base).is_absolute() else Path(base)
    path = candidate if candidate.exists() else resolve_config_path(base)
    overrides = [f"{k}={_yaml(v)}" for k, v in run.overrides.items()]
    cfg = load_pool_config(path, overrides) if is_pool_config(path) else load_config(path, overrides)
    cfg.name = f"{sweep.name}-{run.run_id}".replace("=", "").replace(".", "p")[:90]
    return cfg


def _yaml(v: Any) -> str:
    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()


def find_file(sweep: Sweep, p: str, field_name: str) -> Path:
    """A file the sweep names, looked for beside the sweep file, in the working directory, then in this checkout."""
    for base in (sweep.path.parent, Path.cwd(), ROOT):
        if (base / p).is_file():
            return (base / p).resolve()
    raise ConfigError(field_name, f"{p} (named in {sweep.path}) does not exist")


def recipe_args(sweep: Sweep, run: Run, recipe: Path, data_dir: Path, model_dir: Path) -> list[str]:
    """The training command's recipe arguments for one run: its data, output folder, ``recipe_set`` and seed."""
    args = ["--config", str(recipe), "--dataset", str(data_dir), "--output_dir", str(model_dir),
            "--resume_from_checkpoint", "auto"]
    for k, v in sweep.recipe_set.items():
        args += [f"--{k}", str(v)]
    if run.seed is not None:  # the sweep's seed is the training seed too (weights, data order, dropout)
        args += ["--seed", str(run.seed)]
    return args


def check_recipes(sweep: Sweep, todo: list[Run]) -> None:
    """Read each run's recipe as its training command will (its method's recipe file and ``recipe_set``, the seed,
    the warm start it starts from) and check it, and each seed's warm start recipe likewise, before any data is made:
    an unknown or abbreviated field, a value that cannot be meant, a model folder that does not exist, a recipe that
    would publish every run's model. Runs that differ only in their folders are read once."""
    checked = set()
    for run in todo:
        view = method_sweep(sweep, run)
        model = []
        if sweep.warm_start:  # the run starts from its seed's warm start, trained before it
            model = ["--model_name_or_path", str(warm_start_dir(sweep, run) / "model")]
            wview, wrun = warm_start_sweep(sweep), warm_start_run(sweep, run)
            if ("warm_start", run.seed) not in checked:
                checked.add(("warm_start", run.seed))
                _check_recipe(wview, wrun, "warm_start.", [], sweep)
        if (run.method, run.seed) not in checked:
            checked.add((run.method, run.seed))
            prefix = f"compare.{run.method}." if run.method and run.method != sweep.trainer else ""
            _check_recipe(view, run, prefix, model, sweep)


def _check_recipe(view: Sweep, run: Run, prefix: str, model: list[str], sweep: Sweep) -> None:
    """One recipe of the sweep as ``view`` (a method's or the warm start's) trains it; errors name the sweep file,
    the run and, for a ``recipe_set`` key, the field under ``prefix`` (``compare.sft.``, ``warm_start.``)."""
    path = find_file(view, view.recipe, f"{prefix}recipe")
    args = recipe_args(view, run, path, sweep.out / run.run_id / "data", sweep.out / run.run_id / "model") + model
    where = f"sweep {sweep.path}, run {run.run_id}"
    try:
        if view.trainer == "grpo":
            recipe = grpo_recipe.parse(args, given=f"{prefix}recipe_set of {where}")
            validate(recipe, data=False, hub=False, model=not model)
            grpo_recipe.check_fields(recipe, here=False)
        else:
            recipe = parse_recipe(args, given=f"{prefix}recipe_set of {where}")
            validate(recipe, data=False, hub=False, model=not model)
        if recipe.run.publish:
            raise ConfigError("recipe_set.publish", f"the recipe publishes each trained model: set publish: false "
                                                    f"in {prefix}recipe_set ({where}); `python -m sweeps release` "
                                                    f"publishes a finished sweep's models together")
    except ConfigError as exc:
        name = f"{prefix}recipe_set.{exc.field}" if exc.field in view.recipe_set else exc.field
        if exc.field == "recipe_set.publish":
            name = f"{prefix}recipe_set.publish"
        raise ConfigError(name, exc.message if where in exc.message else f"{exc.message} ({where})") from None
