"""Markov algorithms: an instruction is an ordered list of rewrite rules, some terminal.

Semantics (:func:`run_markov`): find the first rule, in order, whose pattern occurs in the string; replace its
leftmost occurrence; stop if that rule is terminal (written ``x ->. y``), else repeat. Stop when no rule
applies or after ``max_steps`` applications; a string that grows past ``max_len`` is cut there and the row is
flagged ``truncated`` (so is a run stopped by the step limit). The number of rules per instruction dials the
instruction's complexity. Rows are made with a Python loop (the rewrite task is the vectorized one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from core.config import ConfigModel, Float, Int
from core.errors import ConfigError
from generators.blocks import (
    COMMON_FIELDS,
    MAX_NOOP_REDRAWS,
    GenerationError,
    random_inputs,
    start_block,
    string_block,
)
from generators.fields import RangeField, range_default
from generators.rng import generator, integers, uniform01
from generators.space import Exclusion, InstructionSpace, exclude_patterns, pattern_matrix
from generators.tasks.registry import Scorer, Task, TaskSizes, register, register_section

MARKOV_SCHEMA = pa.schema([*COMMON_FIELDS, ("n_rules", pa.int32()), ("steps", pa.int32()), ("truncated", pa.bool_())])

Rule = tuple[str, str, bool]  # pattern, replacement, terminal


class MarkovConfig(ConfigModel):
    """Markov algorithms: an ordered list of rules per instruction, some terminal.

    Apply the first rule (in order) whose pattern occurs, at its leftmost occurrence; stop after a terminal
    rule fires, when no rule applies, or after ``max_steps`` applications. Outputs are capped at ``max_len``
    characters (a run that would grow past it stops there and is flagged ``truncated``).
    """

    rules: RangeField = range_default(2, 3)
    terminal_fraction: Float = 0.25
    max_steps: Int = 8
    max_len: Int = 200


#: every config records ``markov:``, as generator 2.0 did
register_section("markov", MarkovConfig, recorded="always")


def markov_text(rules: list[Rule]) -> str:
    return "; ".join(f"{x} ->{'.' if term else ''} {y}" for x, y, term in rules)


def run_markov(rules: list[Rule], z: str, max_steps: int, max_len: int) -> tuple[str, int, bool]:
    """Apply a Markov algorithm to z. Returns (result, rule applications, truncated)."""
    steps = 0
    while steps < max_steps:
        for x, y, term in rules:
            i = z.find(x)
            if i >= 0:
                z = z[:i] + y + z[i + len(x) :]
                steps += 1
                if len(z) > max_len:
                    return z[:max_len], steps, True
                if term:
                    return z, steps, False
                break
        else:
            return z, steps, False
    # the step limit stopped it: truncated unless no rule would apply any more
    return z, steps, any(x in z for x, _, _ in rules)


@dataclass
class MarkovPool:
    instructions: list[list[Rule]]
    # where each algorithm's rules start in the drawn rule sequence (its markers' streams: markov_aux reads them
    # on the pools fresh from the draw); a sub-pool taken for the held-out splits has none
    places: list[int] | None = None

    def __len__(self) -> int:
        return len(self.instructions)

    def keys(self) -> list[bytes]:
        return [markov_text(r).encode() for r in self.instructions]

    def rule_keys(self) -> list[bytes]:
        """The single rules inside the algorithms (``x + b"\\x00" + y``, whether terminal or not)."""
        return [x.encode() + b"\x00" + y.encode() for rules in self.instructions for x, y, _ in rules]

    def patterns(self) -> set[bytes]:
        return {x.encode() for rules in self.instructions for x, _, _ in rules}

    def pattern_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        return pattern_matrix(self.patterns())

    def texts(self) -> list[str]:
        return [markov_text(r) for r in self.instructions]

    def replacements(self) -> list[bytes]:
        """The replacement of every single rule, in order."""
        return [y.encode() for rules in self.instructions for _, y, _ in rules]

    def take(self, idx) -> MarkovPool:
        return MarkovPool([self.instructions[i] for i in idx])


def _group(cfg, rules, purpose: str, count: int, nested: bool) -> MarkovPool:
    """``count`` algorithms from the drawn rules: a size per algorithm, then its rules and their terminal flags.

    An algorithm's rules sit at consecutive places of the drawn rule sequence (and of the per-rule streams).
    Nested (generator 2.1): algorithm i owns places ``i * R .. i * R + size_i - 1`` (R = ``markov.rules.max``),
    and sizes and terminal flags come from streams of their own, so it is a function of (seed, i) alone and the
    first I algorithms of a larger set are the set of I. Generator 2.0 packed the rules one after another and
    drew the terminal flags after the sizes from one stream, so the rules and flags of algorithm i moved with
    every earlier algorithm's size and with the number of algorithms."""
    mk = cfg.markov
    if nested:
        sizes = integers(generator(cfg.seed, "markov-rules", purpose, "sizes"), mk.rules.min, mk.rules.max, count)
        starts = np.arange(count) * mk.rules.max
        flags = uniform01(generator(cfg.seed, "markov-rules", purpose, "terminal"), count * mk.rules.max)
    else:
        rng = generator(cfg.seed, "markov-rules", purpose)
        sizes = integers(rng, mk.rules.min, mk.rules.max, count)
        starts = np.cumsum(sizes) - sizes
        flags = uniform01(rng, int(sizes.sum()))
    places = [range(int(a), int(a) + int(s)) for a, s in zip(starts, sizes)]
    terminal = flags < mk.terminal_fraction
    return MarkovPool([[(rules.x_str(i), rules.y_str(i), bool(terminal[i])) for i in at] for at in places],
                      [at.start for at in places])


def draw_markov_pools(cfg, train_space: InstructionSpace, test_space: InstructionSpace, n_test: int, behaviour=None):
    """(test pool, train pool, exclusion): the test algorithms' rules first, then the training rules, all drawn
    from one exclusion, so no single rule appears in both (nor, with novel patterns, a test pattern)."""
    nested = behaviour is None or behaviour.nested_markov
    ex = Exclusion()
    rmax = cfg.markov.rules.max
    test_pool = _group(cfg, test_space.distinct(cfg.seed, "test_unseen", n_test * rmax, ex), "test_unseen", n_test,
                       nested)
    exclude_patterns(ex, test_pool, cfg.splits.test_unseen, test_space)
    train_rules = train_space.distinct(cfg.seed, "train", cfg.instructions * rmax, ex)
    return test_pool, _group(cfg, train_rules, "train", cfg.instructions, nested), ex


def markov_block(plan, split, block: int, attempt: int = 0) -> pa.RecordBatch:
    cfg = plan.cfg
    b = start_block(plan, split, block, attempt)
    inputs, outputs, steps, trunc, nrules = markov_rows(b, split, cfg.input_len.max, cfg.markov.max_steps,
                                                        cfg.markov.max_len)
    flags = [pa.array(nrules), pa.array(steps), pa.array(trunc)]  # MARKOV_SCHEMA casts them (int32, bool)
    return string_block(plan, split, b.inst, inputs=inputs, outputs=outputs, is_noop=np.asarray(steps) == 0,
                        flags=flags, schema=MARKOV_SCHEMA)


def noop_input(rng, alphabet, rules, zr: str, zlen_r, width: int) -> str:
    """A no-op row's input: ``zr``, redrawn (length ``zlen_r[0]``) until it holds none of the rules' patterns."""
    tries = 0
    while any(x in zr for x, _, _ in rules):
        tries += 1
        if tries > MAX_NOOP_REDRAWS:
            raise GenerationError(
                "could not make a no-op input that avoids every pattern of a Markov instruction; "
                "raise space.x_len or the alphabet size"
            )
        zr = random_inputs(rng, alphabet, zlen_r, width)[0, : zlen_r[0]].tobytes().decode()
    return zr


def markov_rows(b, split, width: int, max_steps: int, max_len: int):
    """The plain-text rows of a block (inputs, outputs, steps, truncated, rules per instruction): an op row's
    input holds one rule's pattern at a random place, a no-op row's input none of the instruction's patterns."""
    rng, inst, noop, zlen, n = b.rng, b.inst, b.noop, b.zlen, b.n
    z = random_inputs(rng, split.alphabet, zlen, width)
    which = uniform01(rng, n)
    where = uniform01(rng, n)
    ins, outs, steps, trunc, nrules = [], [], [], [], []
    for r in range(n):
        rules = split.pool.instructions[inst[r]]
        zr = z[r, : zlen[r]].tobytes().decode()
        if noop[r]:
            zr = noop_input(rng, split.alphabet, rules, zr, zlen[r : r + 1], width)
        else:
            x = rules[int(which[r] * len(rules))][0]
            at = int(where[r] * (len(zr) - len(x) + 1))
            zr = zr[:at] + x + zr[at + len(x) :]
        out, k, cut = run_markov(rules, zr, max_steps, max_len)
        ins.append(zr)
        outs.append(out)
        steps.append(k)
        trunc.append(cut)
        nrules.append(len(rules))
    return ins, outs, steps, trunc, nrules


def validate(cfg) -> None:
    """Inputs get one planted pattern (so ``occurrences`` stays [1]) and must hold the longest one; the
    ``markov`` section's numbers."""
    if cfg.occurrences != [1]:
        raise ConfigError("occurrences", "is a rewrite-task setting: Markov inputs get one planted pattern")
    for split in ("test_unseen", "test_seen"):
        if getattr(cfg.splits, split).occurrences not in (None, [1]):
            raise ConfigError(f"splits.{split}.occurrences",
                              "is a rewrite-task setting: Markov inputs get one planted pattern")
    for sp in (cfg.space, cfg.effective_test_space):
        if sp.x_len.max > cfg.input_len.min:
            raise ConfigError(
                "input_len", f"inputs of {cfg.input_len.min} characters cannot hold a {sp.x_len.max}-character pattern"
            )
    mk = cfg.markov
    if mk.rules.min < 1:
        raise ConfigError("markov.rules", f"must be >= 1, got {mk.rules.to_yaml()}")
    if not 0.0 <= mk.terminal_fraction <= 1.0:
        raise ConfigError("markov.terminal_fraction", f"must be within [0, 1], got {mk.terminal_fraction}")
    if mk.max_steps < 1:
        raise ConfigError("markov.max_steps", f"must be >= 1, got {mk.max_steps}")
    if mk.max_len < cfg.input_len.max:
        raise ConfigError("markov.max_len", f"must be >= input_len ({cfg.input_len.max}), got {mk.max_len}")


def pool_texts(pool: MarkovPool) -> list[str]:
    return pool.texts()


def sizes(cfg, xmin: int, ymax: int) -> TaskSizes:
    """Up to ``markov.rules`` rules per instruction; outputs up to ``markov.max_len``; the input is in the
    input and prompt columns."""
    return TaskSizes(cfg.markov.rules.max, cfg.markov.max_len, "markov.max_len", 2)


CARD_TEXT = ("Markov algorithms: apply the first rule (in order) whose pattern occurs, at its leftmost occurrence, "
             "and repeat until a terminal rule (`x ->. y`) fires or none applies.")

TASK = register(Task(
    name="markov",
    card_text=CARD_TEXT,
    schema=MARKOV_SCHEMA,
    sections=("markov",),
    validate=validate,
    draw_pools=draw_markov_pools,
    pool_texts=pool_texts,
    make_block=markov_block,
    sizes=sizes,
    scorer=Scorer(rule_length="n_rules", breakdowns=("truncated",), difficulty=("n_rules", "steps"),
                  partial="edit_similarity"),
))
