"""Verifiable rewards from the task registry: a completion's reward is the task scorer's verdict, the code
``diveval rewrite`` scores with (:meth:`generators.tasks.Scorer.is_correct`), so training reward and evaluation
cannot disagree.

:func:`completion_reward` of one completion:

- 1.0 when the scorer finds it right (``match``: ``exact`` or ``strip``, as ``diveval rewrite --match``);
- else ``guard_penalty`` when it fails the length/format guard: longer than ``max_length_ratio`` times the
  expected answer (at least one character), or holding a symbol that neither the prompt nor the expected answer
  holds (:meth:`~generators.tasks.Scorer.well_formed`), or not text at all;
- else ``partial_credit`` times the partial credit the task declares (:attr:`~generators.tasks.Scorer.partial`:
  normalized edit similarity for the string tasks), which is below 1 for every wrong answer.

With the defaults (no partial credit, no penalty) the reward is exactly the verdict: 1.0 or 0.0. A reward of 1.0
always means "right", whatever the settings.

:class:`TaskReward` is the same function shaped for TRL's ``GRPOTrainer(reward_funcs=[...])``: TRL calls it with
``prompts``, ``completions``, ``completion_ids`` and, as keyword arguments, every dataset column except
``prompt``, ``completion`` and ``completion_ids`` (plus ``trainer_state`` and logging hooks). The expected answer
therefore comes from the ``answer`` column, else ``output`` (our datasets' ``output`` equals their
``completion``); a dataset with neither is refused by :meth:`TaskReward.check_columns` before training starts.
No torch here: the reward runs in the data layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from generators import tasks
from generators.tasks import MATCH_MODES, Scorer

#: The columns an expected answer is read from, in order of preference.
ANSWER_COLUMNS = ("answer", "output")


@dataclass(frozen=True)
class RewardSettings:
    """How a completion is turned into a reward (see the module docstring). Frozen: shared, never changed."""

    match: str = "exact"
    partial_credit: float = 0.0
    max_length_ratio: float = 2.0
    guard_penalty: float = 0.0

    def validate(self, prefix: str = "") -> RewardSettings:
        """Check every field (ConfigError naming ``prefix`` + the field); returns self."""
        if self.match not in MATCH_MODES:
            raise ConfigError(f"{prefix}match", f"must be one of {', '.join(MATCH_MODES)}, got {self.match!r}")
        for name, lo, hi, what in (
            ("partial_credit", 0.0, 1.0, "within [0, 1): a wrong answer never earns the reward of a right one"),
            ("max_length_ratio", 1.0, math.inf, "at least 1 (a right answer is never guarded)"),
            ("guard_penalty", -math.inf, 0.0, "at most 0 (a guarded completion earns no more than a wrong one)"),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise ConfigError(f"{prefix}{name}", f"must be a number, got {value!r}")
            if name == "partial_credit" and not lo <= value < hi:
                raise ConfigError(f"{prefix}{name}", f"must be {what}, got {value}")
            if name != "partial_credit" and not lo <= value <= hi:
                raise ConfigError(f"{prefix}{name}", f"must be {what}, got {value}")
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | RewardSettings | None, prefix: str = "reward.") -> RewardSettings:
        """Settings from a mapping (a YAML section, a reasoning-gym config's ``reward``), validated; unknown keys
        are errors naming them."""
        if data is None:
            return cls()
        if isinstance(data, RewardSettings):
            return data.validate(prefix)
        if not isinstance(data, Mapping):
            raise ConfigError(prefix.rstrip("."), f"must be a mapping, got {data!r}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{prefix}{unknown[0]}", f"unknown field (known: {', '.join(sorted(known))})")
        return cls(**data).validate(prefix)


DEFAULT_SETTINGS = RewardSettings()


def completion_reward(
    scorer: Scorer, predicted: Any, expected: str, *, prompt: str | None = None,
    settings: RewardSettings = DEFAULT_SETTINGS,
) -> float:
    """The reward of one completion ``predicted`` of a row whose answer is ``expected`` (see the module docstring);
    ``prompt`` feeds the format guard (None: no symbol check)."""
    if not isinstance(expected, str):
        raise ConfigError("dataset", f"an expected answer must be a string, got {expected!r}")
    if not isinstance(predicted, str):
        return float(settings.guard_penalty)
    if scorer.is_correct(predicted, expected, settings.match):
        return 1.0
    if settings.match == "strip":
        predicted, expected = predicted.strip(), expected.strip()
    too_long = len(predicted) > settings.max_length_ratio * max(len(expected), 1)
    if too_long or not scorer.well_formed(predicted, expected, prompt):
        return float(settings.guard_penalty)
    if not settings.partial_credit:
        return 0.0
    return settings.partial_credit * scorer.similarity(predicted, expected)


def message_text(value: Any) -> str | None:
    """The text of a prompt or completion as TRL passes it: a string, or a conversation (a list of messages
    ``{"role", "content"}``, content a string or a list of ``{"type": "text", "text"}`` parts). For a
    completion the last message is the answer; for a prompt every message counts (the format guard's symbols).
    None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) and value and all(isinstance(m, Mapping) for m in value):
        return "".join(_content(m.get("content")) for m in value)
    return None


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


def completion_text(value: Any) -> str | None:
    """The answer text of one completion: the string, or the content of a conversation's last message."""
    if isinstance(value, Sequence) and not isinstance(value, str) and value and isinstance(value[-1], Mapping):
        return _content(value[-1].get("content"))
    return message_text(value)


class TaskReward:
    """A TRL reward function (``GRPOTrainer(reward_funcs=[TaskReward("rewrite")])``) computing
    :func:`completion_reward` for every completion of a batch.

    ``task``: the dataset's task family (``datagen.json``'s ``task``), or ``scorer``: a scorer itself; with
    neither, the scorer of the task whose columns the batch holds (:func:`generators.tasks.scorer_for`, as
    ``diveval rewrite`` finds it). Picklable (a module-level class), named ``task_reward`` in TRL's logs.
    """

    __name__ = "task_reward"

    def __init__(self, task: str | None = None, settings: RewardSettings | None = None, *, scorer: Scorer | None = None):
        if task is not None and scorer is not None:
            raise ValueError("give task or scorer, not both")
        self.scorer = tasks.get(task).scorer if task is not None else scorer
        self.settings = (settings or RewardSettings()).validate("reward.")

    @staticmethod
    def check_columns(columns: Iterable[str]) -> str:
        """The column the expected answers come from; a ConfigError naming the dataset when there is none."""
        have = set(columns)
        for name in ANSWER_COLUMNS:
            if name in have:
                return name
        raise ConfigError(
            "dataset",
            f"a reward needs the expected answer in an {' or '.join(repr(c) for c in ANSWER_COLUMNS)} column (TRL "
            f"does not pass 'completion' to reward functions); the dataset has: {', '.join(sorted(have))}",
        )

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 **columns: Any) -> list[float]:
        expected = columns[self.check_columns(columns)]
        scorer = self.scorer or tasks.scorer_for(None, columns)
        if not len(prompts) == len(completions) == len(expected):
            raise ValueError(f"{len(prompts)} prompts, {len(completions)} completions and {len(expected)} answers")
        return [
            completion_reward(scorer, completion_text(c), e, prompt=message_text(p), settings=self.settings)
            for p, c, e in zip(prompts, completions, expected)
        ]
