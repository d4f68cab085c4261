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

from generators.rewrite import COMMON_FIELDS, MAX_NOOP_REDRAWS, GenerationError, random_inputs, start_block
from generators.rng import generator, integers, uniform01
from generators.space import Exclusion, InstructionSpace

MARKOV_SCHEMA = pa.schema([*COMMON_FIELDS, ("n_rules", pa.int32()), ("steps", pa.int32()), ("truncated", pa.bool_())])

Rule = tuple[str, str, bool]  # pattern, replacement, terminal


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
    return z, steps, any(z.find(x) >= 0 for x, _, _ in rules)


@dataclass
class MarkovPool:
    instructions: list[list[Rule]]

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
        xs = sorted(self.patterns())
        width = max((len(x) for x in xs), default=1)
        mat = np.zeros((len(xs), width), dtype=np.uint8)
        for i, x in enumerate(xs):
            mat[i, : len(x)] = np.frombuffer(x, dtype=np.uint8)
        return mat, np.asarray([len(x) for x in xs], dtype=np.int64)

    def texts(self) -> list[str]:
        return [markov_text(r) for r in self.instructions]


def _group(cfg, rules, purpose: str, count: int) -> MarkovPool:
    rng = generator(cfg.seed, "markov-rules", purpose)
    sizes = integers(rng, cfg.markov.rules.min, cfg.markov.rules.max, count)
    terminal = uniform01(rng, int(sizes.sum())) < cfg.markov.terminal_fraction
    out, at = [], 0
    for s in sizes:
        out.append([(rules.x_str(at + j), rules.y_str(at + j), bool(terminal[at + j])) for j in range(int(s))])
        at += int(s)
    return MarkovPool(out)


def draw_markov_pools(cfg, train_space: InstructionSpace, test_space: InstructionSpace, n_test: int):
    """(test pool, train pool, exclusion): the test algorithms' rules first, then the training rules, all drawn
    from one exclusion, so no single rule appears in both (nor, with novel patterns, a test pattern)."""
    from generators.plan import exclude_patterns

    ex = Exclusion()
    rmax = cfg.markov.rules.max
    test_pool = _group(cfg, test_space.distinct(cfg.seed, "test_unseen", n_test * rmax, ex), "test_unseen", n_test)
    exclude_patterns(ex, test_pool, cfg.splits.test_unseen.novel_patterns, test_space)
    train_rules = train_space.distinct(cfg.seed, "train", cfg.instructions * rmax, ex)
    return test_pool, _group(cfg, train_rules, "train", cfg.instructions), ex


def markov_block(plan, split, block: int, attempt: int = 0) -> pa.RecordBatch:
    cfg = plan.cfg
    b = start_block(plan, split, block, attempt)
    rng, inst, noop, zlen, n = b.rng, b.inst, b.noop, b.zlen, b.n
    width = cfg.input_len.max
    z = random_inputs(rng, split.alphabet, zlen, width)
    which = uniform01(rng, n)
    where = uniform01(rng, n)
    enc = plan.cipher.encrypt
    ins, outs, prompts, steps, trunc, nrules = [], [], [], [], [], []
    for r in range(n):
        rules = split.pool.instructions[inst[r]]
        zr = z[r, : zlen[r]].tobytes().decode("ascii")
        if noop[r]:
            tries = 0
            while any(x in zr for x, _, _ in rules):
                tries += 1
                if tries > MAX_NOOP_REDRAWS:
                    raise GenerationError(
                        "could not make a no-op input that avoids every pattern of a Markov instruction; "
                        "raise space.x_len or the alphabet size"
                    )
                zr = random_inputs(rng, split.alphabet, zlen[r : r + 1], width)[0, : zlen[r]].tobytes().decode()
        else:
            x = rules[int(which[r] * len(rules))][0]
            at = int(where[r] * (len(zr) - len(x) + 1))
            zr = zr[:at] + x + zr[at + len(x) :]
        out, k, cut = run_markov(rules, zr, cfg.markov.max_steps, cfg.markov.max_len)
        ins.append(enc(zr))
        outs.append(enc(out))
        steps.append(k)
        trunc.append(cut)
        nrules.append(len(rules))
    texts = split.pool_text.to_pylist()
    for r in range(n):
        fields = {"rule": texts[inst[r]], "input": ins[r], "x": "", "y": ""}
        prompts.append("".join(t if kind == "lit" else fields[t] for kind, t in plan.template))
    noop_flags = np.asarray(steps) == 0
    output = pa.array(outs, pa.string())
    return pa.RecordBatch.from_arrays(
        [
            pa.array(split.global_ids(inst), pa.int64()),
            split.pool_text.take(pa.array(inst)),
            pa.array(ins, pa.string()),
            output,
            pa.array(prompts, pa.string()),
            output,
            pa.array(noop_flags, pa.bool_()),
            pa.array(nrules, pa.int32()),
            pa.array(steps, pa.int32()),
            pa.array(trunc, pa.bool_()),
        ],
        schema=MARKOV_SCHEMA,
    )
