"""The gym as an environment for TRL's ``GRPOTrainer(environment_factory=...)`` (TRL 1.16; experimental there).

TRL's contract, read from its source (``trl/trainer/grpo_trainer.py``): the factory is called with no argument
and returns an environment; before each rollout TRL calls its ``reset(**row)`` with the training row's columns
and appends the string it returns to the row's last user message; every public method other than ``reset`` and
``get_reward`` is a tool the model may call (its docstring and type hints become the tool's schema); after the
rollout ``get_reward()`` is the environment's reward, beside any ``reward_funcs``. Tools need a chat template
that supports tool calling (an instruct model; not the char-level GPT-2s trained from scratch here).

The environment owns its data as TRL's own environments do: the training rows carry only an empty prompt and a
``gym_index`` (:func:`environment_rows`), ``reset(gym_index=i)`` puts item ``i`` of the gym dataset in the
prompt, the model answers through the ``submit_answer`` tool, and ``get_reward`` scores the first answer with the
gym's :meth:`~generators.gym.dataset.GymDataset.score_answer`, the task scorer ``diveval`` uses. The rows go
through TRL's sampler like any dataset, so the G generations of a group share one item, and processes share
the items as they share rows. Building ``datasets.Dataset.from_dict(environment_rows(gym))`` and the trainer is
the training side's job (torch); nothing here needs it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from core.errors import ConfigError
from generators.gym.dataset import GymDataset

INDEX_COLUMN = "gym_index"
TOOL_HINT = "\n\nGive the output with the submit_answer tool."
RECORDED = "Answer recorded."
ALREADY = "An answer was already recorded; only the first one counts."


class GymEnvironment:
    """One rollout's environment: the item in play and the answer submitted (see the module docstring)."""

    def __init__(self, dataset: GymDataset):
        self._dataset = dataset
        self._entry: dict | None = None
        self._answer: str | None = None

    def reset(self, gym_index: int | None = None, **row: Any) -> str:
        """Start a rollout on item ``gym_index``; returns its question (TRL appends it to the prompt)."""
        if gym_index is None:
            raise ConfigError("dataset", f"an environment row needs a {INDEX_COLUMN!r} column (environment_rows() "
                                         f"makes them); this one has: {', '.join(row) or 'nothing'}")
        self._entry = self._dataset[int(gym_index) % len(self._dataset)]
        self._answer = None
        return self._entry["question"] + TOOL_HINT

    def submit_answer(self, answer: str) -> str:
        """Submit the final answer: the output string, exactly, with nothing around it.

        Args:
            answer: The output string.

        Returns:
            Whether the answer was recorded (only the first answer of a rollout counts).
        """
        if self._answer is not None:
            return ALREADY
        self._answer = answer if isinstance(answer, str) else str(answer)
        return RECORDED

    def get_reward(self) -> float:
        """The reward of the first submitted answer (no answer: as an unreadable one, 0.0 by default)."""
        if self._entry is None:
            raise RuntimeError("get_reward() before reset()")
        return self._dataset.score_answer(self._answer, self._entry)


def environment_factory(dataset: GymDataset) -> Callable[[], GymEnvironment]:
    """TRL's ``environment_factory``: a fresh :class:`GymEnvironment` on ``dataset`` per call (picklable)."""
    return functools.partial(GymEnvironment, dataset)


def environment_rows(dataset: GymDataset) -> dict[str, list]:
    """The training rows for the environment (``datasets.Dataset.from_dict`` of them is TRL's ``train_dataset``):
    an empty conversational prompt and the item's index, one row per item."""
    n = len(dataset)
    return {"prompt": [[{"role": "user", "content": ""}] for _ in range(n)], INDEX_COLUMN: list(range(n))}
