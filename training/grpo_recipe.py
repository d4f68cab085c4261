"""A GRPO recipe, read and checked without TRL's trainer: the recipe half of ``training/grpo.py``.

:func:`parse` reads a recipe as :func:`training.recipe.parse_recipe` does, into TRL's ``GRPOConfig`` (imported
when a recipe is read) with :class:`~training.args.RewardArguments`; :func:`check_fields` refuses what GRPO cannot
train, naming the field. ``training/grpo.py`` trains; a sweep checks its GRPO runs' recipes with this module before
the first run starts, without importing the trainer.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math

from core.errors import ConfigError
from generators import tasks
from generators.curriculum import TASK_DEFAULT
from generators.reward import RewardSettings
from training.args import RewardArguments, ScratchModelArguments
from training.recipe import Recipe, parse_recipe


def parse(argv: list[str] | None = None, given: str = "on the command line") -> Recipe:
    """Read a GRPO recipe (``--config recipe.yaml`` and command-line overrides; ``given``: see
    :func:`training.recipe.parse_recipe`)."""
    # deferred: TRL imports transformers and torch (seconds); a sweep file is read with this module
    from trl import GRPOConfig

    recipe = parse_recipe(argv, given, trainer_config=GRPOConfig, extra=(RewardArguments,))
    t = recipe.training
    if recipe.run.early_stopping_patience is not None and t.metric_for_best_model is None:
        t.metric_for_best_model, t.greater_is_better = "eval_reward", True  # GRPO's held-out figure: the reward
    return recipe


def check_fields(recipe: Recipe, here: bool = True) -> RewardSettings:
    """What GRPO cannot train, refused by field (after :func:`training.recipe.validate`); the reward settings.
    ``here=False`` leaves out what depends on this machine (vLLM and a CUDA GPU)."""
    t, m, a = recipe.training, recipe.model, recipe.extra[0]
    if not m.model_name_or_path:
        raise ConfigError("model_name_or_path", "GRPO starts from a trained model: give an SFT output folder "
                                                "(e.g. runs/tiny-cpu from training/recipes/tiny-cpu.yaml), a "
                                                "local hub name or a Hub id")
    for f in dataclasses.fields(ScratchModelArguments):
        if getattr(recipe.scratch, f.name) != f.default:
            raise ConfigError(f.name, "builds a model from scratch (training/sft.py); GRPO trains the model of "
                                      "model_name_or_path")
    if t.max_completion_length is None or t.max_completion_length < 1:
        raise ConfigError("max_completion_length", f"must be at least 1, got {t.max_completion_length}")
    if not (math.isfinite(t.temperature) and t.temperature > 0):
        raise ConfigError("temperature", f"must be a positive number (GRPO samples), got {t.temperature}")
    if not 0 < t.top_p <= 1:
        raise ConfigError("top_p", f"must be within (0, 1], got {t.top_p}")
    settings = reward_settings(a)
    if a.task is not None:
        tasks.get(a.task)  # an unknown task names the field and the choices
    if curriculum_by(a.curriculum) and t.shuffle_dataset:
        raise ConfigError("curriculum", "needs shuffle_dataset: false (TRL's sampler would shuffle the ordered "
                                        "prompts)")
    if t.use_vllm and here:
        check_vllm()
    return settings


def reward_settings(args: RewardArguments) -> RewardSettings:
    """The recipe's ``reward_*`` fields as :class:`RewardSettings` (an error names the field)."""
    fields = {name: getattr(args, f"reward_{name}") for name in RewardSettings.__dataclass_fields__}
    return RewardSettings.from_mapping(fields, prefix="reward_")


def curriculum_by(value: str | None) -> str | list[str] | None:
    """``curriculum``: None / empty (off), ``task``, or comma-separated column names."""
    if not value or not value.strip():
        return None
    if value.strip() == TASK_DEFAULT:
        return TASK_DEFAULT
    return [c.strip() for c in value.split(",") if c.strip()]


def check_vllm() -> None:
    """vLLM generation needs vLLM and a CUDA GPU; say so by field instead of failing inside TRL."""
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("use_vllm", 'needs vLLM (pip install -e ".[vllm]" on a CUDA machine), which is not '
                                      "installed; use_vllm: false samples with transformers instead")
    # deferred: torch (the [train] extra) only once a model runs
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("use_vllm", "vLLM generation needs a CUDA GPU and this machine has none: use_vllm: false")
