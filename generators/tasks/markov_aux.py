"""Markov algorithms with auxiliary symbols: Markov's marker alphabet M beside the input alphabet A.

An instruction is an ordered list of rules, applied as in :mod:`generators.tasks.markov` (the first rule whose
pattern occurs fires at its leftmost occurrence; stop after a terminal rule, when none applies, or at the step
limit), but its rules are over A ∪ M while inputs are over A only:

- a *writer* (a share ``markov_aux.writers`` of the rules) has one marker inserted into its replacement, at a
  keyed random place: firing it writes the marker into the string;
- a *reader* (a share ``markov_aux.readers`` of the other rules, never an algorithm's first rule, and only in an
  algorithm that has a writer) has a marker one of its algorithm's writers writes put before its pattern: it can
  only fire once that marker is in the string.

Outputs may hold markers. Rules are drawn as Markov rules (train and unseen-test rules disjoint as single rules)
and then given their markers by streams keyed by the seed and the split, read at the rule's place, so the markers
of the first I instructions do not depend on I (from generator 2.1; in 2.0 they did). Inserting one marker is injective (removing it gives the rule
back), so distinct rules stay distinct. An op row's input holds the pattern of one of its algorithm's rules that
reads no marker; a no-op row's input holds none of them. The cipher (a bijection of A) leaves markers alone.

Flags: ``n_rules``, ``steps``, ``truncated`` as for Markov rows, and ``marker_in_output`` (the output holds a
marker), which the scorer breaks accuracy down by.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.config import ConfigModel, Float, Str
from core.errors import ConfigError
from generators.blocks import (
    COMMON_FIELDS,
    random_inputs,
    start_block,
    string_block,
)
from generators.rng import generator, uniform01
from generators.tasks.markov import (
    MarkovPool,
    draw_markov_pools,
    noop_input,
    pool_texts,
    run_markov,
)
from generators.tasks.markov import sizes as markov_sizes
from generators.tasks.markov import validate as markov_validate
from generators.tasks.registry import Scorer, Task, TaskSizes, register, register_section

SCHEMA = pa.schema([*COMMON_FIELDS, ("n_rules", pa.int32()), ("steps", pa.int32()), ("truncated", pa.bool_()),
                    ("marker_in_output", pa.bool_())])
RULE_SYNTAX = " ->.;"  # characters of the instruction text ("x ->. y; ..."): never a marker


class MarkovAuxConfig(ConfigModel):
    """The marker alphabet and how many rules write or read a marker (the rest of the algorithm is ``markov:``)."""

    markers: Str = "#$"
    writers: Float = 0.4
    readers: Float = 0.3


register_section("markov_aux", MarkovAuxConfig)


def with_markers(pool: MarkovPool, cfg, purpose: str, nested: bool = True) -> MarkovPool:
    """The pool's algorithms with their writers and readers (see the module docstring).

    A rule's role, marker and place come from the values at its place in the drawn rule sequence
    (``pool.places``) of three keyed streams (nested, generator 2.1: an algorithm's markers are a function of
    (seed, its id) alone), or, in generator 2.0, of one stream read in three consecutive parts whose boundaries
    moved with the number of instructions."""
    aux = cfg.markov_aux
    places = pool.places  # set by the draw (markov._group)
    n = max((a + len(r) for a, r in zip(places, pool.instructions)), default=0)
    if nested:
        role, which, where = (uniform01(generator(cfg.seed, "markov-aux", purpose, part), n)
                              for part in ("role", "which", "where"))
    else:
        rng = generator(cfg.seed, "markov-aux", purpose)
        role, which, where = uniform01(rng, n), uniform01(rng, n), uniform01(rng, n)
    out = []
    for rules, at in zip(pool.instructions, places):
        k = range(at, at + len(rules))
        written = []  # markers this algorithm's writers write
        new = list(rules)
        for j, i in enumerate(k):
            if role[i] < aux.writers:
                x, y, term = rules[j]
                m = aux.markers[int(which[i] * len(aux.markers))]
                p = int(where[i] * (len(y) + 1))
                new[j] = (x, y[:p] + m + y[p:], term)
                written.append(m)
        for j, i in enumerate(k):
            if j and written and new[j] == rules[j] and role[i] < aux.writers + aux.readers:
                x, y, term = rules[j]
                new[j] = (written[int(which[i] * len(written))] + x, y, term)
        out.append(new)
    return MarkovPool(out, list(places))


def draw_pools(cfg, train_space, test_space, n_test: int, behaviour=None):
    """Markov pools (test first, single rules disjoint), then each split's markers."""
    nested = behaviour is None or behaviour.nested_markov
    test_pool, train_pool, ex = draw_markov_pools(cfg, train_space, test_space, n_test, behaviour)
    return with_markers(test_pool, cfg, "test_unseen", nested), with_markers(train_pool, cfg, "train", nested), ex


def make_block(plan, split, block: int, attempt: int = 0) -> pa.RecordBatch:
    cfg = plan.cfg
    b = start_block(plan, split, block, attempt)
    rng, inst, noop, zlen, n = b.rng, b.inst, b.noop, b.zlen, b.n
    width, markers = cfg.input_len.max, set(cfg.markov_aux.markers)
    z = random_inputs(rng, split.alphabet, zlen, width)
    which, where = uniform01(rng, n), uniform01(rng, n)
    ins, outs, steps, trunc, nrules, marked = [], [], [], [], [], []
    for r in range(n):
        rules = split.pool.instructions[inst[r]]
        zr = z[r, : zlen[r]].tobytes().decode("ascii")
        if noop[r]:
            zr = noop_input(rng, split.alphabet, rules, zr, zlen[r : r + 1], width)
        else:  # plant the pattern of a rule that reads no marker (the first rule never does)
            plain = [x for x, _, _ in rules if not markers & set(x)]
            x = plain[int(which[r] * len(plain))]
            at = int(where[r] * (len(zr) - len(x) + 1))
            zr = zr[:at] + x + zr[at + len(x) :]
        out, k, cut = run_markov(rules, zr, cfg.markov.max_steps, cfg.markov.max_len)
        ins.append(zr)
        outs.append(out)
        steps.append(k)
        trunc.append(cut)
        nrules.append(len(rules))
        marked.append(bool(markers & set(out)))
    flags = [pa.array(nrules, pa.int32()), pa.array(steps, pa.int32()), pa.array(trunc, pa.bool_()),
             pa.array(marked, pa.bool_())]
    return string_block(plan, split, inst, inputs=ins, outputs=outs, is_noop=np.asarray(steps) == 0, flags=flags,
                        schema=SCHEMA)


def validate(cfg) -> None:
    """The Markov checks, then the markers: printable ASCII, each once, outside every alphabet and the rule
    syntax, and shares within [0, 1]."""
    markov_validate(cfg)
    aux = cfg.markov_aux
    m = aux.markers
    if not m or len(set(m)) != len(m):
        raise ConfigError("markov_aux.markers", f"must be non-empty, each character once, got {m!r}")
    if any(ord(c) > 127 or not c.isprintable() or c.isspace() for c in m):
        raise ConfigError("markov_aux.markers", "must hold printable ASCII characters (no spaces) only")
    for sp, where in ((cfg.space, "space"), (cfg.effective_test_space, "test_space")):
        shared = sorted(set(m) & set(sp.alphabet))
        if shared:
            raise ConfigError("markov_aux.markers", f"{''.join(shared)!r} also in {where}.alphabet: markers are "
                                                    f"symbols outside the input alphabet")
    syntax = sorted(set(m) & set(RULE_SYNTAX))
    if syntax:
        raise ConfigError("markov_aux.markers", f"{''.join(syntax)!r} is part of the rule syntax (x ->. y; ...)")
    for name in ("writers", "readers"):
        share = getattr(aux, name)
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"markov_aux.{name}", f"must be within [0, 1], got {share}")


def sizes(cfg, xmin: int, ymax: int) -> TaskSizes:
    """As Markov rows (a marker adds one character to a rule: within the estimates' margins)."""
    return markov_sizes(cfg, xmin, ymax)


TASK = register(Task(
    name="markov_aux",
    card_text=("Markov algorithms with auxiliary symbols: ordered rules over the input alphabet and marker symbols "
               "(inputs use the alphabet only). Some rules write a marker into the string, some fire only on a "
               "marker another rule wrote; apply the first rule whose pattern occurs, at its leftmost occurrence, "
               "until a terminal rule (`x ->. y`) fires or none applies. Outputs may hold markers."),
    schema=SCHEMA,
    sections=("markov", "markov_aux"),
    validate=validate,
    draw_pools=draw_pools,
    pool_texts=pool_texts,
    make_block=make_block,
    sizes=sizes,
    scorer=Scorer(rule_length="n_rules", breakdowns=("marker_in_output", "truncated"), difficulty=("n_rules", "steps"),
                  partial="edit_similarity"),
))
