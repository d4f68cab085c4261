"""Our generators as a reasoning-gym-style procedural dataset: ``{question, answer, metadata}`` items by index.

Item ``i`` of a :class:`GymDataset` is row ``i`` of one split of the dataset its generator config describes:
the very row ``datagen generate`` writes (made by the task's block builder, a pure function of config, seed and
row index), so items are deterministic, addressable in any order, and the diversity dial (I, S, the frequency
distribution, semantic sub-spaces, no-op share) applies as to any dataset. ``split`` picks the rows: ``train``
(the I training rules), ``test_unseen`` (rules drawn before and apart from every training rule), ``test_seen``
or ``validation``. Two gyms of one config and seed that differ only in split and size never share a rule
between ``train`` and ``test_unseen`` (the unseen rules are drawn first, from the seed alone), so RL on training
rules and evaluation on unseen rules stay disjoint.

``size`` sets the number of rows of the split (the train split's budget N = I x S, keeping I and the
distribution; a test split's ``examples``); without it, the config's own. An item:

- ``question``: the row's ``prompt`` (the config's ``prompt_template``), after the task's description when
  ``describe_task`` is on (for instruction-following models; the terse prompt suits models trained on it);
- ``answer``: the row's ``output`` (its ``completion``);
- ``metadata``: ``source_dataset``, ``source_index`` (reasoning-gym's names), ``split``, ``row``, ``task``, the
  row's ``instruction_id``, ``instruction``, ``input``, ``is_noop`` and the task's own columns, and
  ``difficulty`` (the task's difficulty columns).

:meth:`GymDataset.score_answer` is the task scorer's reward (:func:`generators.reward.completion_reward`): 1.0
for a right answer as ``diveval rewrite`` decides it, else 0.0 with the default ``reward`` settings.

Rows are made a block (8,192 rows) at a time; the last ``cache_blocks`` blocks are kept, so reading in order
costs one block per 8,192 items. Reading a large split in random order rebuilds blocks: materialize it first
(``list(dataset)``, or generate the parquet dataset with ``datagen generate``).
"""

from __future__ import annotations

import copy
import operator
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.config import apply_overrides, read_yaml_config
from core.errors import ConfigError
from generators import tasks
from generators.build import block_batch
from generators.cli import resolve_config_path
from generators.config import GeneratorConfig, config_from_dict
from generators.curriculum import TASK_DEFAULT, curriculum_columns, curriculum_order, easiest
from generators.plan import SPLITS, make_plan
from generators.real.mixture_config import MIXTURE_TASK
from generators.real.pool_config import POOL_TASK
from generators.reward import RewardSettings, completion_reward
from generators.rng import BLOCK

DATASET_NAME = "instruction_diversity"
COMMON = ("instruction_id", "instruction", "input", "is_noop")
CURRICULUM_ROW_LIMIT = 10_000_000
META_KEYS = ("source_dataset", "source_index", "split", "row", "task")  # then COMMON and the task's columns


@dataclass
class GymConfig:
    """A gym dataset: which generator config (``preset``: a shipped preset's name or a YAML file, with
    ``overrides`` as ``datagen generate --set`` takes them; or ``generator``: the config as a mapping), which
    ``split``, ``seed`` (None: the config's) and ``size`` (None: the config's), and how items are ordered
    (``curriculum``, ``difficulty_share``: :mod:`generators.curriculum`), phrased (``describe_task``) and scored
    (``reward``: :class:`generators.reward.RewardSettings` or a mapping of its fields). A dataclass, as
    reasoning-gym's registry requires; :meth:`validate` raises a ConfigError naming the field."""

    preset: str = "tiny"
    overrides: list[str] = field(default_factory=list)
    generator: dict | None = None
    split: str = "train"
    seed: int | None = None
    size: int | None = None
    curriculum: list[str] | str | None = None
    difficulty_share: float = 1.0
    describe_task: bool = False
    reward: Any = None
    cache_blocks: int = 8

    def validate(self) -> None:
        if self.generator is None and (not isinstance(self.preset, (str, Path)) or not str(self.preset)):
            raise ConfigError("preset", f"must name a preset or a config file, got {self.preset!r}")
        if self.generator is not None and not isinstance(self.generator, Mapping):
            raise ConfigError("generator", f"must be a mapping (a generator config), got {type(self.generator).__name__}")
        if isinstance(self.overrides, str) or not all(isinstance(o, str) for o in self.overrides):
            raise ConfigError("overrides", f"must be a list of KEY=VALUE strings, got {self.overrides!r}")
        if self.split not in SPLITS:
            raise ConfigError("split", f"must be one of {', '.join(SPLITS)}, got {self.split!r}")
        for name, least in (("seed", 0), ("size", 1), ("cache_blocks", 1)):
            value = getattr(self, name)
            if value is None and name != "cache_blocks":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ConfigError(name, f"must be an integer >= {least}, got {value!r}")
        by = self.curriculum
        if not (by is None or isinstance(by, str) or (isinstance(by, (list, tuple)) and all(isinstance(c, str) for c in by))):
            raise ConfigError("curriculum", f"must be 'task' or a list of column names, got {by!r}")
        if isinstance(self.difficulty_share, bool) or not isinstance(self.difficulty_share, (int, float)):
            raise ConfigError("difficulty_share", f"must be a number within (0, 1], got {self.difficulty_share!r}")
        easiest(np.zeros(1, np.int64), self.difficulty_share)  # the range check
        if not isinstance(self.describe_task, bool):
            raise ConfigError("describe_task", f"must be true or false, got {self.describe_task!r}")
        RewardSettings.from_mapping(self.reward)

    def generator_config(self) -> GeneratorConfig:
        """The generator config of the rows: the preset or mapping, the overrides, then ``seed`` and ``size``."""
        if self.generator is not None:
            data = apply_overrides(copy.deepcopy(dict(self.generator)), list(self.overrides))
        else:
            data = read_yaml_config(resolve_config_path(str(self.preset)), list(self.overrides))
        if data.get("task") in (MIXTURE_TASK, POOL_TASK):
            kind = "an instruction mixture" if data["task"] == MIXTURE_TASK else "an instruction pool"
            raise ConfigError("preset", f"is {kind} (real data with no verifier): the gym serves the synthetic task "
                                        f"families ({', '.join(tasks.names())})")
        if self.seed is not None:
            data["seed"] = int(self.seed)
        if self.size is not None:
            set_split_rows(data, self.split, int(self.size))
        return config_from_dict(data)


def set_split_rows(data: dict, split: str, rows: int) -> None:
    """Give ``split`` of the config mapping ``data`` ``rows`` rows (train: the budget, keeping I)."""
    if split == "train":
        instructions = data.get("instructions", GeneratorConfig.model_fields["instructions"].default)
        uniform = (data.get("distribution") or {}).get("kind", "uniform") == "uniform"
        if uniform and isinstance(instructions, int) and rows < instructions:
            raise ConfigError("size", f"{rows} training rows cannot cover {instructions} instructions at least once each")
        data["budget"] = rows
        data["examples_per_instruction"] = None
        return
    splits = data.setdefault("splits", {})
    if not isinstance(splits, dict):
        raise ConfigError("splits", f"must be a mapping, got {splits!r}")
    section = splits.setdefault(split, {})
    if not isinstance(section, dict):
        raise ConfigError(f"splits.{split}", f"must be a mapping, got {section!r}")
    section["examples"] = rows


class GymDataset:
    """Items ``{question, answer, metadata}`` of one split of a generated dataset (see the module docstring).
    ``len()`` items, indexable (``dataset[i]``, negative indices too) and iterable; :meth:`score_answer` scores."""

    def __init__(self, config: GymConfig | None = None):
        config = config if config is not None else GymConfig()
        config.validate()
        self.config = config
        self.generator_config = config.generator_config()
        self.reward = RewardSettings.from_mapping(config.reward)
        self.plan = make_plan(self.generator_config)
        if config.split not in self.plan.splits:
            raise ConfigError("split", f"{config.split!r} has no rows in this config (give it examples, or a size)")
        self.split = self.plan.splits[config.split]
        self.task = tasks.get(self.generator_config.task)
        self.scorer = self.task.scorer
        self.seed = self.generator_config.seed
        self.size = self.split.rows
        self.name = DATASET_NAME
        self._columns = (*COMMON, *self.task.flags)  # metadata columns, in a row tuple after prompt and output
        self._blocks: OrderedDict[int, list[tuple]] = OrderedDict()
        by = config.curriculum
        if not by and config.difficulty_share < 1.0:  # a share of the easiest rows needs an order: the task's
            by = TASK_DEFAULT
        self.curriculum = curriculum_columns(by, self.task.name, self.task.flags)
        self._rows = self._order() if self.curriculum else None

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self.size):
            yield self[i]

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if isinstance(idx, bool):
            raise TypeError("items are addressed by an integer index, got bool")
        try:
            i = operator.index(idx)
        except TypeError:
            raise TypeError(f"items are addressed by an integer index, got {type(idx).__name__}") from None
        if i < 0:
            i += self.size
        if not 0 <= i < self.size:
            raise IndexError(f"item {idx} of a {self.size}-item dataset")
        row = i if self._rows is None else int(self._rows[i % self._rows.size])
        block, at = divmod(row, BLOCK)
        values = self._block(block)[at]
        meta = dict(zip(META_KEYS + self._columns, (self.name, i, self.split.name, row, self.task.name, *values[2:])))
        meta["difficulty"] = {name: meta[name] for name in self.scorer.difficulty}
        question = values[0] if not self.config.describe_task else f"{self.task.card_text}\n\n{values[0]}"
        return {"question": question, "answer": values[1], "metadata": meta}

    def score_answer(self, answer: str | None, entry: Mapping[str, Any]) -> float:
        """The reward of ``answer`` for ``entry`` (one of this dataset's items): the task scorer's verdict, the one
        ``diveval rewrite`` gives (1.0 right; otherwise 0.0, or partial credit / the guard's penalty as the
        ``reward`` settings say)."""
        return completion_reward(self.scorer, answer, entry["answer"], prompt=entry.get("question"),
                                 settings=self.reward)

    # ---- rows ------------------------------------------------------------------------------------------------

    def _block(self, block: int) -> list[tuple]:
        """One block's rows as tuples (prompt, output, then :attr:`_columns`); the last ``cache_blocks`` are kept."""
        if block in self._blocks:
            self._blocks.move_to_end(block)
            return self._blocks[block]
        batch = block_batch(self.plan, self.split, block)
        rows = list(zip(*(batch.column(name).to_pylist() for name in ("prompt", "output", *self._columns))))
        self._blocks[block] = rows
        while len(self._blocks) > self.config.cache_blocks:
            self._blocks.popitem(last=False)
        return rows

    def _order(self) -> np.ndarray:
        """The rows in curriculum order (every block is made once to read its difficulty columns)."""
        if self.size > CURRICULUM_ROW_LIMIT:
            raise ConfigError("curriculum", f"orders every row in memory: at most {CURRICULUM_ROW_LIMIT:,} rows, "
                                            f"this split has {self.size:,}")
        values: dict[str, list[np.ndarray]] = {name: [] for name in self.curriculum}
        for b in range(self.split.blocks):
            batch = block_batch(self.plan, self.split, b)
            for name in self.curriculum:
                values[name].append(batch.column(name).to_numpy(zero_copy_only=False))
        order = curriculum_order({k: np.concatenate(v) for k, v in values.items()}, self.curriculum)
        return easiest(order, self.config.difficulty_share)


def create_dataset(config_or_preset: str | Path | Mapping | GeneratorConfig | GymConfig = "tiny", *,
                   seed: int | None = None, size: int | None = None, split: str = "train",
                   **options: Any) -> GymDataset:
    """A gym dataset (reasoning-gym's ``create_dataset`` shape): ``config_or_preset`` is a preset name, a YAML
    file, a generator config (mapping or :class:`~generators.config.GeneratorConfig`), or a whole
    :class:`GymConfig`; ``seed`` (None: the config's), ``size`` (None: the config's rows of the split) and
    ``split`` as in :class:`GymConfig`, whose other fields (``overrides``, ``curriculum``, ``reward``, ...) go in
    ``options``."""
    if isinstance(config_or_preset, GymConfig):
        if options or seed is not None or size is not None or split != "train":
            raise ConfigError(None, "give a GymConfig alone, or a preset / config with keyword options")
        return GymDataset(config_or_preset)
    if isinstance(config_or_preset, GeneratorConfig):
        config_or_preset = config_or_preset.to_dict()
    if isinstance(config_or_preset, Mapping):
        options["generator"] = dict(config_or_preset)
    else:
        options["preset"] = config_or_preset
    unknown = sorted(set(options) - set(GymConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(unknown[0], f"unknown option (known: {', '.join(sorted(GymConfig.__dataclass_fields__))})")
    return GymDataset(GymConfig(seed=seed, size=size, split=split, **options))
