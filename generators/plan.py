"""The plan of a dataset: its splits, their sizes, instruction pools and exact example counts, computed once.

Instruction pools are drawn test-first: the unseen-test instructions depend only on the seed and the test
space, so every run of a sweep over the number of training instructions is scored on the same unseen rules
(and, numbered from a fixed base, on the same rows: the split's fingerprint does not depend on I),
and the training rules (drawn next, never among the test ones: one :class:`~generators.space.Exclusion`
carries the test rules into the training draw) are nested as I grows. Disjointness is then checked again at
the level of single rules (for Markov algorithms: the rules inside them) with a real error.

Examples per training instruction are exact numbers fixed here (:func:`example_counts`); a training row is
given a position in the instruction-sorted sequence of N slots by a keyed permutation of row indices, and the
position names its instruction through the cumulative counts, so a row stays a pure function of (config,
seed, row index).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from core.errors import ConfigError
from generators import tasks
from generators.cipher import Cipher, make_cipher
from generators.config import GeneratorConfig
from generators.fields import UNSEEN_ID_BASE, parse_template
from generators.heldout import prepare_heldout
from generators.rng import BLOCK, derive_key, feistel_permute, generator, uniform01
from generators.space import DENSE_LIMIT, Exclusion, InstructionSpace
from generators.version import GENERATOR_VERSION, Behaviour, behaviour

SPLITS = ("train", "validation", "test_unseen", "test_seen")
#: The paper tests on inputs holding x 1 to 20 times: the test splits' default occurrences where inputs fit them.
PAPER_TEST_OCCURRENCES = tuple(range(1, 21))


@dataclass
class SplitPlan:
    """One split and how its rows pick their instruction (an index into ``pool``):

    - ``cycle``: row i uses entry ``i mod m``, or ``order[i mod m]`` when an ``order`` is given;
    - ``exact``: row i takes position ``p = feistel(i mod slots)`` in a sequence where entry k fills
      ``cum[k-1] <= p < cum[k]`` (train under a skewed distribution: exactly ``counts[k]`` rows each; validation:
      a sample of the training slots, so the training mix).

    ``table`` holds the rows of a split made once with the plan (validation); ``counts`` the exact number of
    rows per pool entry where it is known in advance (train).
    """

    name: str
    rows: int
    pool: Any  # the task's pool (generators.space.Rules, generators.tasks.markov.MarkovPool, ...)
    pool_text: pa.Array  # the instruction text of each pool entry (enciphered)
    id_offset: int
    assignment: str  # cycle | exact
    alphabet: np.ndarray  # input characters (ASCII codes)
    noop_count: int
    occurrences: tuple[int, ...] = (1,)  # rewrite task: how many times an op input holds x (one drawn per row)
    cum: np.ndarray | None = None  # exact: cumulative slots per pool entry
    order: np.ndarray | None = None  # cycle: the order in which entries are visited
    ids: np.ndarray | None = None  # global instruction id of each pool entry, when not id_offset + position
    counts: np.ndarray | None = None  # rows per pool entry, when fixed in advance
    weights: np.ndarray | None = None  # train: the weight drawn per instruction (power law / explicit)
    table: pa.Table | None = None  # the split's rows, when made with the plan

    @property
    def n_instructions(self) -> int:
        return len(self.pool_text)

    @property
    def slots(self) -> int:
        return int(self.cum[-1]) if self.cum is not None and self.cum.size else 0

    def global_ids(self, local: np.ndarray) -> np.ndarray:
        """The ``instruction_id`` of pool entries (train, validation and test_seen share ids 0..I-1; test_unseen ids
        start at :data:`UNSEEN_ID_BASE`, or, in generator 2.0, at I)."""
        return self.ids[local] if self.ids is not None else local + self.id_offset

    def local_index(self, global_ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, global_ids) if self.ids is not None else global_ids - self.id_offset

    @property
    def blocks(self) -> int:
        return -(-self.rows // BLOCK)

    def table_block(self, block: int) -> pa.RecordBatch:
        part = self.table.slice(block * BLOCK, BLOCK)
        batches = part.to_batches()
        return batches[0] if len(batches) == 1 else pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


@dataclass
class Plan:
    cfg: GeneratorConfig
    cipher: Cipher
    template: list[tuple[str, str]]
    behaviour: Behaviour = field(default_factory=behaviour)  # the generator version whose rows are made
    splits: dict[str, SplitPlan] = field(default_factory=dict)
    disjoint_checked: bool = False
    shared_instructions: int = -1  # set by check_disjoint (always 0: a shared one is an internal error)
    disjointness: dict = field(default_factory=dict)  # what check_disjoint checked and found
    novel_patterns: dict | None = None  # pattern_report: how train and unseen-test patterns relate (None: no test)
    heldout: dict = field(default_factory=dict)  # validation / test_seen bookkeeping (generators.heldout)
    watch: pa.Array | None = None  # distinct validation and test_seen prompts, looked up in the train rows
    watch_rows: dict = field(default_factory=dict)  # split -> index into ``watch`` of each of its rows

    def key(self, *parts: object) -> np.ndarray:
        return derive_key(self.cfg.seed, *parts)


RULE_BYTES = 100  # per distinct rule beyond its characters, twice: the de-duplication key set, lengths, indices


class DisjointnessError(RuntimeError):
    """An unseen-test rule (or, with novel patterns, pattern) is also a training one: a bug, never user input."""


def check_rule_memory(rules: int, width: int) -> None:
    """Refuse, before any work, an instruction count whose rule table cannot fit in this machine's memory (a
    request for 10^9 distinct rules would otherwise grow for many minutes and then be killed)."""
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): no check
        return
    need = rules * (2 * width + RULE_BYTES)
    if need > 0.8 * physical:
        raise ConfigError(
            "instructions",
            f"{rules} distinct rules need about {need / 2**30:.0f} GiB of memory to draw and de-duplicate; this machine "
            f"has {physical / 2**30:.0f} GiB: ask for fewer",
        )


def split_occurrences(cfg: GeneratorConfig, split: str, how: Behaviour) -> tuple[int, ...]:
    """How many times an op input of ``split`` holds its pattern (one value drawn per row, uniformly).

    ``train`` and ``validation`` (held-out rows of the training mix): ``occurrences``. ``test_unseen`` and
    ``test_seen``: their own ``splits.<split>.occurrences`` when given; unset, the paper's test setting, every count
    from 1 to 20 (:data:`PAPER_TEST_OCCURRENCES`), where the shortest input holds 20 copies of the longest pattern
    of either space one character apart (room for exactly 20 matches whatever the pattern), and otherwise (inputs
    too short for the paper's test) the training setting. So every point of an occurrences sweep is scored on one
    test set. Generator 2.0 copied the training setting into every split.
    """
    own = getattr(getattr(cfg.splits, split, None), "occurrences", None)
    if split in ("train", "validation") or not how.test_occurrences:
        return tuple(cfg.occurrences)
    if own is not None:
        return tuple(own)
    longest = max(cfg.space.x_len.max, cfg.effective_test_space.x_len.max)
    most = max(PAPER_TEST_OCCURRENCES)
    fits = tasks.get(cfg.task).plants_occurrences and cfg.input_len.min >= most * (longest + 1) - 1
    return PAPER_TEST_OCCURRENCES if fits else tuple(cfg.occurrences)


def make_plan(cfg: GeneratorConfig, version: str = GENERATOR_VERSION) -> Plan:
    """Draw the instruction pools and size every split (raises ConfigError on impossible requests), with the rows
    of generator ``version`` (one of :data:`generators.version.REMAKEABLE_VERSIONS`)."""
    cipher = make_cipher(cfg.cipher, cfg.space.alphabet)
    how = behaviour(version)
    plan = Plan(cfg=cfg, cipher=cipher, template=parse_template(cfg.prompt_template), behaviour=how)
    train_space = InstructionSpace(cfg.space, "space")
    test_space = InstructionSpace(cfg.effective_test_space, "test_space" if cfg.test_space else "space")
    tu = cfg.splits.test_unseen
    n_test = tu.instructions if tu.examples > 0 else 0
    if cfg.test_space is None and cfg.instructions + n_test > train_space.size:
        raise ConfigError(
            "instructions",
            f"{cfg.instructions} training + {n_test} unseen test instructions exceed the {train_space.size} "
            f"distinct rules this space holds; widen space (alphabet, x_len, y_len) or ask for fewer",
        )
    check_rule_memory(cfg.instructions + n_test, max(train_space.wx, test_space.wx) + max(train_space.wy, test_space.wy))
    task = tasks.get(cfg.task)
    test_pool, train_pool, ex = task.draw_pools(cfg, train_space, test_space, n_test, behaviour=how)
    plan.disjointness = check_disjoint(train_pool, test_pool)
    plan.shared_instructions = plan.disjointness["shared_rules"]
    plan.disjoint_checked = True
    if n_test:
        plan.novel_patterns = pattern_report(train_pool, test_pool, tu.novel_patterns, train_space, test_space, ex)
        plan.novel_patterns["test_space_opt_out"] = cfg.test_space is not None and tu.novel_patterns != "test_space"

    train_text, test_text = (pool_text(task, p, cipher) for p in (train_pool, test_pool))
    train_alpha = np.frombuffer(cfg.space.alphabet.encode("ascii"), dtype=np.uint8)
    test_alpha = np.frombuffer(cfg.effective_test_space.alphabet.encode("ascii"), dtype=np.uint8)
    p = cfg.noop_fraction

    def noops(rows: int) -> int:
        return int(round(p * rows))

    n_train = cfg.train_examples
    weights = instruction_weights(cfg)
    counts = example_counts(n_train, cfg.instructions, weights, instruction_log_weights(cfg))
    train = SplitPlan(
        "train", n_train, train_pool, train_text, 0, "cycle" if weights is None else "exact", train_alpha,
        noops(n_train), split_occurrences(cfg, "train", how), counts=counts, weights=weights,
    )
    if weights is not None:
        train.cum = np.cumsum(counts)
    plan.splits["train"] = train
    eligible = np.flatnonzero(counts)  # rules with at least one training example
    if n_test:
        trained = train_pool if eligible.size == cfg.instructions else train_pool.take(eligible)
        plan.novel_patterns.update(replacement_report(trained, test_pool, tu.novel_replacements, ex))
    n_val = cfg.splits.validation.examples
    if n_val > 0:
        plan.splits["validation"] = SplitPlan(
            "validation", n_val, train_pool, train_text, 0, "exact", train_alpha, noops(n_val),
            split_occurrences(cfg, "validation", how), cum=np.cumsum(counts),
        )
    if tu.examples > 0:
        plan.splits["test_unseen"] = SplitPlan(
            "test_unseen", tu.examples, test_pool, test_text, UNSEEN_ID_BASE if how.fixed_unseen_ids else cfg.instructions,
            "cycle", test_alpha, noops(tu.examples), split_occurrences(cfg, "test_unseen", how),
        )
    n_seen = cfg.splits.test_seen.examples
    if n_seen > 0:
        every = eligible.size == cfg.instructions
        order = feistel_permute(plan.key("test_seen", "order"), eligible.size, np.arange(eligible.size)).astype(np.int64)
        plan.splits["test_seen"] = SplitPlan(
            "test_seen", n_seen, train_pool if every else train_pool.take(eligible),
            train_text if every else train_text.take(pa.array(eligible)), 0, "cycle", train_alpha, noops(n_seen),
            split_occurrences(cfg, "test_seen", how), order=order, ids=None if every else eligible,
        )
    if n_val > 0 or n_seen > 0:
        prepare_heldout(plan)
    return plan


# ---- instruction frequencies -------------------------------------------------------------------------------


def instruction_weights(cfg: GeneratorConfig) -> np.ndarray | None:
    """One weight per training instruction (None under ``uniform``).

    ``power_law``: the paper's f(w) = alpha * w**(alpha - 1) on (0, 1]: ``w_i = u_i ** (1 / alpha)`` with u_i
    uniform on (0, 1], the i-th value of a keyed stream, so instruction i's weight does not depend on I (nested
    instruction sets keep their weights). ``explicit``: the configured weights.
    """
    d = cfg.distribution
    if d.kind == "uniform":
        return None
    if d.kind == "explicit":
        return np.asarray(d.weights)  # the config's floats (core.config.Float): a float64 array
    return _draws(cfg) ** (1.0 / d.alpha)  # may underflow to 0 at a tiny alpha: example_counts takes the logs


def _draws(cfg: GeneratorConfig) -> np.ndarray:
    """The power law's u_i, uniform on (0, 1]."""
    return 1.0 - uniform01(generator(cfg.seed, "instruction-weights"), cfg.instructions)


def instruction_log_weights(cfg: GeneratorConfig) -> np.ndarray | None:
    """``ln(w_i) = ln(u_i) / alpha`` of the power law's weights, exact where ``w_i`` itself underflows (a tiny
    alpha); None for the other distributions."""
    d = cfg.distribution
    return np.log(_draws(cfg)) / d.alpha if d.kind == "power_law" else None


def example_counts(n: int, instructions: int, weights: np.ndarray | None,
                   log_weights: np.ndarray | None = None) -> np.ndarray:
    """Examples per instruction, summing to n exactly.

    Uniform (no weights): ``n // I`` each and one more for the first ``n mod I`` (S each when n = I x S).
    Weighted: proportional to the weights, rounded by the largest-remainder rule (ties to the lower index);
    an instruction whose share rounds to zero keeps its place in the pool with no examples. Weights all below
    1e-250 (a tiny alpha: subnormal or 0 in floating point, their proportions lost) are taken in log space:
    ``log_weights`` (their exact natural logs) when given, else the logs of the weights.
    """
    if weights is None:
        base, extra = divmod(n, instructions)
        return base + (np.arange(instructions) < extra)  # an int64 array
    w = weights
    if w.max() < 1e-250:  # instructions >= 1 (validated), so there is a largest weight
        with np.errstate(divide="ignore"):  # a weight of 0 has log -inf: no examples
            logs = np.log(w) if log_weights is None else log_weights
        w = np.exp(logs - logs.max())
    total = math.fsum(w.tolist())
    quota = n * (w / total)
    base = np.floor(quota).astype(np.int64)
    rest = quota - base
    # never negative: the floors sum to at most sum(quota) <= n (1 + 3 * 2^-53) < n + 1 below 2^51 rows (far
    # beyond what datagen's disk and memory limits let through)
    short = n - int(base.sum())
    assert short >= 0
    order = np.lexsort((np.arange(w.size), -rest))  # largest remainder first, ties to the lower index
    base[order[:short]] += 1
    return base


def train_counts(plan: Plan, train: SplitPlan | None = None) -> np.ndarray:
    """Examples per training instruction (exact, fixed by the plan; no rows are made)."""
    return (train or plan.splits["train"]).counts


# ---- pools and checks --------------------------------------------------------------------------------------


def pool_text(task, pool: Any, cipher: Cipher) -> pa.Array:
    """The (enciphered) instruction text of each pool entry."""
    return pa.array([cipher.encrypt(t) for t in task.pool_texts(pool)], pa.string())


def check_disjoint(train_pool: Any, test_pool: Any) -> dict:
    """Check, with a real error, that no single unseen-test rule is a training rule (for Markov algorithms: no
    rule inside an unseen-test algorithm occurs inside a training one); returns what was checked."""
    train_rules, test_rules = set(train_pool.rule_keys()), set(test_pool.rule_keys())
    shared = train_rules & test_rules
    if shared:
        example = sorted(shared)[0].decode().replace("\x00", " -> ")  # rules are ASCII (the alphabet is)
        raise DisjointnessError(
            f"internal error: {len(shared)} single rules of the unseen test set are also training rules (e.g. {example})"
        )
    return {"level": "single rules", "train_rules": len(train_rules), "test_unseen_rules": len(test_rules), "shared_rules": 0}


def pattern_report(
    train_pool: Any, test_pool: Any, mode: str, train_space: InstructionSpace, test_space: InstructionSpace, ex: Exclusion
) -> dict:
    """How training and unseen-test patterns relate; with a novel-pattern ``mode`` also a check, with a real
    error, that training patterns avoid the unseen-test patterns (and, for ``test_space``, every pattern of the
    test space's structured classes), and how many patterns that kept out of training."""
    train_x, test_x = train_pool.patterns(), test_pool.patterns()
    shared = len(train_x & test_x)
    in_test_space = 0
    if any(c.structured for c in test_space.classes):  # else no pattern can lie in a structured test class
        x, xl = train_pool.pattern_matrix()
        in_test_space = int(test_space.contains(x, xl, structured_only=True).sum())  # a pool is never empty
    out = {
        "novel_patterns": mode,
        "train_patterns": len(train_x),
        "test_patterns": len(test_x),
        "test_patterns_in_training": shared,  # verbatim
        "train_patterns_in_test_space": in_test_space,
    }
    if any(c.structured for c in train_space.classes):
        out["train_patterns_literal"] = literal_patterns(train_pool, train_space)
    if test_space.where == "test_space":  # a test space of its own: which training classes lie wholly inside it
        within = train_space.classes_within(test_space)
        lengths = len(train_space.cfg.x_len.values()) > 1
        out["train_classes"] = class_labels([c for c in train_space.classes if c not in within], lengths)
        out["train_classes_within_test_space"] = class_labels(within, lengths)
    if mode == "none":
        return out
    if shared:
        raise DisjointnessError(f"internal error: {shared} unseen-test patterns are also training patterns")
    if mode == "test_space" and out["train_patterns_in_test_space"]:
        raise DisjointnessError(f"internal error: {out['train_patterns_in_test_space']} training patterns lie in the test space")
    out["checked"] = True
    out["candidates_refused"] = ex.refused
    if mode == "test_space":
        out["train_space_patterns_excluded"] = _space_overlap(train_space, test_space, ex.patterns)
    else:
        tx, txl = test_pool.pattern_matrix()
        out["train_space_patterns_excluded"] = int(train_space.contains(tx, txl).sum())
    return out


MAX_CLASS_LABELS = 60


def class_labels(classes: list, with_length: bool) -> list[str]:
    """``repeated k=3`` (``, L=12`` when the space has several pattern lengths) for each class, at most
    :data:`MAX_CLASS_LABELS` of them and then how many more."""
    labels = list(dict.fromkeys(c.label + (f", L={c.length}" if with_length else "") for c in classes))
    if len(labels) > MAX_CLASS_LABELS:
        labels = labels[:MAX_CLASS_LABELS] + [f"... and {len(labels) - MAX_CLASS_LABELS} more"]
    return labels


def literal_patterns(pool: Any, space: InstructionSpace) -> int:
    """How many of the pool's distinct patterns fit the papers' literal families of the space: one of its
    structures with a k >= 2 of its range that divides the pattern's length (``k_rule: divides``)."""
    literal = InstructionSpace(space.cfg.model_copy(update={"k_rule": "divides"}), space.where)
    x, xl = pool.pattern_matrix()
    return int(literal.contains(x, xl, structured_only=True).sum()) if x.size else 0


def replacement_report(trained: Any, test_pool: Any, novel: bool, ex: Exclusion) -> dict:
    """How many unseen-test rules (single rules) have a replacement that a training rule with examples
    (``trained``) also has; with ``novel`` (``splits.test_unseen.novel_replacements``) a check, with a real error,
    that none has."""
    train_y = set(trained.replacements())
    test_y = test_pool.replacements()
    shared = sum(y in train_y for y in test_y)
    if novel and shared:
        raise DisjointnessError(f"internal error: {shared} unseen-test replacements are also training replacements")
    return {
        "novel_replacements": novel,
        "unseen_rules": len(test_y),
        "unseen_rules_with_replacement_in_train": shared,
        "unseen_replacements_in_train": round(shared / len(test_y), 6) if test_y else 0.0,
        **({"candidates_refused_for_replacement": ex.refused_replacements} if novel else {}),
    }


def _space_overlap(train_space: InstructionSpace, test_space: InstructionSpace, patterns: set[bytes]) -> int | None:
    """How many distinct training-space patterns the ``test_space`` mode excludes (None if too many to list)."""
    if train_space.x_size > DENSE_LIMIT:
        return None
    x, xl, _ = train_space.all_patterns()
    inside = test_space.contains(x, xl, structured_only=True)
    listed = sum(x[i, : xl[i]].tobytes() in patterns for i in np.flatnonzero(~inside))
    return int(inside.sum()) + listed
