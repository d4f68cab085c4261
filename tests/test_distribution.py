"""Instruction frequencies as the paper defines them, checked against references written from the definitions.

Paper (arXiv 2405.19787, imbalance experiment): "the number of examples per instruction" follows a power law with
PMF f(x) = alpha * x^(alpha - 1) on (0, 1]: one weight per instruction drawn from f, counts proportional to the
weights (rounded to sum to N), skew growing along Uniform, 2, 1, 0.5, 0.2, 0.1, 0.07, 0.03, and at I = 1,000
with alpha <= 0.2 "the model effectively trains on fewer than 500 instructions".
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from generators import config_from_dict
from generators.build import split_table
from generators.plan import example_counts, make_plan

PAPER_AXIS = [None, 2.0, 1.0, 0.5, 0.2, 0.1, 0.07, 0.03]  # None: uniform


def base(**kw) -> dict:
    return {"instructions": 500, "budget": 20_000, "input_len": 12, "space": {"alphabet": "abcdefghij", "x_len": 4, "y_len": 4},
            "splits": {"test_unseen": {"instructions": 1, "examples": 0}, "test_seen": {"examples": 0},
                       "validation": {"examples": 0}}, **kw}


def dist(alpha) -> dict:
    return {"kind": "uniform"} if alpha is None else {"kind": "power_law", "alpha": alpha}


def row_counts(raw: dict) -> Counter:
    plan = make_plan(config_from_dict(raw))
    return Counter(split_table(plan, "train").column("instruction_id").to_pylist())


def effective(counts) -> float:
    """exp of the entropy (nats) of a count distribution (plain Python)."""
    total = sum(counts)
    return math.exp(-sum(c / total * math.log(c / total) for c in counts if c))


def largest_remainder(n: int, weights: list[float]) -> list[int]:
    """Reference rounding: floor of each quota n * w / sum(w), then one more for the largest remainders."""
    total = math.fsum(weights)
    quota = [n * w / total for w in weights]
    out = [math.floor(q) for q in quota]
    by_rest = sorted(range(len(weights)), key=lambda i: (-(quota[i] - out[i]), i))
    for i in by_rest[: n - sum(out)]:
        out[i] += 1
    return out


def test_weights_follow_the_paper_density_and_do_not_depend_on_I():
    alpha = 0.3
    big = make_plan(config_from_dict(base(instructions=4000, distribution=dist(alpha)))).splits["train"].weights
    small = make_plan(config_from_dict(base(instructions=300, distribution=dist(alpha)))).splits["train"].weights
    assert np.array_equal(small, big[:300]), "instruction i keeps its weight when I grows (nested sets)"
    # w ~ f(w) = alpha w^(alpha-1) on (0, 1]  <=>  P(w <= t) = t^alpha  <=>  w^alpha uniform on (0, 1]
    u = np.sort(big**alpha)
    n = u.size
    eps = math.sqrt(math.log(2 / 1e-9) / (2 * n))  # Dvoretzky-Kiefer-Wolfowitz bound, 1e-9 failure chance
    ecdf = np.arange(1, n + 1) / n
    assert np.abs(ecdf - u).max() < eps + 1 / n
    assert (big > 0).all() and (big <= 1).all()


@pytest.mark.parametrize("alpha", [1.0, 0.2, 0.03])
def test_counts_are_proportional_to_the_weights_and_sum_to_N(alpha):
    raw = base(instructions=400, budget=12_345, distribution=dist(alpha))
    weights = make_plan(config_from_dict(raw)).splits["train"].weights.tolist()
    expected = largest_remainder(12_345, weights)
    got = row_counts(raw)
    assert sum(got.values()) == 12_345
    assert [got.get(i, 0) for i in range(400)] == expected  # the rows realize the exact counts


@pytest.mark.filterwarnings("error")  # and without a numpy warning (log of 0, underflow) on the way
@pytest.mark.parametrize("log_top", [-600, -720, -5000], ids=["below 1e-250", "subnormal", "zero"])
def test_the_most_skewed_requests_keep_their_proportions(log_top):
    """At a tiny alpha every weight u ** (1 / alpha) is below 1e-250: all tiny, or subnormal (few bits), or 0 in
    floating point. The counts must still be proportional to u ** (1 / alpha), computed here in log space from
    the draws u (the weights at alpha = 1), so the largest draw takes (nearly) everything, not an even share.
    alpha is chosen so that the largest weight is e ** log_top."""
    raw = base(instructions=15, budget=10_000)
    u = make_plan(config_from_dict({**raw, "distribution": dist(1.0)})).splits["train"].weights.tolist()
    top = max(math.log(x) for x in u)
    alpha = top / log_top
    shares = [math.exp((math.log(x) - top) / alpha) for x in u]  # u_i ** (1/alpha), scaled by the largest
    expected = largest_remainder(10_000, shares)
    got = row_counts({**raw, "distribution": dist(alpha)})
    assert [got.get(i, 0) for i in range(15)] == expected
    assert max(expected) >= 0.5 * 10_000  # the extreme skew the request asks for


def test_hand_computed_counts():
    """The largest-remainder rounding worked by hand: quotas 10/3 each (one left over, to the lowest index),
    1:2:3 of 12 (nothing left over), 5 rows over 2 equal weights and a zero weight."""
    assert example_counts(10, 3, np.array([1.0, 1.0, 1.0])).tolist() == [4, 3, 3]
    assert example_counts(12, 3, np.array([1.0, 2.0, 3.0])).tolist() == [2, 4, 6]
    assert example_counts(5, 3, np.array([2.0, 0.0, 2.0])).tolist() == [3, 0, 2]
    assert example_counts(7, 3, np.array([0.1, 0.6, 0.3])).tolist() == [1, 4, 2]  # quotas 0.7, 4.2, 2.1
    assert example_counts(10, 4, None).tolist() == [3, 3, 2, 2]  # uniform: n // I, one more for the first n mod I
    assert example_counts(8, 4, None).tolist() == [2, 2, 2, 2]
    assert example_counts(7, 3, np.array([0.1, 0.6, 0.3])).dtype.kind == example_counts(8, 4, None).dtype.kind == "i"


def test_tied_remainders_of_unequal_weights_go_to_the_lower_index():
    """Weights below 1 (as the power law's are) whose quotas tie exactly: 0.75 : 0.25 of 2 rows is 1.5 and 0.5,
    equal remainders, so the one row left over goes to instruction 0; 0.625 : 0.375 of 4 rows is 2.5 and 1.5.
    (Binary fractions: every quota is exact in floating point, so the tie is real, not a rounding artefact.)"""
    assert example_counts(2, 2, np.array([0.75, 0.25])).tolist() == [2, 0]
    assert example_counts(4, 2, np.array([0.625, 0.375])).tolist() == [3, 1]
    assert example_counts(6, 2, np.array([0.1875, 0.0625])).tolist() == [5, 1]  # 4.5 and 1.5


@pytest.mark.filterwarnings("error")  # a weight of 0 among tiny ones: no numpy warning either
def test_explicit_weights_use_the_same_exact_counts():
    w = [50.0] * 10 + [1.0] * 490 + [0.0] * 0
    raw = base(distribution={"kind": "explicit", "weights": w})
    got = row_counts(raw)
    assert [got.get(i, 0) for i in range(500)] == largest_remainder(20_000, w)
    tiny = [3e-310, 1e-310, 0.0, 2e-312] * 125  # subnormal weights (few bits), and 0: proportions still hold
    got = row_counts(base(distribution={"kind": "explicit", "weights": tiny}))
    assert [got.get(i, 0) for i in range(500)] == largest_remainder(20_000, tiny)


@pytest.mark.parametrize("budget", [20_000, 20_123])
def test_uniform_is_exactly_balanced(budget):
    got = row_counts(base(instructions=400, budget=budget))
    assert sum(got.values()) == budget and len(got) == 400
    assert set(got.values()) <= {budget // 400, -(-budget // 400)}


def test_skew_grows_monotonically_along_the_paper_axis():
    means = []
    for alpha in PAPER_AXIS:
        per_seed = [effective(row_counts(base(instructions=300, budget=30_000, seed=s, distribution=dist(alpha))).values())
                    for s in range(3)]
        means.append(sum(per_seed) / len(per_seed))
    assert means[0] == pytest.approx(300)  # uniform: every instruction equally often
    assert all(a > b for a, b in zip(means, means[1:])), means  # strictly decreasing, Uniform > 2 > 1 > ... > 0.03
    assert means[2] < 0.95 * means[0], "alpha = 1 is not the uniform distribution"


def test_paper_statement_at_I_1000():
    """At I = 1,000 and N = 10^6, alpha <= 0.2 leaves fewer than 500 effective instructions (alpha >= 1: more)."""
    for alpha in [2.0, 1.0, 0.2, 0.1, 0.07, 0.03]:
        for seed in range(3):
            raw = base(instructions=1000, budget=1_000_000, seed=seed, distribution=dist(alpha))
            e = effective(make_plan(config_from_dict(raw)).splits["train"].counts.tolist())
            assert (e < 500) == (alpha <= 0.2), (alpha, seed, e)


def test_report_and_zero_count_instructions(tmp_path):
    from generators.build import generate

    raw = base(instructions=2000, budget=4000, distribution=dist(0.03))
    raw["splits"] = {"test_unseen": {"instructions": 5, "examples": 10}, "test_seen": {"examples": 300},
                     "validation": {"examples": 300}}
    meta = generate(config_from_dict(raw), tmp_path / "o", progress=False, card=False)
    import pyarrow.parquet as pq

    def ids(split):
        return pq.read_table([tmp_path / "o" / f for f in meta["splits"][split]["files"]][0]).column("instruction_id").to_pylist()

    counts = Counter(ids("train"))
    r = meta["report"]["train"]
    assert r["instructions_in_pool"] == 2000  # zero-count instructions stay in the pool...
    assert r["distinct_instructions"] == len(counts) < 2000  # ...the report counts those with examples...
    assert r["instructions_without_examples"] == 2000 - len(counts)
    assert r["effective_instructions"] == pytest.approx(effective(counts.values()), rel=1e-5)
    assert r["examples_per_instruction"]["min"] == 0
    assert set(ids("test_seen")) <= set(counts) and set(ids("validation")) <= set(counts)  # ...never held out


def test_seen_rules_are_a_uniform_sample_of_the_rules_with_examples():
    # uniform: 500 test_seen rows over 3000 rules used to take rules 0..499; a uniform sample straddles the middle
    raw = base(instructions=3000, budget=30_000)
    raw["splits"] = {"test_unseen": {"instructions": 5, "examples": 10}, "test_seen": {"examples": 500},
                     "validation": {"examples": 0}}
    seen = split_table(make_plan(config_from_dict(raw)), "test_seen").column("instruction_id").to_pylist()
    assert len(set(seen)) == 500
    assert abs(sum(i < 1500 for i in seen) / 500 - 0.5) < 0.1
    # the toy power law (alpha = 0.1): the sampled rules are spread evenly over the frequency ranks, not the head
    raw["distribution"] = dist(0.1)
    plan = make_plan(config_from_dict(raw))
    counts = Counter(split_table(plan, "train").column("instruction_id").to_pylist())
    seen = split_table(plan, "test_seen").column("instruction_id").to_pylist()
    assert len(set(seen)) == 500 and set(seen) <= set(counts)
    ranked = sorted(counts, key=lambda i: (counts[i], i))
    rank = {i: k / (len(ranked) - 1) for k, i in enumerate(ranked)}
    assert abs(sum(rank[i] for i in seen) / 500 - 0.5) < 0.08
    thirds = Counter(min(int(rank[i] * 3), 2) for i in seen)
    assert all(120 <= thirds[t] <= 215 for t in range(3)), thirds
