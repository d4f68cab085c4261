"""The task registry: each task family is one module that registers, in one place, all the rest of the code asks
of it (after reasoning-gym's one-module-per-task model, with errors instead of asserts).

A :class:`Task` gives:

- ``sections``: the keys of its config sections (a typed model each, registered with :func:`register_section`;
  rewrite has none beyond the shared fields) and ``validate(cfg)``, its checks of the shared fields it relies on
  (inputs long enough for the planted pattern, ...) and of its sections, each naming the field;
- its instruction pool: ``draw_pools(cfg, train_space, test_space, n_test, behaviour) -> (test, train, exclusion)``
  (drawn test-first; training pools avoid the test pool's single rules; ``behaviour`` is the generator version's,
  :class:`generators.version.Behaviour`) and ``pool_texts(pool)`` (the plain instruction text of each entry); a
  pool has ``take``, ``rule_keys`` (its single rules, for the disjointness check), ``patterns``,
  ``pattern_matrix`` and ``replacements`` (the replacement of each single rule, in order);
- ``make_block(plan, split, block, attempt=0)``: one block of rows as a ``pyarrow.RecordBatch`` of ``schema``
  (:data:`generators.blocks.COMMON_FIELDS` and its flags), made in plain text (the cipher is applied around it);
- ``sizes(cfg)``: what its rows cost, for the estimates of :mod:`generators.limits`;
- ``card_text``: the description of the task in the dataset card;
- ``scorer``: how an answer is checked and what accuracy is broken down by (:class:`Scorer`): ``diveval
  rewrite``, the lm-eval tasks, the RL reward (:mod:`generators.reward`) and the gym (:mod:`generators.gym`) all
  call its :meth:`Scorer.is_correct`, so evaluation and training never hard-code a family's columns or disagree
  on what a right answer is.
- optionally ``card_knobs(config) -> str``, the card's sentence on the task's settings, for a task the shared
  string-space sentence (input lengths, pattern lengths, alphabet) does not describe, and
  ``instruction_space(cfg) -> dict``, the ``instruction_space`` entry of ``datagen.json`` (default: the string
  rule space of ``space``).

:mod:`generators.tasks` imports every task module, so the registry is full once it is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from rapidfuzz.distance import Levenshtein

from core.errors import ConfigError
from generators.blocks import COMMON_FIELDS

RECORDED = ("always", "when_used")


@dataclass(frozen=True)
class Section:
    """A config section a task owns: its key in the generator config and its model.

    ``recorded``: ``always``, every config records it (``datagen.json``, the card), as generator 2.0 did for
    ``markov:``; ``when_used``, only the configs of a task that uses it (a section added later leaves the
    recorded configs of other tasks unchanged). Any config may still give it (it is validated, then unused)."""

    key: str
    model: type
    recorded: str = "when_used"


MATCH_MODES = ("exact", "strip")


def _no_credit(predicted: str, expected: str) -> float:
    return 0.0


#: The partial-credit measures a task may declare (:attr:`Scorer.partial`), each in [0, 1]: ``edit_similarity``
#: is 1 - Levenshtein distance / the longer length (1.0 for two empty strings), rapidfuzz's normalized similarity.
PARTIAL_CREDIT: dict[str, Callable[[str, str], float]] = {
    "none": _no_credit,
    "edit_similarity": Levenshtein.normalized_similarity,
}


@dataclass(frozen=True)
class Scorer:
    """How a task's answers are checked, and what its accuracy is broken down by.

    - :meth:`equivalent` is the answer check (default: identical strings; a prediction that merely starts with
      the answer is wrong). A family whose answers have several right spellings (say, algebraic expressions)
      subclasses :class:`Scorer` and overrides it; :meth:`is_correct` (the check ``diveval rewrite``, the lm-eval
      tasks, the RL reward and the gym call) applies the match mode, then :meth:`equivalent`.
    - ``partial``: the partial credit the task declares for a wrong answer (a key of :data:`PARTIAL_CREDIT`); the
      reward's settings (:class:`generators.reward.RewardSettings`) choose whether and how much it counts.
    - :meth:`well_formed`: the format guard of the reward: a wrong answer holding a symbol that neither the
      prompt nor the expected answer holds earns no partial credit.
    - ``rule_length`` and ``breakdowns``: the columns ``diveval rewrite`` breaks accuracy down by (the results'
      ``by_rule_length`` and ``breakdowns``); ``difficulty``: the columns a curriculum orders rows by, easiest
      first (:mod:`generators.curriculum`).
    """

    rule_length: str | None = None
    breakdowns: tuple[str, ...] = ()
    difficulty: tuple[str, ...] = ()
    partial: str = "none"

    def __post_init__(self) -> None:
        if self.partial not in PARTIAL_CREDIT:
            raise ValueError(f"partial must be one of {', '.join(PARTIAL_CREDIT)}, got {self.partial!r}")

    def equivalent(self, predicted: str, expected: str) -> bool:
        """Whether ``predicted`` is a right answer when ``expected`` is (the hook a task family overrides)."""
        return predicted == expected

    def is_correct(self, predicted: str, expected: str, match: str = "exact") -> bool:
        """The verdict on one answer: ``match`` ``exact`` compares as given, ``strip`` once surrounding whitespace
        is removed from both; then :meth:`equivalent`."""
        if match == "strip":
            return self.equivalent(predicted.strip(), expected.strip())
        if match != "exact":
            raise ValueError(f"match must be one of {', '.join(MATCH_MODES)}, got {match!r}")
        return self.equivalent(predicted, expected)

    def similarity(self, predicted: str, expected: str) -> float:
        """The partial credit of a wrong answer, in [0, 1] (the measure ``partial`` names; 0.0 for ``none``)."""
        return float(PARTIAL_CREDIT[self.partial](predicted, expected))

    def well_formed(self, predicted: str, expected: str, prompt: str | None) -> bool:
        """The format guard: every symbol of ``predicted`` occurs in the prompt or the expected answer (a rewrite
        only moves symbols it was shown). Without a prompt, no check."""
        if prompt is None:
            return True
        return set(predicted) <= set(prompt) | set(expected)


@dataclass(frozen=True)
class TaskSizes:
    """What one instruction and one row of a task cost (for :mod:`generators.limits`): distinct rules drawn per
    instruction, characters of an output at most (and the field that sets them, when one does), and the text
    columns that repeat the input (input, prompt, and for rewriting output and completion)."""

    rules_per_instruction: int
    out_chars: int
    out_field: str | None
    input_columns: int


@dataclass(frozen=True)
class Task:
    name: str
    card_text: str
    schema: pa.Schema
    sections: tuple[str, ...]
    validate: Callable[[Any], None]
    draw_pools: Callable[..., tuple]
    pool_texts: Callable[[Any], list[str]]
    make_block: Callable[..., pa.RecordBatch]
    sizes: Callable[[Any], TaskSizes]
    scorer: Scorer
    plants_occurrences: bool = False  # op inputs hold x as many times as the split's ``occurrences`` say (rewrite)
    card_knobs: Callable[[dict], str] | None = None
    instruction_space: Callable[[Any], dict] | None = None

    @property
    def flags(self) -> list[str]:
        """The task's own columns (after the common ones)."""
        return [f.name for f in self.schema][len(COMMON_FIELDS):]


_TASKS: dict[str, Task] = {}
_SECTIONS: dict[str, Section] = {}


def register_section(key: str, model: type, recorded: str = "when_used") -> Section:
    """Register a config section (once per key)."""
    if key in _SECTIONS:
        raise ValueError(f"config section {key!r} is registered twice")
    if recorded not in RECORDED:
        raise ValueError(f"recorded must be one of {RECORDED}, got {recorded!r}")
    _SECTIONS[key] = Section(key, model, recorded)
    return _SECTIONS[key]


def register(task: Task) -> Task:
    """Register a task family (once per name); its sections must be registered first."""
    if task.name in _TASKS:
        raise ValueError(f"task {task.name!r} is registered twice")
    missing = [s for s in task.sections if s not in _SECTIONS]
    if missing:
        raise ValueError(f"task {task.name!r} uses the unregistered config section {missing[0]!r}")
    _TASKS[task.name] = task
    return task


def names() -> tuple[str, ...]:
    """The registered task names, in registration order."""
    return tuple(_TASKS)


def get(name: str) -> Task:
    """The task called ``name``; a ConfigError naming the ``task`` field (and the choices) otherwise."""
    try:
        return _TASKS[name]
    except (KeyError, TypeError):
        raise ConfigError("task", f"unknown task {name!r} (choose from {', '.join(_TASKS)})") from None


def sections() -> dict[str, Section]:
    """Every registered config section, in registration order."""
    return dict(_SECTIONS)


def card_texts(meta: dict) -> dict[str, str | None]:
    """What a dataset card says of the task of ``meta`` (``datagen.json``): ``task_text`` and ``task_knobs``
    (keyword arguments of :func:`cards.dataset_card.render_dataset_card`)."""
    task = get(meta["task"])
    return {"task_text": task.card_text, "task_knobs": task.card_knobs(meta["config"]) if task.card_knobs else None}


def scorer_for(task: str | None, columns: Iterable[str]) -> Scorer:
    """The scorer of a dataset: its task's (``datagen.json`` names it), else that of the task whose rule-length
    column the dataset holds and the most of whose own columns it holds (ties: the task with fewer), else a scorer
    with no breakdown (data made by other tools)."""
    if task in _TASKS:
        return _TASKS[task].scorer
    have = set(columns)
    candidates = [t for t in _TASKS.values() if t.scorer.rule_length in have]
    if not candidates:
        return Scorer()
    return max(candidates, key=lambda t: (len(set(t.flags) & have), -len(t.flags))).scorer
