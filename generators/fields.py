"""The shared sections of a generator config: what every synthetic task has (the instruction space, the
frequency distribution, the splits, the prompt template), and their checks.

Task-specific sections (``markov:``) belong to their task module (:mod:`generators.tasks`); the cipher to
:mod:`generators.cipher`; :mod:`generators.config` assembles the whole config from them.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, PlainSerializer, PlainValidator

from core.config import Bool, ConfigModel, Float, Int, OptStr, ScalarList, Str, invalid
from core.errors import ConfigError

STRUCTURES = ("random", "repeated", "periodic", "mirrored")
NOVEL_PATTERNS = ("none", "test_patterns", "test_space")
K_RULES = ("any", "divides")
#: The ``instruction_id`` of unseen-test rule j is ``UNSEEN_ID_BASE + j`` (generator 2.1 on): above every training
#: id (``instructions`` is validated below it), and the same whatever I is, so the split does not depend on I.
UNSEEN_ID_BASE = 10**12
HELDOUT_LIMIT = 10_000_000  # validation rows (and test_seen prompts) are made in memory with the plan
DISTRIBUTIONS = ("uniform", "power_law", "explicit")


@dataclass(frozen=True)
class Range:
    """An inclusive integer range, written in YAML as ``20`` or ``[5, 20]``."""

    min: int
    max: int

    @property
    def fixed(self) -> bool:
        return self.min == self.max

    def values(self) -> range:
        return range(self.min, self.max + 1)

    def to_yaml(self) -> int | list[int]:
        return self.min if self.fixed else [self.min, self.max]


def _range(value: Any) -> Range:
    if isinstance(value, Range):
        return value
    if isinstance(value, bool):
        raise invalid(f"must be an integer or [min, max], got {value!r}")
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        lo, hi = value
    elif isinstance(value, dict) and set(value) == {"min", "max"} and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value.values()
    ):
        lo, hi = value["min"], value["max"]
    else:
        raise invalid(f"must be an integer or [min, max], got {value!r}")
    if lo > hi:
        raise invalid(f"min {lo} is larger than max {hi}")
    return Range(int(lo), int(hi))


#: A :class:`Range` field: ``20``, ``[5, 20]`` or ``{min: 5, max: 20}`` in YAML; written back as ``20`` / ``[5, 20]``.
RangeField = Annotated[Range, PlainValidator(_range), PlainSerializer(lambda r: r.to_yaml())]


def range_default(lo: int, hi: int | None = None) -> Any:
    """A field default: the range ``[lo, hi]`` (``[lo, lo]`` without ``hi``)."""
    return Field(default_factory=lambda: Range(lo, lo if hi is None else hi))


class SpaceConfig(ConfigModel):
    """The instruction space: rules ``x -> y``.

    ``x`` (the pattern) is drawn from ``x_alphabet`` (default: the whole alphabet) with one of the
    ``structures``; ``y`` (the replacement) is a random string over ``alphabet``. Structures, for a pattern of
    length L and structure parameter k (k = 1 is always an unstructured random string):

    - ``random``: every character free.
    - ``repeated``: runs of k equal characters (``aaabbbccc`` has k = 3).
    - ``periodic``: a base of length ceil(L/k) repeated k times (``abcabc`` has k = 2).
    - ``mirrored``: k segments of length ceil(L/k), alternately the base and its reverse
      (``abccbaabc`` has k = 3).

    ``k_rule``: ``divides`` keeps only the k that divide the pattern length L, the papers' literal families
    (every run or segment has the same length; their examples all have k | L); ``any`` (the default, and all
    that generator 2.0 knew) extends each family to every k, the last run or segment cut short (repeated k = 7 at
    L = 60: eight runs of 7 and one of 4). At L = 60 the divisors 3, 4, 5, 6, 10, 12, 15, 20, 30, 60 end every
    k range of the paper's grid (3-4 ... 3-60).

    Restricting ``x_alphabet`` or the structures (and k) names a semantic sub-space; ``test_space`` in the
    generator config can draw the unseen test instructions from another one.

    The family mix: the space's pattern *classes* are the distinct index maps of its (structure, k, length)
    combinations (k = 1 of every structure is the one random class; combinations with the same map, e.g.
    periodic k = 31 ... 59 at length 60, are one class). Each draw picks a class uniformly, then its free
    characters uniformly, so before de-duplication every class gets the same share of draws, whatever its size.
    A pattern that two classes make (``aaaabbbb``: repeated k = 4 and k = 2) is one pattern with the summed
    probability, and is counted once; distinct-rule sampling drops repeats, so a class with few patterns
    (repeated k = L: one per letter) is used up early and the realized mix shifts towards large classes as the
    number of instructions grows. ``datagen.json`` (``patterns``) records how many training patterns also lie
    in the test space.
    """

    alphabet: Str = "abcdefghijklmnopqrstuvwxyz"
    x_alphabet: OptStr = None
    x_len: RangeField = range_default(20)
    y_len: RangeField = range_default(20)
    structures: ScalarList(Str) = Field(default_factory=lambda: ["random"])
    k: RangeField = range_default(1)
    k_rule: Str = "any"


class DistributionConfig(ConfigModel):
    """How the N training examples are spread over the I training instructions (exact counts, summing to N).

    - ``uniform``: N / I each (exactly S when N = I x S; otherwise the budget spread as evenly as possible:
      ``N mod I`` instructions get one more).
    - ``power_law`` (the paper's imbalance experiment): one weight per instruction drawn from the density
      ``f(w) = alpha * w**(alpha - 1)`` on (0, 1] (``w = u**(1/alpha)``, u uniform, from a stream keyed by the
      seed and the instruction's index: instruction i keeps its weight whatever I is), and counts proportional
      to the weights, rounded by the largest-remainder rule. Skew grows along the paper's axis uniform, 2, 1,
      0.5, 0.2, 0.1, 0.07, 0.03 (alpha = 1 is not uniform: its weights are uniform on (0, 1]).
    - ``explicit``: ``weights`` (one per instruction, any non-negative scale), rounded the same way.

    An instruction whose count rounds to zero stays in the pool (its id exists and the report counts it) but
    has no training rows, and ``test_seen`` / ``validation`` never use it. ``datagen.json`` reports, for the
    train split, ``distinct_instructions`` (those with at least one example) and ``effective_instructions``
    (exp of the entropy of the count distribution).
    """

    kind: Str = "uniform"
    alpha: Float = 1.0
    weights: ScalarList(Float) | None = None


class TestUnseenConfig(ConfigModel):
    """Unseen-instruction test split: ``instructions`` new rules, ``examples`` rows (cycling over the rules).

    No single unseen rule is ever a training rule. ``novel_patterns`` keeps their patterns out of training too:

    - ``none``: training rules may reuse an unseen rule's pattern x (with another replacement);
    - ``test_patterns``: no training rule's x equals any unseen rule's x (the unseen rules are drawn first and
      their patterns excluded from the training draw);
    - ``test_space`` (needs ``test_space``): as ``test_patterns``, and no training pattern lies in the test
      space at all: none has its length and characters and repeats its characters as one of the test space's
      structured classes requires (``aaaabbbb``, repeated k = 4, is also repeated k = 2). The random class
      (k = 1) holds every string of its length, so it is covered by the verbatim rule only.

    Unset, it is ``test_space`` when the config names a ``test_space`` (training patterns then never fall in it,
    by construction) and ``none`` otherwise; the config records the value it took. With a ``test_space``,
    writing ``none`` or ``test_patterns`` is the opt-out (an unrestricted comparator that may train inside the
    test space): ``datagen.json`` and the card record it and count the training patterns inside.

    ``novel_replacements``: no training rule's replacement y is an unseen rule's replacement either (in a small
    replacement space, e.g. 64 strings of 2 over 8 letters, most unseen replacements otherwise occur in training
    once I is in the hundreds). ``datagen.json`` reports, either way, the share of unseen rules whose replacement
    occurs in training (``patterns.unseen_replacements_in_train``).

    ``occurrences``: how many times an op input holds x (rewrite task); unset, the paper's test (1 to 20, where
    inputs hold 20 copies of the longest pattern one character apart; otherwise the training ``occurrences``).
    """

    instructions: Int = 100
    examples: Int = 1000
    novel_patterns: OptStr = None
    novel_replacements: Bool = False
    occurrences: ScalarList(Int) | None = None


class TestSeenConfig(ConfigModel):
    """Seen-instruction test split: ``examples`` new rows over the training instructions that have examples,
    visited in a keyed random order (a uniform sample of them when there are more rules than rows), cycling.
    ``occurrences``: as for ``test_unseen`` (unset: the paper's 1 to 20 where inputs fit them, else training's)."""

    examples: Int = 1000
    occurrences: ScalarList(Int) | None = None


class ValidationConfig(ConfigModel):
    """Held-out rows of the training rules (new inputs) for eval loss, early stopping and model selection:
    ``examples`` rows whose rules are a sample of the training rows' rules (the training mix), with inputs from
    their own random stream; no validation prompt equals a ``test_seen`` prompt (see ``generators.heldout``)."""

    examples: Int = 500


class SplitsConfig(ConfigModel):
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    test_unseen: TestUnseenConfig = Field(default_factory=TestUnseenConfig)
    test_seen: TestSeenConfig = Field(default_factory=TestSeenConfig)


# ---------------------------------------------------------------------------------------------------------
# Checks of the shared fields (each names the field at fault)


def check_name(name: str, where: str) -> None:
    """Names become folder and repository names: non-empty, no slashes or whitespace."""
    if not name or any(c in name for c in "/\\ \t\n"):
        raise ConfigError(where, f"must be a non-empty name without slashes or spaces, got {name!r}")


def check_seed(seed: int) -> None:
    if seed < 0:
        raise ConfigError("seed", f"must be >= 0, got {seed}")


def validate_distribution(cfg) -> None:
    """The ``distribution`` section against the instruction count."""
    d = cfg.distribution
    if d.kind not in DISTRIBUTIONS:
        raise ConfigError("distribution.kind", f"unknown distribution {d.kind!r} (choose from {', '.join(DISTRIBUTIONS)})")
    if d.kind == "power_law" and not (d.alpha > 0 and math.isfinite(d.alpha)):
        raise ConfigError("distribution.alpha", f"must be a positive number, got {d.alpha}")
    if d.kind == "explicit":
        if d.weights is None or len(d.weights) != cfg.instructions:
            got = "none" if d.weights is None else str(len(d.weights))
            raise ConfigError("distribution.weights", f"needs one weight per instruction ({cfg.instructions}), got {got}")
        if any(not (w >= 0 and math.isfinite(w)) for w in d.weights) or sum(d.weights) <= 0:
            raise ConfigError("distribution.weights", "weights must be finite, >= 0, and not all zero")


def resolve_novel_patterns(cfg) -> None:
    """Give an unset ``splits.test_unseen.novel_patterns`` its value (in place): ``test_space`` when the config
    names a test space, ``none`` otherwise, so the recorded config says which applied."""
    tu = cfg.splits.test_unseen
    if tu.novel_patterns is None:
        tu.novel_patterns = "test_space" if cfg.test_space is not None else "none"


def check_occurrences(value: list[int] | None, where: str) -> None:
    """An ``occurrences`` list: non-empty, every count >= 1 (None: unset, where that is allowed)."""
    if value is not None and (not value or any(o < 1 for o in value)):
        raise ConfigError(where, f"must be a non-empty list of integers >= 1, got {value}")


def validate_space(sp: SpaceConfig, where: str) -> None:
    if not sp.alphabet:
        raise ConfigError(f"{where}.alphabet", "must not be empty")
    if len(set(sp.alphabet)) != len(sp.alphabet):
        raise ConfigError(f"{where}.alphabet", f"has repeated characters: {sp.alphabet!r}")
    if any(ord(c) > 127 or not c.isprintable() for c in sp.alphabet):
        raise ConfigError(f"{where}.alphabet", "must hold printable ASCII characters only")
    if sp.x_alphabet is not None:
        if not sp.x_alphabet or len(set(sp.x_alphabet)) != len(sp.x_alphabet):
            raise ConfigError(f"{where}.x_alphabet", f"must be non-empty without repeats, got {sp.x_alphabet!r}")
        extra = sorted(set(sp.x_alphabet) - set(sp.alphabet))
        if extra:
            raise ConfigError(f"{where}.x_alphabet", f"characters {''.join(extra)!r} are not in the alphabet")
    if sp.x_len.min < 1:
        raise ConfigError(f"{where}.x_len", f"patterns need at least 1 character, got {sp.x_len.to_yaml()}")
    if sp.y_len.min < 0:
        raise ConfigError(f"{where}.y_len", f"must be >= 0, got {sp.y_len.to_yaml()}")
    if not sp.structures:
        raise ConfigError(f"{where}.structures", "must name at least one structure")
    for s in sp.structures:
        if s not in STRUCTURES:
            raise ConfigError(f"{where}.structures", f"unknown structure {s!r} (choose from {', '.join(STRUCTURES)})")
    if sp.k.min < 1:
        raise ConfigError(f"{where}.k", f"must be >= 1, got {sp.k.to_yaml()}")
    if sp.k.max > sp.x_len.max and sp.structures != ["random"]:
        raise ConfigError(f"{where}.k", f"k up to {sp.k.max} exceeds the pattern length {sp.x_len.max}")
    if sp.k_rule not in K_RULES:
        raise ConfigError(f"{where}.k_rule", f"must be one of {', '.join(K_RULES)}, got {sp.k_rule!r}")
    if sp.k_rule == "divides" and any(s != "random" for s in sp.structures) and not any(
        L % k == 0 for k in sp.k.values() for L in sp.x_len.values()
    ):
        raise ConfigError(f"{where}.k", f"no k in {sp.k.to_yaml()} divides a pattern length in {sp.x_len.to_yaml()} "
                                        f"(k_rule: divides): the structured families are empty")


TEMPLATE_FIELDS = ("rule", "x", "y", "input")


def parse_template(template: str) -> list[tuple[str, str]]:
    """Split a prompt template into ``("lit", text)`` and ``("field", name)`` parts."""
    parts: list[tuple[str, str]] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError("prompt_template", f"is not a valid template: {exc}") from None
    for literal, name, spec, conv in parsed:
        if literal:
            parts.append(("lit", literal))
        if name is not None:
            if name not in TEMPLATE_FIELDS or spec or conv:
                raise ConfigError(
                    "prompt_template", f"unknown placeholder {{{name}}} (use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})"
                )
            parts.append(("field", name))
    return parts


def validate_template(template: str) -> None:
    parts = parse_template(template)
    names = {n for k, n in parts if k == "field"}
    if "input" not in names:
        raise ConfigError("prompt_template", "must contain {input}")
    if not ({"rule"} & names or {"x", "y"} <= names):
        raise ConfigError("prompt_template", "must contain {rule} (or both {x} and {y})")
    if any(ord(c) > 127 for k, t in parts if k == "lit" for c in t):
        raise ConfigError("prompt_template", "must be ASCII")
