"""An optional curriculum: a split's rows in order of difficulty, easiest first. Off by default.

Difficulty is read from the rows' own columns: rule length (``pattern_len``), the number of rules of a Markov
algorithm (``n_rules``) and the rule applications a row needed (``steps``). Each task declares its default
(:attr:`generators.tasks.Scorer.difficulty`); any integer or boolean column may be named instead. The order
(:func:`curriculum_order`) sorts by those columns, ascending, in the order given, and keeps the rows' own order
among equals (a stable sort). Row order within a split is already keyed-random (see :mod:`generators.plan`), so
equally hard rows stay mixed. It is a pure function of the rows: the same rows give the same order on any machine.

Nothing is generated differently: a curriculum reorders rows that exist, so with it off the datasets, their
fingerprints and the gym's items are exactly what they were, and with it on the same rows (the same rules, the
same train / unseen-test split) come in another order. Where it is used:

- the gym (:mod:`generators.gym`): ``curriculum`` orders its items, ``difficulty_share`` keeps the easiest share
  (a reasoning-gym curriculum class raises it level by level);
- training (for the training entry points): ``train.select(curriculum_order(train.select_columns(by)
  .to_dict(), by))`` and sequential batches (TRL ``GRPOConfig(shuffle_dataset=False)``; transformers
  ``TrainingArguments(train_sampling_strategy="sequential")`` for ``SFTTrainer``), else the sampler reshuffles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

import numpy as np

from core.errors import ConfigError
from generators import tasks

#: ``curriculum: task`` names the task's declared difficulty columns.
TASK_DEFAULT = "task"


def curriculum_columns(by: str | Sequence[str] | None, task: str | None, columns: Iterable[str],
                       field: str = "curriculum") -> tuple[str, ...]:
    """The columns a curriculum orders by: none (off) for None or an empty list; the task's declared ones for
    ``"task"``; else the columns named, each checked to exist (ConfigError naming ``field`` otherwise)."""
    have = list(columns)
    if by is None or (not isinstance(by, str) and len(by) == 0):
        return ()
    if by == TASK_DEFAULT or (not isinstance(by, str) and list(by) == [TASK_DEFAULT]):
        scorer = tasks.get(task).scorer if task in tasks.names() else tasks.scorer_for(None, have)
        if not scorer.difficulty:
            raise ConfigError(field, f"task {task!r} declares no difficulty columns: name the columns to order by")
        return scorer.difficulty
    names = [by] if isinstance(by, str) else list(by)
    for name in names:
        if not isinstance(name, str) or name not in have:
            raise ConfigError(field, f"no column {name!r} to order by (the rows have: {', '.join(have)}; "
                                     f"or {TASK_DEFAULT!r} for the task's own difficulty columns)")
    if len(set(names)) != len(names):
        raise ConfigError(field, f"names a column twice: {names}")
    return tuple(names)


def curriculum_order(values: Mapping[str, Sequence], by: Sequence[str]) -> np.ndarray:
    """Row indices, easiest first: sorted by ``values[by[0]]``, then ``values[by[1]]``, ..., ascending; equal
    rows keep their order. ``values`` maps each column to its values (integers or booleans), one per row."""
    if not by:
        raise ValueError("a curriculum orders by at least one column")
    keys = []
    for name in by:
        col = np.asarray(values[name])
        if col.dtype.kind not in "biu":
            raise ConfigError("curriculum", f"column {name!r} holds {col.dtype} values, not integers or booleans")
        keys.append(col)
    n = keys[0].size
    if any(k.size != n for k in keys):
        raise ValueError("the curriculum's columns differ in length")
    return np.lexsort((np.arange(n), *reversed(keys))).astype(np.int64)


def easiest(order: np.ndarray, share: float) -> np.ndarray:
    """The first ``ceil(share * n)`` rows of ``order`` (at least one): the easiest share."""
    if not 0.0 < share <= 1.0 or math.isnan(share):
        raise ConfigError("difficulty_share", f"must be within (0, 1], got {share}")
    # the share as written (0.07 x 100 rows is 7 rows; in floating point 7.000000000000001, so 8)
    return order[: max(1, math.ceil(Fraction(repr(float(share))) * order.size))]
