"""Rewriting with abstraction (the later version's third synthetic family, arXiv 2410.04717): apply an algebraic rule
whose variables stand for whole sub-expressions to a random expression tree.

An instruction is a rule ``lhs -> rhs`` over the variables ``abstraction.metavariables`` (``a^2-b^2 ->
(a+b)*(a-b)``). The input is an expression over ``abstraction.symbols`` and ``abstraction.constants``; the output
is the input with the first sub-tree the left side matches, in pre-order (the outermost, then the leftmost: the
tree analogue of the string task's leftmost occurrence), replaced by the right side under the same bindings. Each
variable matches any sub-tree, the same one wherever it occurs; everything else must be equal. Trees are written
as :mod:`generators.tasks.expressions` writes them (fewest parentheses, no spaces), so input and output are texts.

Two kinds of rules (the paper's specialist rule set R_spec and diversification rules R_diver):

- *specialist*: polynomial identities, expanding a product or power of two-term sums or factoring it back
  (``(a+b)^2 -> a^2+2*a*b+b^2``, ``a^2-b^2 -> (a+b)*(a-b)``). The grammar (every ``u ± v`` with ``u`` a variable
  and ``v`` a later variable or a constant; their squares, cubes and pairwise products; a variable times one) is
  enumerated whole, so the space is exact and finite (238 rules over ``abc`` and ``123``);
- *diversification*: random rewrites of the same trees that are not identities (``(a-b)*c -> b+c^2``): a left side
  of depth ``abstraction.diversification_rule_depth`` and a right side over its variables; drawn at random.

A rule is identified by its left side up to renaming its variables and reordering the operands of ``+`` and ``*``
(:func:`~generators.tasks.expressions.canonical_up_to_renaming`): no two rules of a dataset share one, specialist
left sides are never diversification left sides, and the unseen test rules share none with training (checked by
:func:`generators.plan.check_disjoint`, recorded on the card). Training rules are the first ``I - n`` specialist
rules of a keyed order of the whole space, read from its end, and the first ``n`` diversification rules of a
keyed stream (``n = round(abstraction.diversification * I)``); the unseen test rules are read from the other end
of the same order and from their own stream. So a training rule is a function of (seed, kind, its place), and
training sets are nested as I grows at a fixed ``n``, or at a fixed I as ``n`` grows (the specialist part shrinks
from its end).

Rows: a random tree of depth ``abstraction.depth`` (d) has one of its non-root sub-trees replaced by the rule's
left side with each variable bound to a random tree of depth at most d_p (one of them exactly d_p): d_p is
``abstraction.binding_depth`` in train and validation rows and ``abstraction.test_binding_depth`` in the test
splits (the paper trains on smaller d_p than it tests on). A row whose first match binds trees outside the split's
d_p range (another sub-tree matched first), whose input or output is longer than ``abstraction.max_chars``, or
whose output equals its input up to the order of + and * operands, is drawn again. No-op rows (``noop_fraction``)
hold a tree the left side matches nowhere.

Scoring: an answer is right when it writes the expected tree up to reordering and regrouping the operands of
``+`` and ``*`` (:func:`~generators.tasks.expressions.equivalent`); not when it only has the same value: every
specialist rule is an identity, so the input itself has the output's value, and a polynomial normal form would
score leaving the input unchanged as right. Flags: ``rule_kind``, ``rule_depth``, ``binding_depth`` (d_p of the
match that fired), ``match_depth`` (depth of the matched sub-tree) and ``depth`` (of the input).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations

import numpy as np
import pyarrow as pa

from core.config import ConfigModel, Float, Int, Str
from core.errors import ConfigError
from generators.blocks import COMMON_FIELDS, GenerationError, start_block, string_block
from generators.fields import RangeField, range_default
from generators.rng import derive_key, feistel_permute, generator, uniform01
from generators.space import pattern_matrix
from generators.tasks.expressions import (
    Tree,
    at,
    canonical,
    canonical_up_to_renaming,
    depth,
    equivalent,
    expanded,
    first_match,
    leaves,
    normalize_variables,
    ordered_terms,
    polynomial,
    rename,
    replace,
    substitute,
    subtrees,
    to_text,
)
from generators.tasks.registry import Scorer, Task, TaskSizes, register, register_section

SCHEMA = pa.schema([*COMMON_FIELDS, ("rule_kind", pa.string()), ("rule_depth", pa.int32()),
                    ("binding_depth", pa.int32()), ("match_depth", pa.int32()), ("depth", pa.int32())])
SPECIALIST, DIVERSIFICATION = "specialist", "diversification"
TEST_SPLITS = ("test_seen", "test_unseen")
DRAWN_OPERATORS = "++--**^"  # a node of a random tree: + - * twice as often as ^
EXPONENTS = "23"
MAX_ROW_REDRAWS = 1000  # the worst shipped setting fits a row in 1 draw of 16: a failure is a config that cannot fit
MAX_DEPTH = 8  # depth, binding depths and rule depths: deeper trees outgrow any row length a model can train on
MIN_CHARS = 16
MAX_METAVARIABLES = 4
MAX_RULE_MISSES = 5000


class AbstractionConfig(ConfigModel):
    """Rewriting with abstraction (see :mod:`generators.tasks.abstraction`): tree depths, the mix of rule kinds and
    the symbols. The paper's values are unknown beyond d_p(train) < d_p(test): every default is our choice."""

    depth: RangeField = range_default(2, 3)  # d: depth of the random tree the rule's instance is planted in
    binding_depth: RangeField = range_default(0, 1)  # d_p of train and validation rows
    test_binding_depth: RangeField = range_default(2)  # d_p of test_seen and test_unseen rows
    diversification: Float = 0.0  # share of diversification rules among the I training rules (rounded)
    test_diversification: Float = 0.0  # share of diversification rules among the unseen test rules
    diversification_rule_depth: RangeField = range_default(2)  # depth of a diversification rule's left side
    metavariables: Str = "abc"  # the rules' variables
    symbols: Str = "xyz"  # the expressions' letters
    constants: Str = "123"  # the expressions' numbers (and the rules')
    max_chars: Int = 120  # longest input or output; longer draws are drawn again


register_section("abstraction", AbstractionConfig)


@dataclass(frozen=True)
class Rule:
    lhs: Tree
    rhs: Tree
    kind: str
    key: bytes  # the left side up to renaming and + / * operand order

    @property
    def text(self) -> str:
        return f"{to_text(self.lhs)} -> {to_text(self.rhs)}"


@dataclass
class RulePool:
    """A split's rules (specialist first, then diversification), with what :mod:`generators.plan` asks of a pool."""

    rules: list[Rule]

    def __len__(self) -> int:
        return len(self.rules)

    def rule_keys(self) -> list[bytes]:
        """One key per rule: its left side up to renaming its variables and the order of + and * operands, so the
        plan's single-rule disjointness check is a check that no left side is shared."""
        return [r.key for r in self.rules]

    def patterns(self) -> set[bytes]:
        return set(self.rule_keys())

    def pattern_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        return pattern_matrix(self.patterns())

    def texts(self) -> list[str]:
        return [r.text for r in self.rules]

    def replacements(self) -> list[bytes]:
        """The right side of every rule, as printed (the dataset's replacement-novelty report)."""
        return [to_text(r.rhs).encode() for r in self.rules]

    def kinds(self) -> list[str]:
        return [r.kind for r in self.rules]

    def take(self, idx) -> RulePool:
        return RulePool([self.rules[i] for i in idx])


class Draws:
    """Uniform numbers read one at a time from a Philox stream (:func:`generators.rng.uniform01`, fetched in
    chunks): the n-th number depends only on the stream's key and n."""

    CHUNK = 4096

    def __init__(self, rng: np.random.Generator):
        self.rng, self.buf, self.at = rng, [], 0

    def uniform(self) -> float:
        if self.at == len(self.buf):
            self.buf, self.at = uniform01(self.rng, self.CHUNK).tolist(), 0
        self.at += 1
        return self.buf[self.at - 1]

    def below(self, n: int) -> int:
        return min(int(self.uniform() * n), n - 1)

    def between(self, lo: int, hi: int) -> int:
        return lo + self.below(hi - lo + 1)

    def choice(self, seq):
        return seq[self.below(len(seq))]


def random_tree(draw: Draws, d: int, leaf_symbols: str) -> Tree:
    """A random tree of depth exactly ``d``: one operand of each node continues to depth d - 1 (on a random side),
    the other gets a depth drawn from 0 .. d - 1; leaves uniform over ``leaf_symbols``; a ``^`` node's base
    continues and its exponent is 2 or 3."""
    if d == 0:
        return draw.choice(leaf_symbols)
    op = draw.choice(DRAWN_OPERATORS)
    if op == "^":
        return ("^", random_tree(draw, d - 1, leaf_symbols), draw.choice(EXPONENTS))
    deep, other = random_tree(draw, d - 1, leaf_symbols), random_tree(draw, draw.between(0, d - 1), leaf_symbols)
    return (op, deep, other) if draw.uniform() < 0.5 else (op, other, deep)


# ---- rules ------------------------------------------------------------------------------------------------


def _rule(lhs: Tree, rhs: Tree, kind: str, variables: str) -> Rule:
    lhs, rhs = normalize_variables(lhs, rhs, variables)
    return Rule(lhs, rhs, kind, canonical_up_to_renaming(lhs, variables).encode())


def _first_appearance(t: Tree, variables: str) -> list[str]:
    return [v for v in dict.fromkeys(leaves(t)) if v in variables]


def _factorization(f: Tree, variables: str) -> tuple[Tree, Tree]:
    """The rule ``E -> F`` for a factored form F, its variables renamed so that E (the left side, in the order of
    :func:`~generators.tasks.expressions.expanded`) starts with its leading monomial, positive, and writes the
    variables in alphabetical order: the first renaming that does both, else the first that does the first (a
    renaming always exists that starts E with a positive leading monomial: the one that keeps F's names)."""
    used = _first_appearance(f, variables)
    best = None
    for names in permutations(variables[: len(used)]):
        g = rename(f, dict(zip(used, names)))
        p = polynomial(g)
        e = expanded(p, variables)
        score = (ordered_terms(p, variables)[0][1] < 0, _first_appearance(e, variables) != sorted(names))
        if best is None or score < best[0]:
            best = (score, e, g)
    return best[1], best[2]


@lru_cache(maxsize=8)
def specialist_rules(variables: str, constants: str) -> tuple[Rule, ...]:
    """Every specialist rule, each left side once (the first in this order): for every factored form F (squares and
    cubes of ``u ± v``, products of two of them, a variable times one; ``u`` a variable, ``v`` a later variable or
    a constant, so every form and its expansion lead with a positive term) the expansion ``F -> E`` and the
    factorization ``E -> F``, E being F's expanded form (:func:`~generators.tasks.expressions.expanded`)."""
    sums = [(op, u, v) for i, u in enumerate(variables) for v in variables[i + 1 :] + constants for op in "+-"]
    factored: list[Tree] = [("^", s, e) for s in sums for e in EXPONENTS]
    factored += [("*", s, t) for s in sums for t in sums]
    factored += [("*", m, s) for m in variables for s in sums]
    out: dict[bytes, Rule] = {}
    for f in factored:
        lhs, rhs = normalize_variables(f, f, variables)
        for r in (_rule(lhs, expanded(polynomial(rhs), variables), SPECIALIST, variables),
                  _rule(*_factorization(f, variables), SPECIALIST, variables)):
            out.setdefault(r.key, r)
    return tuple(out.values())


def _free_rule(draw: Draws, ab) -> Rule | None:
    """One diversification candidate: a random left side (at least one variable) and a random right side over its
    variables and the constants that is not the same tree up to + / * order and not an identity; None if not."""
    pattern_leaves = ab.metavariables * 3 + ab.constants  # a leaf is a variable three times as often as a number
    lhs = random_tree(draw, draw.between(ab.diversification_rule_depth.min, ab.diversification_rule_depth.max),
                      pattern_leaves)
    used = "".join(sorted({v for v in leaves(lhs) if v in ab.metavariables}))
    if not used:
        return None
    rhs = random_tree(draw, draw.between(0, ab.diversification_rule_depth.max), used * 3 + ab.constants)
    if canonical(lhs) == canonical(rhs) or polynomial(lhs) == polynomial(rhs):
        return None
    return _rule(lhs, rhs, DIVERSIFICATION, ab.metavariables)


def _free_rules(cfg, purpose: str, count: int, taken: set[bytes]) -> list[Rule]:
    """The first ``count`` diversification rules of the stream (seed, purpose) whose left sides are not in
    ``taken`` (which grows)."""
    ab = cfg.abstraction
    draw = Draws(generator(cfg.seed, "abstraction-rules", purpose))
    out: list[Rule] = []
    misses = 0  # candidates in a row that gave no new rule: the space is (nearly) used up
    while len(out) < count:
        if misses > MAX_RULE_MISSES:
            raise ConfigError(
                "abstraction.diversification_rule_depth",
                f"drew only {len(out)} of the {count} distinct diversification rules asked for ({purpose}): "
                f"{MAX_RULE_MISSES} candidates in a row were rules already drawn; raise the rule depth or ask for fewer",
            )
        r = _free_rule(draw, ab)
        if r is not None and r.key not in taken:
            taken.add(r.key)
            out.append(r)
            misses = 0
        else:
            misses += 1
    return out


def share(fraction: float, n: int) -> int:
    """``round(fraction * n)``, halves up."""
    return int(math.floor(fraction * n + 0.5))


def draw_pools(cfg, train_space, test_space, n_test: int, behaviour=None):
    """(test pool, train pool, None): specialist rules from the two ends of one keyed order of the whole space
    (test from the front, training from the back, so neither depends on the other's count), then diversification
    rules from their streams, test first (see the module docstring). The family is new in generator 2.1: an
    earlier version's rows cannot be asked of it."""
    if behaviour is not None and behaviour.version == "2.0":
        raise ConfigError("task", "the abstraction family is new in generator 2.1: generator 2.0 made no such rows")
    ab = cfg.abstraction
    spec = specialist_rules(ab.metavariables, ab.constants)
    n_div, n_test_div = share(ab.diversification, cfg.instructions), share(ab.test_diversification, n_test)
    n_spec, n_test_spec = cfg.instructions - n_div, n_test - n_test_div
    if n_spec + n_test_spec > len(spec):
        raise ConfigError(
            "instructions",
            f"{n_spec} training + {n_test_spec} unseen test specialist rules exceed the {len(spec)} the specialist "
            f"space holds (metavariables {ab.metavariables!r}, constants {ab.constants!r}): ask for fewer, or raise "
            "abstraction.diversification",
        )
    order = feistel_permute(derive_key(cfg.seed, "abstraction", "specialist-order"), len(spec), np.arange(len(spec)))
    test_rules = [spec[int(i)] for i in order[:n_test_spec]]
    train_rules = [spec[int(order[len(spec) - 1 - k])] for k in range(n_spec)]
    taken = {r.key for r in spec}  # no diversification rule has a specialist left side, drawn or not
    test_rules += _free_rules(cfg, "test_unseen", n_test_div, taken)
    train_rules += _free_rules(cfg, "train", n_div, taken)
    return RulePool(test_rules), RulePool(train_rules), None


# ---- rows -------------------------------------------------------------------------------------------------


def make_row(draw: Draws, rule: Rule, noop: bool, ab, binding: tuple[int, int]) -> tuple[str, str, dict]:
    """One row (input, output, flags) for ``rule`` (see the module docstring), drawn again until it fits."""
    expression_leaves = ab.symbols + ab.constants
    variables = [v for v in dict.fromkeys(leaves(rule.lhs)) if v in ab.metavariables]
    for _ in range(MAX_ROW_REDRAWS):
        tree = random_tree(draw, draw.between(ab.depth.min, ab.depth.max), expression_leaves)
        if noop:
            text = to_text(tree)
            if len(text) <= ab.max_chars and first_match(rule.lhs, tree, ab.metavariables) is None:
                return text, text, {"binding_depth": -1, "match_depth": -1, "depth": depth(tree)}
            continue
        dp = draw.between(*binding)
        exact = draw.choice(variables)
        bound = {v: random_tree(draw, dp if v == exact else draw.between(0, dp), expression_leaves) for v in variables}
        paths = [p for p, _ in subtrees(tree)][1:]  # never the root: the instance sits inside a context
        tree = replace(tree, draw.choice(paths), substitute(rule.lhs, bound))
        path, found = first_match(rule.lhs, tree, ab.metavariables)
        out = replace(tree, path, substitute(rule.rhs, found))
        dp_found = max(depth(found[v]) for v in variables)
        text, out_text = to_text(tree), to_text(out)
        if (binding[0] <= dp_found <= binding[1] and max(len(text), len(out_text)) <= ab.max_chars
                and canonical(out) != canonical(tree)):
            match_depth = depth(at(tree, path))
            return text, out_text, {"binding_depth": dp_found, "match_depth": match_depth, "depth": depth(tree)}
    what = "a no-op expression the left side matches nowhere" if noop else "a row"
    raise GenerationError(
        f"could not make {what} for the rule {rule.text!r} within abstraction.max_chars = {ab.max_chars} and "
        f"d_p {list(binding)} in {MAX_ROW_REDRAWS} draws; raise abstraction.max_chars or lower abstraction.depth "
        "and the binding depths"
    )


def make_block(plan, split, block: int, attempt: int = 0) -> pa.RecordBatch:
    ab = plan.cfg.abstraction
    b = start_block(plan, split, block, attempt)
    binding = ab.test_binding_depth if split.name in TEST_SPLITS else ab.binding_depth
    draw = Draws(b.rng)
    ins, outs, flags = [], [], {"rule_kind": [], "rule_depth": [], "binding_depth": [], "match_depth": [], "depth": []}
    for r in range(b.n):
        rule = split.pool.rules[b.inst[r]]
        text, out, f = make_row(draw, rule, bool(b.noop[r]), ab, (binding.min, binding.max))
        ins.append(text)
        outs.append(out)
        f.update(rule_kind=rule.kind, rule_depth=depth(rule.lhs))
        for k, v in f.items():
            flags[k].append(v)
    columns = [pa.array(flags["rule_kind"], pa.string())]
    columns += [pa.array(flags[k], pa.int32()) for k in ("rule_depth", "binding_depth", "match_depth", "depth")]
    return string_block(plan, split, b.inst, inputs=ins, outputs=outs, is_noop=b.noop, flags=columns, schema=SCHEMA)


# ---- config checks, sizes, card ---------------------------------------------------------------------------


def _letters(value: str, field: str) -> None:
    ok = value and len(set(value)) == len(value) and all(c.isascii() and c.islower() for c in value)
    if not ok:
        raise ConfigError(field, f"must be distinct lowercase letters, got {value!r}")


def validate(cfg) -> None:
    """The shared fields this task cannot use, then the ``abstraction`` section."""
    if cfg.occurrences != [1]:
        raise ConfigError("occurrences", "is a rewrite-task setting: the abstraction task plants one instance")
    if cfg.cipher.kind != "none":
        raise ConfigError("cipher.kind", "the abstraction task has no cipher (its texts are expressions)")
    if cfg.test_space is not None:
        raise ConfigError("test_space", "is a string-rule space: the abstraction task draws its own rules")
    if cfg.splits.test_unseen.novel_patterns != "none":
        raise ConfigError("splits.test_unseen.novel_patterns", "the abstraction task always keeps unseen left sides "
                                                               "out of training (up to renaming and + / * order)")
    if "{rule}" not in cfg.prompt_template:
        raise ConfigError("prompt_template", "must contain {rule} (an abstraction rule has no {x} / {y})")
    ab = cfg.abstraction
    _letters(ab.metavariables, "abstraction.metavariables")
    _letters(ab.symbols, "abstraction.symbols")
    if not 2 <= len(ab.metavariables) <= MAX_METAVARIABLES:
        raise ConfigError("abstraction.metavariables", f"give 2 to {MAX_METAVARIABLES} variables, got "
                                                       f"{ab.metavariables!r} (a specialist rule uses at most 4; rules "
                                                       "differing only by their variables' names are one rule)")
    shared = sorted(set(ab.metavariables) & set(ab.symbols))
    if shared:
        raise ConfigError("abstraction.symbols", f"{''.join(shared)!r} is also a rule variable (metavariables)")
    c = ab.constants
    if not c or len(set(c)) != len(c) or any(d not in "123456789" for d in c):
        raise ConfigError("abstraction.constants", f"must be distinct digits 1-9, got {c!r}")
    for name in ("depth", "binding_depth", "test_binding_depth", "diversification_rule_depth"):
        r = getattr(ab, name)
        low = 1 if name in ("depth", "diversification_rule_depth") else 0
        if r.min < low or r.max > MAX_DEPTH:
            raise ConfigError(f"abstraction.{name}", f"must lie within [{low}, {MAX_DEPTH}], got {r.to_yaml()}")
    for name in ("diversification", "test_diversification"):
        x = getattr(ab, name)
        if not 0.0 <= x <= 1.0:
            raise ConfigError(f"abstraction.{name}", f"must be within [0, 1], got {x}")
    if ab.max_chars < MIN_CHARS:
        raise ConfigError("abstraction.max_chars", f"must be >= {MIN_CHARS}, got {ab.max_chars}")


def pool_texts(pool: RulePool) -> list[str]:
    return pool.texts()


def sizes(cfg, xmin: int, ymax: int) -> TaskSizes:
    """One rule per instruction, outputs of up to ``abstraction.max_chars``; no text column holds random
    characters of the string space (so the least-bytes bound is 0)."""
    return TaskSizes(1, cfg.abstraction.max_chars, "abstraction.max_chars", 0)


def card_knobs(config: dict) -> str:
    """The card's sentence on this task's settings (in place of the string tasks' lengths and alphabet)."""
    ab = config["abstraction"]
    return (
        f"Expressions over `{ab['symbols']}` and `{ab['constants']}` (operators + - * ^): random trees of depth "
        f"{ab['depth']} with one sub-tree replaced by an instance of the rule's left side; the rule's variables "
        f"(`{ab['metavariables']}`) stand for trees of depth d_p = {ab['binding_depth']} in train and validation "
        f"rows and {ab['test_binding_depth']} in test rows; inputs and outputs of at most {ab['max_chars']} "
        f"characters. Diversification rules: a share of {ab['diversification']} of the training rules and "
        f"{ab['test_diversification']} of the unseen test rules (left sides of depth "
        f"{ab['diversification_rule_depth']}); the rest are specialist rules. No-op fraction {config['noop_fraction']}."
    )


def instruction_space(cfg) -> dict:
    """The size of the rule space for ``datagen.json``: the specialist space is enumerated whole; the
    diversification space is sampled."""
    spec = specialist_rules(cfg.abstraction.metavariables, cfg.abstraction.constants)
    return {"train_size": str(len(spec)), "test_size": str(len(spec)),
            "train_mode": "specialist rules enumerated; diversification rules sampled beyond them"}


CARD_TEXT = (
    "Rewriting with abstraction: apply the algebraic rule `lhs -> rhs`, whose variables stand for any sub-expression "
    "(the same one wherever a variable occurs), to the first sub-tree of the input expression the left side matches "
    "(outermost, then leftmost), writing the result with the fewest parentheses. Specialist rules are polynomial "
    "identities (expanding or factoring); diversification rules are rewrites of the same trees that are not "
    "identities. Unseen test rules share no left side with training rules, up to renaming variables and the order "
    "of + and * operands. An answer is scored right when it is the expected tree up to reordering and regrouping "
    "the operands of + and *."
)

@dataclass(frozen=True)
class AbstractionScorer(Scorer):
    """An answer is right when it is the expected tree up to the order and grouping of ``+`` and ``*`` operands
    (:func:`generators.tasks.expressions.equivalent`), not when it merely has the same value."""

    def equivalent(self, predicted: str, expected: str) -> bool:
        return equivalent(predicted, expected)


TASK = register(Task(
    name="abstraction",
    card_text=CARD_TEXT,
    schema=SCHEMA,
    sections=("abstraction",),
    validate=validate,
    draw_pools=draw_pools,
    pool_texts=pool_texts,
    make_block=make_block,
    sizes=sizes,
    scorer=AbstractionScorer(rule_length="rule_depth", breakdowns=("rule_kind", "binding_depth", "depth"),
                             difficulty=("depth", "binding_depth"), partial="edit_similarity"),
    card_knobs=card_knobs,
    instruction_space=instruction_space,
))
