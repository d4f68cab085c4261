"""A recipe, read and checked: ``--config recipe.yaml`` plus command-line overrides, into dataclasses.

The recipe is one YAML mapping read by TRL's ``TrlParser`` into TRL's ``SFTConfig`` and ``ModelConfig`` and the
fields of :mod:`training.args`. Everything here happens before any data or model is loaded, and every error
names the field (and the recipe file) at fault:

- names are exact: a recipe key or a command-line option that is no field is refused with the nearest field
  (argparse's prefix matching, which took ``--learning_rat`` for ``--learning_rate``, is off), as is a key given
  twice;
- values that cannot be meant are refused (:func:`check_values`: a negative ``max_steps`` other than -1, a zero
  learning rate or batch size, a dropout of 1, ...), before TRL's and transformers' own checks;
- a dataset or model that names a folder which does not exist says so (it is never looked up on the Hub), and a
  local-hub version that does not exist names the versions there are (:func:`check_sources`).

This module imports no deep-learning library itself (TRL is imported when a parser is made), so a sweep can
check its runs' recipes before the first run starts (:mod:`sweeps.config`).
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from core.config import read_yaml_config
from core.errors import ConfigError
from publishing.loading import check_hub_reachable, may_use_hub
from publishing.resolve import resolve
from training.args import DataArguments, RunArguments, ScratchModelArguments, settle_dataset
from training.hardware import auto_defaults, check_attention, check_optimizer, check_quantization
from training.quiet import quiet_dependency_notices


@dataclass
class Recipe:
    data: object  # training.args.DataArguments
    scratch: object  # training.args.ScratchModelArguments
    run: object  # training.args.RunArguments
    training: object  # trl.SFTConfig
    model: object  # trl.ModelConfig
    name: str | None = None  # the recipe file's name
    text: str = ""  # the recipe file's text
    overrides: list[str] = field(default_factory=list)  # command-line arguments besides --config
    path: str | None = None  # the recipe file as given (named in errors)
    extra: tuple = ()  # an entry point's own dataclasses (make_parser's ``extra``), parsed


def make_parser(trainer_config=None, extra: tuple = ()):
    """TrlParser over our fields and TRL's: exact option names only, hardware-aware defaults for ``bf16`` and
    ``use_cpu``, and argparse's own errors (a bad number, an unknown choice) as one :class:`ConfigError`.
    ``trainer_config``: TRL's config class (``SFTConfig`` unless another entry point, e.g. ``training/grpo.py``
    with ``GRPOConfig``, passes its own), ``extra``: that entry point's own dataclasses."""
    quiet_dependency_notices()  # before trl imports bitsandbytes
    # deferred: trl imports transformers and torch (seconds); reading a sweep file imports this module
    from trl import ModelConfig, SFTConfig, TrlParser

    parser = TrlParser((DataArguments, ScratchModelArguments, RunArguments, trainer_config or SFTConfig, ModelConfig,
                        *extra), allow_abbrev=False)
    parser.set_defaults(**auto_defaults())
    parser.error = _argparse_error  # argparse would print its whole usage and exit
    return parser


_ARGPARSE_ERROR = re.compile(r"^argument (--?[\w-]+)(?:/\S+)?: (.*)$", re.S)


def _argparse_error(message: str):
    m = _ARGPARSE_ERROR.match(message)
    if m:
        raise ConfigError(m.group(1).lstrip("-").replace("-", "_"), one_line(m.group(2)))
    raise ConfigError(None, one_line(message))


def one_line(text: str) -> str:
    """``text`` on one line (a library message that spans several)."""
    return re.sub(r"\s*\n\s*", " ", str(text).strip())


def parse_recipe(argv: list[str] | None = None, given: str = "on the command line", *, trainer_config=None,
                 extra: tuple = ()) -> Recipe:
    """Read ``--config recipe.yaml`` and the command-line overrides into a checked :class:`Recipe`; ``given`` says
    in errors where the overrides came from (a sweep passes its ``recipe_set`` as overrides); ``trainer_config``
    and ``extra``: see :func:`make_parser`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = [part for a in argv for part in (a.split("=", 1) if a.startswith("--config=") else [a])]
    path, text, config, overrides = None, "", {}, list(argv)
    if "--config" in argv:
        i = argv.index("--config")
        if i + 1 >= len(argv):
            raise ConfigError("config", "--config needs a recipe file")
        path = Path(argv[i + 1])
        config = read_yaml_config(path, kind="recipe")  # a missing file, bad YAML or a key given twice
        text = path.read_text(encoding="utf-8")
        overrides = argv[:i] + argv[i + 2 :]
    parser = make_parser(trainer_config, extra)
    values = {k: v for k, v in config.items() if k != "env"}
    check_names(parser, list(values), overrides, f" (recipe {path})", f" ({given})")
    parser.set_defaults_with_config(**values)
    namespace, _ = parser.parse_known_args(overrides)
    cli = {a[2:].split("=", 1)[0].replace("-", "_") for a in overrides if a.startswith("--")}
    check_values(vars(namespace), lambda name: f" ({given})" if name in cli
                 else f" (recipe {path})" if name in values else "")
    try:
        parsed = parser.parse_args_and_config(argv)  # the dataclasses: TRL's and transformers' own checks
    except ConfigError:
        raise
    except ValueError as exc:  # inconsistent TrainingArguments, e.g. load_best_model_at_end without evaluations
        raise ConfigError(None, f"{path or 'command line'}: {one_line(exc)}") from None
    data, scratch, run, training, model, *own = parsed
    settle_dataset(data, {a[2:].split("=")[0] for a in overrides if a.startswith("--")})
    return Recipe(data, scratch, run, training, model, path.name if path else None, text, overrides,
                  str(path) if path else None, tuple(own))


def check_names(parser, keys: list[str], overrides: list[str], in_recipe: str = "", in_overrides: str = "") -> None:
    """Every recipe key must be a field and every ``--option`` an option, exactly (no prefixes, no guesses)."""
    fields = sorted({a.dest for a in parser._actions if a.option_strings and a.dest != "help"})
    options = {s for a in parser._actions for s in a.option_strings}
    for key in keys:
        if key not in fields:
            raise ConfigError(str(key), f"is not a recipe field{_nearest(str(key), fields)}{in_recipe}")
    for arg in overrides:
        if arg.startswith("--") and arg.split("=", 1)[0] not in options:
            name = arg[2:].split("=", 1)[0]
            raise ConfigError(name, f"is not a recipe field{_nearest(name, fields)}{in_overrides}")


def _nearest(name: str, fields: list[str]) -> str:
    close = difflib.get_close_matches(name.replace("-", "_"), fields, n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""


_AT_LEAST_ONE = (lambda v: v >= 1, "at least 1")
_POSITIVE = (lambda v: v > 0, "positive")
_NOT_NEGATIVE = (lambda v: v >= 0, ">= 0")
_FRACTION = (lambda v: 0 <= v < 1, "within [0, 1)")
#: The range of each numeric field, as (test, what it must be); an unset optional field is not checked.
RANGES = {
    **dict.fromkeys(("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                     "eval_accumulation_steps", "max_length", "n_layer", "n_embd", "n_head", "n_positions",
                     "max_train_samples", "max_eval_samples", "early_stopping_patience", "lora_r"), _AT_LEAST_ONE),
    **dict.fromkeys(("learning_rate", "num_train_epochs", "adam_epsilon", "logging_steps", "eval_steps",
                     "save_steps", "lora_alpha"), _POSITIVE),
    **dict.fromkeys(("weight_decay", "max_grad_norm", "warmup_steps", "early_stopping_threshold", "seed",
                     "data_seed", "dataloader_num_workers", "save_total_limit"), _NOT_NEGATIVE),
    **dict.fromkeys(("dropout", "lora_dropout", "label_smoothing_factor", "adam_beta1", "adam_beta2"), _FRACTION),
    "max_steps": (lambda v: v == -1 or v >= 1, "-1 (train for num_train_epochs) or at least 1"),
}


def check_values(values: dict, origin=lambda name: "") -> None:
    """Refuse numbers that cannot be meant, naming the field (and, through ``origin(name)``, where it was given):
    each must be a finite number in its range (:data:`RANGES`; ``max_steps`` is -1 or at least 1: a negative one
    would silently train by epochs), and ``n_embd`` a multiple of ``n_head``."""
    for name, (ok, what) in RANGES.items():
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(name, f"must be a finite number, got {value!r}{origin(name)}")
        if not ok(value):
            raise ConfigError(name, f"must be {what}, got {value}{origin(name)}")
    n_embd, n_head = values.get("n_embd"), values.get("n_head")
    if n_embd and n_head and n_embd % n_head:
        raise ConfigError("n_head", f"n_embd ({n_embd}) must be divisible by n_head ({n_head}){origin('n_head')}")


def validate(recipe: Recipe, *, data: bool = True, hub: bool = True, model: bool = True) -> None:
    """Checks that need the whole recipe (each names the field at fault); ``data=False`` leaves out the dataset
    (a sweep checks its recipe before making the data); ``hub=False`` leaves out asking the Hub whether a Hub id
    answers (a sweep file is read, and emitted for a cluster, where the Hub may not be reachable: each run's
    training asks before it loads anything); ``model=False`` leaves out the pretrained model (a sweep's warm start,
    which is trained before the runs that start from it)."""
    t, run = recipe.training, recipe.run
    check_values({**vars(recipe.data), **vars(recipe.scratch), **vars(run), **vars(recipe.model), **t.__dict__})
    check_quantization(recipe.model)
    check_optimizer(t)
    check_attention(t, recipe.model)
    if run.early_stopping_patience is not None:
        if not recipe.data.eval_split:
            raise ConfigError("early_stopping_patience", "needs a held-out split: set eval_split (e.g. validation)")
        if str(getattr(t.eval_strategy, "value", t.eval_strategy)) == "no":
            raise ConfigError("early_stopping_patience", "needs evaluations: set eval_strategy to steps or epoch")
        if t.metric_for_best_model is None:
            t.metric_for_best_model, t.greater_is_better = "eval_loss", False
    if t.push_to_hub and not run.publish:  # publish says whether, push_to_hub where: never a silent no-op
        raise ConfigError("push_to_hub", "publishes the final model to the Hub only with publish: true (this recipe "
                                         "does not publish): pass --publish true as well")
    if t.push_to_hub and (not t.hub_model_id or "/" not in t.hub_model_id):
        raise ConfigError("hub_model_id", "push_to_hub needs the Hub repository as org/name")
    check_sources(recipe, data=data, hub=hub, model=model)


def check_sources(recipe: Recipe, *, data: bool = True, hub: bool = True, model: bool = True) -> None:
    """The dataset and the pretrained model, found without loading them: a folder that does not exist, a local-hub
    name or version that does not exist, or a Hub that does not answer, each named by its field."""
    m = recipe.model
    model_revision = None if m.model_revision in (None, "", "main") else m.model_revision  # ModelConfig's "main"
    sources = [(m.model_name_or_path, model_revision, "model", "model_name_or_path", "model_revision")] if model else []
    if data:
        sources.insert(0, (recipe.data.dataset, recipe.data.dataset_revision, "dataset", "dataset", "dataset_revision"))
    for source, revision, repo_type, name, revision_name in sources:
        if not source:
            continue
        if not may_use_hub(source, repo_type):  # a folder or a local-hub name: found now, without the network
            try:
                resolve(source, revision, repo_type)
            except ConfigError as exc:
                raise ConfigError(revision_name if exc.field == "revision" else name, exc.message) from None
        if hub:
            check_hub_reachable(source, name, repo_type)  # the Hub clients would retry for minutes
