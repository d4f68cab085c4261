"""The plan of a dataset: its splits, their sizes and instruction pools, computed once from the config.

Instruction pools are drawn test-first: the unseen-test instructions depend only on the seed and the test
space, so every run of a sweep over the number of training instructions is scored on the same unseen rules,
and the training rules (drawn next, never among the test ones) are nested as I grows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from generators.cipher import Cipher, make_cipher
from generators.config import GeneratorConfig, parse_template
from generators.rng import BLOCK, derive_key
from generators.space import InstructionSpace, Rules

SPLITS = ("train", "test_unseen", "test_seen")


@dataclass
class SplitPlan:
    """One split. ``test_seen`` cycles over the training instructions that have at least one training example
    (all of them under the uniform distribution; under a skewed one, rare rules may have none)."""

    name: str
    rows: int
    pool: Any  # Rules (rewrite) or MarkovPool (markov)
    pool_text: pa.Array  # the instruction text of each pool entry (enciphered)
    id_offset: int
    assignment: str  # cycle | power_law | explicit
    alphabet: np.ndarray  # input characters (ASCII codes)
    noop_count: int
    alpha: float = 1.0
    cdf: np.ndarray | None = None
    ids: np.ndarray | None = None  # global instruction id of each pool entry, when not id_offset + position

    @property
    def n_instructions(self) -> int:
        return len(self.pool_text)

    def global_ids(self, local: np.ndarray) -> np.ndarray:
        """The ``instruction_id`` of pool entries (train and test_seen share ids; test_unseen ids follow)."""
        return self.ids[local] if self.ids is not None else local + self.id_offset

    def local_index(self, global_ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, global_ids) if self.ids is not None else global_ids - self.id_offset

    @property
    def blocks(self) -> int:
        return -(-self.rows // BLOCK)


@dataclass
class Plan:
    cfg: GeneratorConfig
    cipher: Cipher
    template: list[tuple[str, str]]
    splits: dict[str, SplitPlan] = field(default_factory=dict)
    disjoint_checked: bool = False
    shared_instructions: int = -1  # set by check_disjoint (always 0: a shared one is an internal error)

    def key(self, *parts: object) -> np.ndarray:
        return derive_key(self.cfg.seed, *parts)


RULE_BYTES = 100  # per distinct rule beyond its characters, twice: the de-duplication key set, lengths, indices


def check_rule_memory(rules: int, width: int) -> None:
    """Refuse, before any work, an instruction count whose rule table cannot fit in this machine's memory (a
    request for 10^9 distinct rules would otherwise grow for many minutes and then be killed)."""
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): no check
        return
    need = rules * (2 * width + RULE_BYTES)
    if need > 0.8 * physical:
        from generators.errors import ConfigError

        raise ConfigError(
            "instructions",
            f"{rules} distinct rules need about {need / 2**30:.0f} GiB of memory to draw and de-duplicate; this machine "
            f"has {physical / 2**30:.0f} GiB: ask for fewer",
        )


def make_plan(cfg: GeneratorConfig) -> Plan:
    """Draw the instruction pools and size every split (raises ConfigError on impossible requests)."""
    cipher = make_cipher(cfg.cipher, cfg.space.alphabet)
    plan = Plan(cfg=cfg, cipher=cipher, template=parse_template(cfg.prompt_template))
    train_space = InstructionSpace(cfg.space, "space")
    test_space = InstructionSpace(cfg.effective_test_space, "test_space" if cfg.test_space else "space")
    tu = cfg.splits.test_unseen
    n_test = tu.instructions if tu.examples > 0 else 0
    if cfg.test_space is None and cfg.instructions + n_test > train_space.size:
        from generators.errors import ConfigError

        raise ConfigError(
            "instructions",
            f"{cfg.instructions} training + {n_test} unseen test instructions exceed the {train_space.size} "
            f"distinct rules this space holds; widen space (alphabet, x_len, y_len) or ask for fewer",
        )
    check_rule_memory(cfg.instructions + n_test, max(train_space.wx, test_space.wx) + max(train_space.wy, test_space.wy))
    if cfg.task == "markov":
        from generators.markov import draw_markov_pools

        test_pool, train_pool = draw_markov_pools(cfg, train_space, test_space, n_test)
    else:
        taken: set[bytes] = set()
        test_pool = test_space.distinct(cfg.seed, "test_unseen", n_test, taken)
        train_pool = train_space.distinct(cfg.seed, "train", cfg.instructions, taken)
    plan.shared_instructions = check_disjoint(train_pool, test_pool)
    plan.disjoint_checked = True

    train_text, test_text = (pool_text(p, cipher) for p in (train_pool, test_pool))
    train_alpha = np.frombuffer(cfg.space.alphabet.encode("ascii"), dtype=np.uint8)
    test_alpha = np.frombuffer(cfg.effective_test_space.alphabet.encode("ascii"), dtype=np.uint8)
    dist = cfg.distribution
    cdf = None
    if dist.kind == "explicit":
        w = np.asarray(dist.weights, dtype=np.float64)
        cdf = np.cumsum(w) / w.sum()
    kind = {"uniform": "cycle", "power_law": "power_law", "explicit": "explicit"}[dist.kind]
    p = cfg.noop_fraction

    def noops(rows: int) -> int:
        return int(round(p * rows))

    n_train = cfg.train_examples
    plan.splits["train"] = SplitPlan(
        "train", n_train, train_pool, train_text, 0, kind, train_alpha, noops(n_train), dist.alpha, cdf
    )
    if tu.examples > 0:
        plan.splits["test_unseen"] = SplitPlan(
            "test_unseen", tu.examples, test_pool, test_text, cfg.instructions, "cycle", test_alpha, noops(tu.examples)
        )
    n_seen = cfg.splits.test_seen.examples
    if n_seen > 0:
        seen = None
        if kind != "cycle":  # a skewed distribution leaves some training rules without any example
            seen = np.flatnonzero(train_counts(plan, plan.splits["train"]))
        plan.splits["test_seen"] = SplitPlan(
            "test_seen", n_seen, _take(train_pool, seen), train_text if seen is None else train_text.take(pa.array(seen)),
            0, "cycle", train_alpha, noops(n_seen), ids=seen,
        )
    return plan


def train_counts(plan: Plan, train: SplitPlan) -> np.ndarray:
    """Examples per training instruction, by replaying each train block's first draws (the assignment)."""
    from generators.rewrite import assign_instructions
    from generators.rng import generator

    counts = np.zeros(train.n_instructions, dtype=np.int64)
    for b in range(train.blocks):
        idx = np.arange(b * BLOCK, min((b + 1) * BLOCK, train.rows), dtype=np.int64)
        rng = generator(plan.cfg.seed, "rows", train.name, b)  # the same stream start_block draws from
        counts += np.bincount(assign_instructions(train, idx, rng), minlength=train.n_instructions)
    return counts


def _take(pool: Any, idx: np.ndarray | None) -> Any:
    if idx is None:
        return pool
    if isinstance(pool, Rules):
        return pool.take(idx)
    return type(pool)([pool.instructions[i] for i in idx])


def pool_text(pool: Any, cipher: Cipher) -> pa.Array:
    if isinstance(pool, Rules):
        from generators.rewrite import rule_text

        return pa.array([cipher.encrypt(rule_text(pool.x_str(i), pool.y_str(i))) for i in range(len(pool))], pa.string())
    return pa.array([cipher.encrypt(t) for t in pool.texts()], pa.string())


def check_disjoint(train_pool: Any, test_pool: Any) -> int:
    """Check (with a real error, not ``assert``) that no unseen-test instruction is a training one; returns the
    number shared (0)."""
    overlap = set(train_pool.keys()) & set(test_pool.keys())
    if overlap:
        raise RuntimeError(f"internal error: {len(overlap)} test instructions are also training instructions")
    return len(overlap)
