"""Generator configuration: typed models loaded from YAML by :mod:`core.config`, every field validated with a
message naming it.

A config file is a YAML mapping whose keys are the fields of :data:`GeneratorConfig`: the shared fields
(:mod:`generators.fields`), the cipher (:mod:`generators.cipher`) and one section per registered task section
(``markov:``; :mod:`generators.tasks`). Unknown keys are errors, so a typo never silently falls back to a
default. Command-line overrides use dotted paths: ``--set space.x_len=10 --set instructions=500`` (values are
parsed as YAML).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import Field, create_model

from core.config import ConfigModel, Float, Int, OptInt, ScalarList, Str, build, read_yaml_config
from core.errors import ConfigError
from generators import tasks
from generators.cipher import CipherConfig, validate_cipher
from generators.fields import (
    HELDOUT_LIMIT,
    NOVEL_PATTERNS,
    UNSEEN_ID_BASE,
    DistributionConfig,
    RangeField,
    SpaceConfig,
    SplitsConfig,
    check_name,
    check_occurrences,
    check_seed,
    range_default,
    resolve_novel_patterns,
    validate_distribution,
    validate_space,
    validate_template,
)


class SharedConfig(ConfigModel):
    """Everything that determines a generated dataset (with the generator version), but the task sections.

    ``occurrences`` (rewrite task): each op input gets a value c from this list (uniformly) and contains x
    exactly c times, counted as match positions (overlapping matches count: ``aaa`` holds ``aa`` twice): the c
    planted, non-overlapping copies and no accidental match, so ``input.count(x) == c`` as well. No-op inputs
    contain x nowhere. Inputs that miss the count are redrawn (then made of characters outside x; a clear
    error if even that cannot work, e.g. a 2-letter alphabet with no room between the copies).
    """

    name: Str = "rewrite"
    task: Str = "rewrite"
    seed: Int = 0
    instructions: Int = 100
    examples_per_instruction: OptInt = None
    budget: OptInt = None
    distribution: DistributionConfig = Field(default_factory=DistributionConfig)
    noop_fraction: Float = 0.0
    input_len: RangeField = range_default(50)
    occurrences: ScalarList(Int) = Field(default_factory=lambda: [1])
    space: SpaceConfig = Field(default_factory=SpaceConfig)
    test_space: SpaceConfig | None = None
    splits: SplitsConfig = Field(default_factory=SplitsConfig)
    prompt_template: Str = "{rule}\n{input}\n"
    cipher: CipherConfig = Field(default_factory=CipherConfig)

    # ---- derived quantities -------------------------------------------------------------------------
    @property
    def train_examples(self) -> int:
        """N, the number of training rows (I x S, or the budget)."""
        if self.budget is not None:
            return self.budget
        return self.instructions * (self.examples_per_instruction or 1)

    @property
    def effective_test_space(self) -> SpaceConfig:
        return self.test_space if self.test_space is not None else self.space

    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML-ready dict that :func:`config_from_dict` reads back to an equal config: the shared fields
        and the task sections recorded (every ``always`` section, and those of this config's task)."""
        out = self.model_dump(mode="python")
        used = set(tasks.get(self.task).sections) if self.task in tasks.names() else set()
        for key, section in tasks.sections().items():
            if section.recorded == "when_used" and key not in used:
                out.pop(key, None)
        return out


#: The generator config: the shared fields, a section per registered task section, then ``shard_rows``.
GeneratorConfig = create_model(
    "GeneratorConfig",
    __base__=SharedConfig,
    __module__=__name__,
    **{key: (s.model, Field(default_factory=s.model)) for key, s in tasks.sections().items()},
    shard_rows=(Int, 262_144),
)
GeneratorConfig.__doc__ = SharedConfig.__doc__


# ---------------------------------------------------------------------------------------------------------
# Loading


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> GeneratorConfig:
    """Read a YAML config file, apply ``key.path=value`` overrides and validate the result."""
    return config_from_dict(read_yaml_config(path, overrides))


def config_from_dict(data: dict[str, Any]) -> GeneratorConfig:
    cfg = build(GeneratorConfig, data)
    validate(cfg)
    return cfg


# ---------------------------------------------------------------------------------------------------------
# Validation: everything a user can get wrong, checked before anything is written.


def validate(cfg: GeneratorConfig) -> None:
    """The shared fields, then the task's own checks (:attr:`generators.tasks.Task.validate`), then the splits,
    template and cipher. An unset ``splits.test_unseen.novel_patterns`` is given its value first."""
    resolve_novel_patterns(cfg)
    task = tasks.get(cfg.task)
    check_name(cfg.name, "name")
    check_seed(cfg.seed)
    if cfg.instructions < 1:
        raise ConfigError("instructions", f"must be >= 1, got {cfg.instructions}")
    if cfg.examples_per_instruction is not None and cfg.budget is not None:
        if cfg.examples_per_instruction * cfg.instructions != cfg.budget:
            raise ConfigError(
                "budget",
                f"give examples_per_instruction or budget, not both that disagree "
                f"({cfg.instructions} x {cfg.examples_per_instruction} != {cfg.budget})",
            )
    if cfg.examples_per_instruction is not None and cfg.examples_per_instruction < 1:
        raise ConfigError("examples_per_instruction", f"must be >= 1, got {cfg.examples_per_instruction}")
    if cfg.budget is not None and cfg.budget < 1:
        raise ConfigError("budget", f"must be >= 1, got {cfg.budget}")
    if cfg.budget is not None and cfg.distribution.kind == "uniform" and cfg.budget < cfg.instructions:
        raise ConfigError(
            "budget", f"{cfg.budget} examples cannot cover {cfg.instructions} instructions at least once each"
        )
    validate_distribution(cfg)
    if not (0.0 <= cfg.noop_fraction <= 1.0) or math.isnan(cfg.noop_fraction):
        raise ConfigError("noop_fraction", f"must be within [0, 1], got {cfg.noop_fraction}")
    if cfg.input_len.min < 1:
        raise ConfigError("input_len", f"must be >= 1, got {cfg.input_len.to_yaml()}")
    if cfg.instructions >= UNSEEN_ID_BASE:
        raise ConfigError("instructions", f"must be below {UNSEEN_ID_BASE:,} (the first unseen-test instruction id)")
    if not cfg.occurrences or any(o < 1 for o in cfg.occurrences):
        raise ConfigError("occurrences", f"must be a non-empty list of integers >= 1, got {cfg.occurrences}")
    check_occurrences(cfg.splits.test_unseen.occurrences, "splits.test_unseen.occurrences")
    check_occurrences(cfg.splits.test_seen.occurrences, "splits.test_seen.occurrences")
    validate_space(cfg.space, "space")
    if cfg.test_space is not None:
        validate_space(cfg.test_space, "test_space")
    task.validate(cfg)
    for sp, where in ((cfg.space, "space"), (cfg.effective_test_space, "test_space")):
        if cfg.noop_fraction > 0 and len(set(sp.alphabet)) < 2:
            raise ConfigError(f"{where}.alphabet", "no-op inputs (without the pattern) need at least 2 characters")
    tu = cfg.splits.test_unseen
    if tu.instructions < 0 or tu.examples < 0:
        raise ConfigError("splits.test_unseen", "instructions and examples must be >= 0")
    if tu.examples > 0 and tu.instructions == 0:
        raise ConfigError("splits.test_unseen.instructions", "must be >= 1 when the split has examples")
    if cfg.splits.test_seen.examples < 0:
        raise ConfigError("splits.test_seen.examples", "must be >= 0")
    if cfg.splits.validation.examples < 0:
        raise ConfigError("splits.validation.examples", "must be >= 0")
    for name in ("validation", "test_seen"):
        if getattr(cfg.splits, name).examples > HELDOUT_LIMIT:
            raise ConfigError(
                f"splits.{name}.examples",
                f"at most {HELDOUT_LIMIT:,} rows (held-out rows are kept in memory to keep validation and test_seen apart)",
            )
    if tu.novel_patterns not in NOVEL_PATTERNS:
        raise ConfigError(
            "splits.test_unseen.novel_patterns", f"must be one of {', '.join(NOVEL_PATTERNS)}, got {tu.novel_patterns!r}"
        )
    if tu.novel_patterns == "test_space" and cfg.test_space is None:
        raise ConfigError(
            "splits.test_unseen.novel_patterns",
            "test_space keeps training patterns out of a separate test space: give test_space (or use test_patterns)",
        )
    validate_template(cfg.prompt_template)
    validate_cipher(cfg)
    if cfg.shard_rows < 1:
        raise ConfigError("shard_rows", f"must be >= 1, got {cfg.shard_rows}")
