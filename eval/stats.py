"""Accuracy with Wilson score intervals, overall and per group (op / no-op, rule length).

The Wilson interval (Wilson 1927) is the set of success probabilities ``p`` that a two-sided score test at the
given confidence does not reject for ``k`` successes in ``n`` trials; unlike the normal ("Wald") interval it
stays inside [0, 1] and is not degenerate at 0 or n successes, which is where exact-match accuracies live
before and after the phase transition.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from statistics import NormalDist

from core.errors import ConfigError


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile for ``confidence`` (1.959963... for 0.95)."""
    if not 0 < confidence < 1:
        raise ConfigError("confidence", f"must be between 0 and 1 (exclusive), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for ``successes`` out of ``n``; (0, 1) when ``n`` is 0 (nothing is known)."""
    if n < 0 or not 0 <= successes <= n:
        raise ConfigError("successes", f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Clamp rounding noise at the ends (k = 0 gives a lower bound of exactly 0, k = n an upper bound of 1).
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return low, high


def summarize(correct: Sequence[bool], confidence: float = 0.95) -> dict:
    """``{"n", "correct", "accuracy", "ci_low", "ci_high"}`` for a list of per-example outcomes.

    ``accuracy`` is None when there are no examples (and the interval is then [0, 1]).
    """
    n = len(correct)
    k = int(sum(bool(c) for c in correct))
    low, high = wilson_interval(k, n, confidence)
    return {"n": n, "correct": k, "accuracy": k / n if n else None, "ci_low": low, "ci_high": high}


def summarize_groups(correct: Sequence[bool], keys: Sequence[Hashable], confidence: float = 0.95) -> dict[str, dict]:
    """:func:`summarize` per distinct key (keys as strings, in sorted key order)."""
    if len(keys) != len(correct):
        raise ValueError(f"{len(keys)} group keys for {len(correct)} outcomes")
    groups: dict = {}
    for key, ok in zip(keys, correct, strict=True):
        groups.setdefault(key, []).append(ok)
    return {str(key): summarize(groups[key], confidence) for key in sorted(groups)}


THIRDS = ("head", "middle", "tail")


def frequency_thirds(train_counts: Mapping[int, int]) -> dict[int, str]:
    """Each rule's third of the training-frequency ranking: ``head``, ``middle`` or ``tail``.

    ``train_counts`` maps a rule (its ``instruction_id``) to its number of training examples, for the rules to
    be split (those present in the scored ``test_seen`` rows). Rules are ranked by count, most frequent first,
    ties broken by id (smaller first); the rule of rank ``r`` (0-based) among ``m`` goes to third
    ``floor(3 r / m)``. The thirds differ in size by at most one rule (earlier thirds get the extra ones: 4 rules
    split 2 / 1 / 1, 5 split 2 / 2 / 1).
    """
    ranked = sorted(train_counts, key=lambda rule: (-train_counts[rule], rule))
    m = len(ranked)
    return {rule: THIRDS[3 * r // m] for r, rule in enumerate(ranked)}
