"""Pool configuration (``task: pool``): the diversity dial of the synthetic tasks, on a real instruction pool.

Semantic clusters of the pool play the role of instructions: ``instructions`` (I) clusters in training,
``examples_per_instruction`` (S) or ``budget`` (N) rows, spread over them by ``distribution`` (the synthetic
tasks' code: uniform, power law, explicit), and whole clusters held out as ``test_unseen``:

.. code-block:: yaml

    task: pool
    name: alpaca-I64
    seed: 0
    sources:                                  # as in mixtures (Hub ids with a revision, or local files)
      - name: alpaca
        hub: tatsu-lab/alpaca
        revision: main
        columns: {prompt: "{instruction}\\n\\n{input}", completion: output}
    instructions: 64                          # I: clusters in training
    budget: 20000                             # N (or examples_per_instruction: S)
    distribution: {kind: uniform}
    clusters: {kind: kmeans, k: 256}          # k-means over MiniLM embeddings of the instruction text
    selection: {kind: random}                 # or coreset (k-center greedy within each cluster)
    splits:
      test_unseen: {instructions: 16, examples: 1000}   # 16 whole clusters never in training
      test_seen: {examples: 1000}             # held-out rows of the training clusters
      validation: {examples: 500}

``clusters.kind``: ``kmeans`` (the default: k-means over sentence embeddings of the instruction, ``k`` clusters,
the embedding ``model`` and its ``revision``), ``column`` (an existing label column of every source: a task,
category or language) or ``source`` (each source is one cluster). ``selection.kind``: ``random`` (a keyed random
sample within each cluster) or ``coreset`` (the k-center greedy order within each cluster, over at most
``selection.candidates`` rows of it, 0 for all). Dedup and decontamination are the mixtures'
(:mod:`generators.real.mixture_config`); ``pool_rows`` caps the pool at a keyed sample of its usable rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from core.config import ConfigModel, Int, OptInt, OptStr, ScalarList, Str, build, read_yaml_config
from core.errors import ConfigError
from generators.fields import DistributionConfig, check_name, check_seed, validate_distribution
from generators.real.embed import PACKAGED_MODEL
from generators.real.mixture_config import (
    DecontaminationConfig,
    DedupConfig,
    SemanticConfig,
    SourceBase,
    declared_task,
    public_dict,
    validate_shared,
    validate_sources,
)

#: The ``task`` of a pool config (and of its datagen.json).
POOL_TASK = "pool"
CLUSTER_KINDS = ("kmeans", "column", "source")
SELECTIONS = ("random", "coreset")


class ClustersConfig(ConfigModel):
    """How the pool is partitioned (see the module docstring). k-means: ``k`` clusters (at most; a centroid no row
    is nearest to is dropped), fitted on a keyed sample of ``fit_rows`` rows (0: 256 per cluster) with
    ``iterations`` Lloyd iterations from k-means++ centres, ``restarts`` times (the best objective is kept); texts
    embedded ``batch_size`` at a time."""

    kind: Str = "kmeans"
    k: Int = 100
    model: Str = PACKAGED_MODEL
    revision: OptStr = None
    column: OptStr = None
    batch_size: Int = 256
    iterations: Int = 20
    restarts: Int = 10
    fit_rows: Int = 0


class SelectionConfig(ConfigModel):
    """Which rows of a training cluster are its training rows: ``random`` or ``coreset`` (k-center greedy over
    at most ``candidates`` of the cluster's rows, a keyed sample; 0: all of them)."""

    kind: Str = "random"
    candidates: Int = 0


class PoolTestUnseen(ConfigModel):
    """``instructions`` whole clusters never in training, ``examples`` rows from them (spread evenly, as far as
    each cluster's rows allow)."""

    instructions: Int = 2
    examples: Int = 200


class PoolHeldout(ConfigModel):
    examples: Int = 200


class PoolSplits(ConfigModel):
    """``test_seen``: held-out rows of the training clusters (spread evenly over them); ``validation``: held-out
    rows of the training clusters in proportion to their training rows (the training mix)."""

    validation: PoolHeldout = Field(default_factory=lambda: PoolHeldout(examples=100))
    test_unseen: PoolTestUnseen = Field(default_factory=PoolTestUnseen)
    test_seen: PoolHeldout = Field(default_factory=PoolHeldout)


class PoolConfig(ConfigModel):
    task: Str = POOL_TASK
    name: Str = ""
    seed: Int = 0
    sources: ScalarList(SourceBase) = Field(default_factory=list)
    instructions: Int = 0
    examples_per_instruction: OptInt = None
    budget: OptInt = None
    distribution: DistributionConfig = Field(default_factory=DistributionConfig)
    clusters: ClustersConfig = Field(default_factory=ClustersConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    splits: PoolSplits = Field(default_factory=PoolSplits)
    pool_rows: Int = 0
    prompt_template: Str = "{instruction}"
    license: Str = "other"
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decontamination: DecontaminationConfig = Field(default_factory=DecontaminationConfig)
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)
    shard_rows: Int = 262_144

    @property
    def train_examples(self) -> int:
        """N, the number of training rows (I x S, or the budget)."""
        return self.budget if self.budget is not None else self.instructions * (self.examples_per_instruction or 0)

    @property
    def needs_embeddings(self) -> bool:
        """Whether making the rows needs sentence embeddings (k-means clusters or core-set selection)."""
        return self.clusters.kind == "kmeans" or self.selection.kind == "coreset"

    def to_public_dict(self) -> dict[str, Any]:
        return public_dict(self)


def is_pool_config(path: str | Path) -> bool:
    """Whether a YAML config file declares ``task: pool`` (so ``datagen`` can route it)."""
    return declared_task(path) == POOL_TASK


def load_pool_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> PoolConfig:
    """Read a pool YAML file, apply ``key.path=value`` overrides and validate the result. A relative source
    ``path`` is looked up in the working directory, then beside the config file (so a shipped preset finds the
    data shipped with it)."""
    cfg = pool_config_from_dict(read_yaml_config(path, overrides))
    for src in cfg.sources:
        if src.path:
            src.path = locate_source(src.path, Path(path).parent)
    return cfg


#: Data shipped with the presets (the toy pool): a bare file name recorded in ``datagen.json`` is found here too.
SHIPPED_DATA = Path(__file__).resolve().parent.parent / "configs" / "data"


def locate_source(path: str, config_dir: Path | None = None) -> str:
    """A local source's path: as given when it exists (relative to the working directory), else beside the config
    file, else (a bare file name, as ``datagen.json`` records it) among the presets' shipped data; else as given
    (loading it then names the missing file)."""
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists():
        return path
    candidates = [config_dir / given] if config_dir is not None else []
    if len(given.parts) == 1:
        candidates.append(SHIPPED_DATA / given)
    return next((str(c) for c in candidates if c.is_file()), path)


def pool_config_from_dict(data: dict[str, Any]) -> PoolConfig:
    cfg = build(PoolConfig, data)
    validate_pool(cfg)
    return cfg


def validate_pool(cfg: PoolConfig) -> None:
    """Everything a user can get wrong before the pool is read (cluster sizes are checked once it is)."""
    if cfg.task != POOL_TASK:
        raise ConfigError("task", f"must be 'pool' for a pool config, got {cfg.task!r}")
    check_name(cfg.name, "name")
    check_seed(cfg.seed)
    validate_sources(cfg.sources)
    if cfg.instructions < 1:
        raise ConfigError("instructions", f"must be >= 1 (the number of clusters in training), got {cfg.instructions}")
    if cfg.examples_per_instruction is None and cfg.budget is None:
        raise ConfigError("budget", "give examples_per_instruction (S) or budget (N = the training rows)")
    if cfg.examples_per_instruction is not None:
        if cfg.examples_per_instruction < 1:
            raise ConfigError("examples_per_instruction", f"must be >= 1, got {cfg.examples_per_instruction}")
        if cfg.budget is not None and cfg.examples_per_instruction * cfg.instructions != cfg.budget:
            raise ConfigError("budget", f"give examples_per_instruction or budget, not both that disagree "
                                        f"({cfg.instructions} x {cfg.examples_per_instruction} != {cfg.budget})")
    if cfg.budget is not None and cfg.budget < 1:
        raise ConfigError("budget", f"must be >= 1, got {cfg.budget}")
    if cfg.distribution.kind == "uniform" and cfg.train_examples < cfg.instructions:
        raise ConfigError("budget", f"{cfg.train_examples} rows cannot cover {cfg.instructions} clusters once each")
    validate_distribution(cfg)
    _validate_clusters(cfg)
    sel = cfg.selection
    if sel.kind not in SELECTIONS:
        raise ConfigError("selection.kind", f"unknown selection {sel.kind!r} (choose from {', '.join(SELECTIONS)})")
    if sel.candidates < 0:
        raise ConfigError("selection.candidates", f"must be >= 0 (0: every row of a cluster), got {sel.candidates}")
    tu = cfg.splits.test_unseen
    if tu.instructions < 0 or tu.examples < 0:
        raise ConfigError("splits.test_unseen", "instructions and examples must be >= 0")
    if tu.examples > 0 and tu.instructions == 0:
        raise ConfigError("splits.test_unseen.instructions", "must be >= 1 when the split has examples")
    for name in ("test_seen", "validation"):
        if getattr(cfg.splits, name).examples < 0:
            raise ConfigError(f"splits.{name}.examples", "must be >= 0")
    if cfg.pool_rows < 0:
        raise ConfigError("pool_rows", f"must be >= 0 (0: the whole pool), got {cfg.pool_rows}")
    validate_shared(cfg)


def _validate_clusters(cfg: PoolConfig) -> None:
    c = cfg.clusters
    if c.kind not in CLUSTER_KINDS:
        raise ConfigError("clusters.kind", f"unknown kind {c.kind!r} (choose from {', '.join(CLUSTER_KINDS)})")
    wanted = cfg.instructions + cfg.splits.test_unseen.instructions
    if c.kind == "kmeans":
        if c.k < wanted:
            raise ConfigError("clusters.k", f"{c.k} clusters cannot give {cfg.instructions} training and "
                                            f"{cfg.splits.test_unseen.instructions} unseen-test clusters")
        if c.fit_rows and c.fit_rows < c.k:
            raise ConfigError("clusters.fit_rows", f"must be 0 (256 per cluster) or at least clusters.k ({c.k}), "
                                                   f"got {c.fit_rows}")
    elif c.k != ClustersConfig().k:
        raise ConfigError("clusters.k", f"applies to kmeans clusters only (the {c.kind} kind has one cluster per "
                                        f"{'label' if c.kind == 'column' else 'source'})")
    if c.kind == "column" and not c.column:
        raise ConfigError("clusters.column", "name the label column whose values are the clusters")
    if c.kind != "column" and c.column is not None:
        raise ConfigError("clusters.column", "applies to clusters.kind: column only")
    if c.kind == "source" and len(cfg.sources) < wanted:
        raise ConfigError("clusters.kind", f"{len(cfg.sources)} sources (one cluster each) cannot give "
                                           f"{cfg.instructions} training and {cfg.splits.test_unseen.instructions} "
                                           f"unseen-test clusters")
    for name in ("batch_size", "iterations", "restarts"):
        if getattr(c, name) < 1:
            raise ConfigError(f"clusters.{name}", f"must be >= 1, got {getattr(c, name)}")
    if not c.model:
        raise ConfigError("clusters.model", "must name a sentence-transformers model")
