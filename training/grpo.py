"""Reinforcement learning with verifiable rewards from a recipe: the GRPO entry point for ``accelerate launch``.

    accelerate launch --config_file training/accelerate/<hw>.yaml training/grpo.py --config training/recipes/<x>.yaml
    accelerate launch --config_file training/accelerate/<hw>.yaml -m training.grpo --config ...   # the same
    python training/grpo.py --config training/recipes/tiny-grpo-cpu.yaml --max_steps 4      # any field on the CLI

The recipe is read as ``training/sft.py`` reads its recipes (:func:`training.recipe.parse_recipe`: one YAML mapping,
unknown keys are errors, any field on the command line), into TRL's ``GRPOConfig`` and ``ModelConfig``, the data
and publishing fields of :mod:`training.args` and :class:`~training.args.RewardArguments`. Everything else is
``training/sft.py``'s :func:`~training.sft.train` too (data, model loading, LoRA, precision, resuming, card,
publishing); this module says what differs (:class:`GRPO`):

- GRPO starts from a trained model (``model_name_or_path``: an SFT output folder such as ``runs/tiny-cpu``, a
  local hub name or a Hub id): a model that never answers right would earn no reward to learn from;
- the data is the split's ``prompt`` and its expected answer (``answer``, else ``output``); each prompt is answered
  ``num_generations`` times by the model, and each completion's reward is the task scorer's verdict
  (:class:`generators.reward.TaskReward`, the very check ``diveval rewrite`` scores with), shaped by the
  ``reward_*`` fields;
- ``curriculum`` orders the prompts easiest first (with ``shuffle_dataset: false``);
- ``use_vllm`` generates with vLLM where it is installed (a CUDA machine; ``pip install -e ".[vllm]"``); off by
  default, completions are sampled with ``model.generate``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_here, _root = Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a file (``accelerate launch training/grpo.py``): the repository's root,
    # not this file's folder, goes first on sys.path (see training/sft.py)
    if sys.path and Path(sys.path[0] or ".").resolve() == _here:
        sys.path[0] = str(_root)
    else:
        sys.path.insert(0, str(_root))
elif __name__ == "__main__" and sys.path and not getattr(sys.flags, "safe_path", False) \
        and Path(sys.path[0] or ".").resolve() == Path.cwd().resolve() != _root:
    del sys.path[0]  # ``python -m training.grpo`` put the working directory first (see training/sft.py)

from training.quiet import quiet_dependency_notices

quiet_dependency_notices()  # before bitsandbytes is imported (by transformers, trl, peft)

import dataclasses

from trl import GRPOConfig, GRPOTrainer

from core.errors import ConfigError
from generators import tasks
from generators.curriculum import curriculum_columns, curriculum_order
from generators.reward import RewardSettings, TaskReward, message_text
from training.args import RewardArguments
from training.grpo_recipe import check_fields, curriculum_by, parse
from training.model import context_length
from training.recipe import Recipe
from training.sft import Objective, _logged, _model_name, run_command, train
from training.tokenizer import unencodable_characters


class GRPO(Objective):
    """GRPO with the task scorer's reward (see the module docstring); :func:`training.sft.train` runs it."""

    name = "grpo"
    trainer_class = GRPOTrainer

    def __init__(self, recipe: Recipe):
        self.args: RewardArguments = recipe.extra[0]
        self.training: GRPOConfig = recipe.training
        self.settings = RewardSettings()
        self.reward: TaskReward | None = None
        self.curriculum: tuple[str, ...] = ()

    def validate(self, recipe: Recipe, here: bool = True) -> None:
        self.settings = check_fields(recipe, here)
        t = recipe.training
        if str(getattr(t.eval_strategy, "value", t.eval_strategy)) == "no":
            recipe.data.eval_split = None  # a held-out split is only used by evaluations: none are asked for

    def columns(self, have: list[str]) -> tuple[str, ...]:
        """A split's prompt, expected answer and (with a curriculum) difficulty columns."""
        if "prompt" not in have:
            raise ConfigError("dataset", f"GRPO needs a 'prompt' column; the dataset has: {', '.join(have)}")
        answer = TaskReward.check_columns(have)
        self.curriculum = curriculum_columns(curriculum_by(self.args.curriculum), self.args.task, have)
        return tuple(dict.fromkeys(("prompt", answer, *self.curriculum)))

    def prepare(self, recipe: Recipe, data, model, tokenizer) -> None:
        """The reward (the dataset's task scorer), the curriculum order, and checks that every prompt and answer
        can be written by the tokenizer and fits the model."""
        task = self.args.task
        if task is not None and data.meta.get("task") not in (None, task):
            raise ConfigError("task", f"{task!r} differs from the dataset's own task {data.meta['task']!r}")
        scorer = tasks.scorer_for(task or data.meta.get("task"), data.train.column_names)
        self.reward = TaskReward(scorer=scorer, settings=self.settings)
        if self.curriculum:
            values = data.train.select_columns(list(self.curriculum)).to_dict()
            data.train = data.train.select(curriculum_order(values, self.curriculum))
        check_fits(recipe.training, data, model, tokenizer)

    def trainer_arguments(self) -> dict:
        return {"reward_funcs": [self.reward]}

    def figures(self, trainer) -> dict:
        key = f"rewards/{self.reward.__name__}/mean"  # TRL logs each reward function's mean reward so
        return {"first_reward": _logged(trainer, key, first=True), "final_reward": _logged(trainer, key),
                "eval_reward": _logged(trainer, f"eval_{key}"),
                "num_tokens": _logged(trainer, "num_tokens"),  # prompt and completion tokens, cumulative
                "rewards": [h[key] for h in trainer.state.log_history if key in h]}  # each logged step's mean

    def record(self, record, summary: dict):
        s = self.settings
        reward = f"1 when the task's scorer finds the completion right ({s.match} match), else 0"
        if s.partial_credit:
            reward += f"; a wrong one earns {s.partial_credit} x the task's similarity"
        reward += (f"; longer than {s.max_length_ratio} x the answer, or holding a symbol neither prompt nor answer "
                   f"holds: {s.guard_penalty}")
        method = f"GRPO ({self.generation_line()}); {record.method}"
        return dataclasses.replace(record, objective=self.name, method=method, reward=reward,
                                   mean_reward=(summary["first_reward"], summary["final_reward"]),
                                   tags=[*record.tags, "grpo"])

    def generation_line(self) -> str:
        t = self.training
        return (f"{t.num_generations} completions per prompt, up to {t.max_completion_length} tokens, temperature "
                f"{t.temperature}, beta {t.beta}, {t.loss_type} loss"
                + (", generated with vLLM" if t.use_vllm else ""))

    def summary_line(self, recipe: Recipe, summary: dict, seconds: float) -> str:
        def fmt(x):
            return "n/a" if x is None else f"{x:.3f}"

        where = f", published {summary['published']}" if summary["published"] else ""
        return (f"trained {_model_name(recipe)} with GRPO: {summary['global_step']} steps in {seconds:.1f} s, mean "
                f"reward {fmt(summary['first_reward'])} -> {fmt(summary['final_reward'])}; saved to "
                f"{recipe.training.output_dir}{where}")


def check_fits(t: GRPOConfig, data, model, tokenizer) -> None:
    """Every prompt and answer can be written by the tokenizer, every answer (+ EOS) fits ``max_completion_length``
    (else a right answer could never be sampled), and the longest prompt plus a completion fits the model."""
    splits = [data.train] + ([data.eval] if data.eval is not None else [])
    answer = TaskReward.check_columns(data.train.column_names)
    prompts = [p for ds in splits for p in ds["prompt"]]
    answers = [a for ds in splits for a in ds[answer]]
    conversational = not all(isinstance(p, str) for p in prompts)  # TRL applies the chat template to those
    bad = unencodable_characters(tokenizer, [message_text(p) or "" for p in prompts] + answers)
    if bad:
        shown = ", ".join(repr(c) for c in bad[:20]) + (f" and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise ConfigError("model_name_or_path", f"its tokenizer cannot write {len(bad)} character(s) of the dataset "
                                                f"({shown}): was it trained on data with another alphabet?")
    longest_answer = max(len(ids) for ids in tokenizer(answers, add_special_tokens=False)["input_ids"]) + 1
    if longest_answer > t.max_completion_length:
        raise ConfigError("max_completion_length", f"the longest answer is {longest_answer} tokens with its EOS but "
                                                   f"completions stop at {t.max_completion_length}: raise it")
    limit = context_length(model)
    if limit is None or conversational:
        return
    longest_prompt = max(len(ids) for ids in tokenizer(prompts)["input_ids"])  # as TRL tokenizes them
    if longest_prompt + t.max_completion_length > limit:
        raise ConfigError("max_completion_length", f"prompts of up to {longest_prompt} tokens plus "
                                                   f"{t.max_completion_length} completion tokens exceed the model's "
                                                   f"context of {limit} tokens: lower it")


def main(argv: list[str] | None = None) -> dict:
    """Parse the recipe and train with GRPO (a user error raises :class:`ConfigError`)."""
    recipe = parse(argv)
    return train(recipe, GRPO(recipe))


if __name__ == "__main__":  # the command: a user error is one line and exit status 2 (as training/sft.py's)
    sys.exit(run_command(main=main))
