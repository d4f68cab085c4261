"""Wilson intervals against independently computed and published values, and grouped summaries."""

from __future__ import annotations

import math

import pytest

from core.errors import ConfigError
from eval.stats import summarize, summarize_groups, wilson_interval, z_value


def score_test_bounds(k: int, n: int, z: float) -> tuple[float, float]:
    """The Wilson interval by its definition, solved by bisection: the p where |k/n - p| = z*sqrt(p(1-p)/n)."""
    phat = k / n

    def excess(p: float) -> float:
        return abs(phat - p) - z * math.sqrt(p * (1 - p) / n)

    def root(lo: float, hi: float) -> float:  # excess changes sign once between lo and hi
        for _ in range(200):
            mid = (lo + hi) / 2
            if (excess(lo) > 0) == (excess(mid) > 0):
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    low = 0.0 if k == 0 else root(0.0, phat)
    high = 1.0 if k == n else root(phat, 1.0)
    return low, high


def test_z_value_for_95_percent():
    assert z_value(0.95) == pytest.approx(1.959963984540054, abs=1e-12)
    assert z_value(0.99) == pytest.approx(2.5758293035489, abs=1e-10)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [  # published values (e.g. Newcombe 1998, Brown, Cai & DasGupta 2001), 4 decimals
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
        (1, 10, 0.0179, 0.4042),
        (81, 263, 0.2553, 0.3662),
    ],
)
def test_wilson_known_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 7), (0, 10), (10, 10), (50, 100), (999, 1000), (17, 10_000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_the_score_test_definition(k, n, confidence):
    lo, hi = wilson_interval(k, n, confidence)
    ref_lo, ref_hi = score_test_bounds(k, n, z_value(confidence))
    assert lo == pytest.approx(ref_lo, abs=1e-9)
    assert hi == pytest.approx(ref_hi, abs=1e-9)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_wilson_edge_cases_and_errors():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ConfigError, match="successes"):
        wilson_interval(5, 3)
    with pytest.raises(ConfigError, match="confidence"):
        wilson_interval(1, 2, confidence=1.5)


def test_summarize_and_groups():
    correct = [True, True, False, True, False, False]
    s = summarize(correct)
    assert (s["n"], s["correct"], s["accuracy"]) == (6, 3, 0.5)
    assert (s["ci_low"], s["ci_high"]) == wilson_interval(3, 6)
    assert summarize([])["accuracy"] is None

    groups = summarize_groups(correct, [2, 3, 2, 3, 10, 10])
    assert list(groups) == ["2", "3", "10"]  # numeric keys sorted as numbers
    assert [(g["n"], g["correct"]) for g in groups.values()] == [(2, 1), (2, 2), (2, 0)]


def test_frequency_thirds_of_a_hand_built_ranking():
    from eval.stats import frequency_thirds

    # by count, most first, ties by smaller id: 2 (10), 5 (10), 7 (3), 9 (3), 1 (1); 5 rules split 2 / 2 / 1
    counts = {5: 10, 2: 10, 7: 3, 1: 1, 9: 3}
    assert frequency_thirds(counts) == {2: "head", 5: "head", 7: "middle", 9: "middle", 1: "tail"}
    # 4 rules split 2 / 1 / 1, 3 rules one each, 2 rules head / middle, one rule is the head
    assert frequency_thirds({1: 4, 2: 3, 3: 2, 4: 1}) == {1: "head", 2: "head", 3: "middle", 4: "tail"}
    assert frequency_thirds({10: 1, 11: 1, 12: 1}) == {10: "head", 11: "middle", 12: "tail"}
    assert frequency_thirds({3: 5, 4: 9}) == {4: "head", 3: "middle"}
    assert frequency_thirds({8: 2}) == {8: "head"} and frequency_thirds({}) == {}
