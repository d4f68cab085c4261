"""Instruction frequency distributions: the empirical shape matches the configured law."""

from __future__ import annotations

import math

import numpy as np
import pytest

from generators import config_from_dict
from generators.build import split_table
from generators.plan import make_plan

N = 40_000
# Dvoretzky-Kiefer-Wolfowitz: P(sup |F_n - F| > eps) <= 2 exp(-2 n eps^2); eps for a 1e-9 failure chance.
EPS = math.sqrt(math.log(2 / 1e-9) / (2 * N))


def train_ids(raw: dict) -> np.ndarray:
    plan = make_plan(config_from_dict(raw))
    return np.asarray(split_table(plan, "train").column("instruction_id"))


def base(**kw) -> dict:
    return {"instructions": 500, "budget": N, "input_len": 12, "space": {"alphabet": "abcdefghij", "x_len": 4, "y_len": 4},
            "splits": {"test_unseen": {"instructions": 1, "examples": 0}, "test_seen": {"examples": 0}}, **kw}


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.1])
def test_power_law_cdf(alpha):
    ids = train_ids(base(distribution={"kind": "power_law", "alpha": alpha}))
    m = 500
    # P(id <= k) = P(floor(u m) <= k) = P(u < (k+1)/m) = ((k+1)/m) ** alpha
    ks = np.array([0, 1, 4, 9, 49, 99, 249, 499])
    empirical = np.array([(ids <= k).mean() for k in ks])
    expected = ((ks + 1) / m) ** alpha
    assert np.abs(empirical - expected).max() < EPS


def test_explicit_weights():
    m = 500
    w = np.ones(m)
    w[:10] = 50.0  # ten heavy instructions
    ids = train_ids(base(distribution={"kind": "explicit", "weights": w.tolist()}))
    cdf = np.cumsum(w) / w.sum()
    for k in [0, 4, 9, 10, 100, 499]:
        assert abs((ids <= k).mean() - cdf[k]) < EPS


def test_uniform_is_exactly_balanced():
    ids = train_ids(base(instructions=400))
    assert np.bincount(ids).tolist() == [N // 400] * 400


def test_power_law_report_shows_fewer_effective_instructions(tmp_path):
    from generators.build import generate

    raw = base(instructions=5000, budget=10_000, distribution={"kind": "power_law", "alpha": 0.1})
    meta = generate(config_from_dict(raw), tmp_path / "o", progress=False, card=False)
    r = meta["report"]["train"]
    assert r["instructions_in_pool"] == 5000
    assert r["distinct_instructions"] < 5000
    assert r["effective_instructions"] < 0.5 * r["distinct_instructions"]
    assert r["examples_per_instruction"]["min"] == 0


def test_seen_test_uses_only_instructions_that_have_training_examples():
    raw = base(instructions=5000, budget=10_000, distribution={"kind": "power_law", "alpha": 0.1})
    raw["splits"] = {"test_unseen": {"instructions": 5, "examples": 10}, "test_seen": {"examples": 3000}}
    plan = make_plan(config_from_dict(raw))
    train = split_table(plan, "train")
    seen = split_table(plan, "test_seen")
    trained = set(train.column("instruction_id").to_pylist())
    used = set(seen.column("instruction_id").to_pylist())
    assert len(trained) < 5000  # the skew leaves rules without examples...
    assert used <= trained and len(used) == min(len(trained), 3000)  # ...and test_seen never uses them
    by_id = dict(zip(train.column("instruction_id").to_pylist(), train.column("instruction").to_pylist()))
    for i, text in zip(seen.column("instruction_id").to_pylist(), seen.column("instruction").to_pylist()):
        assert by_id[i] == text  # ids and texts agree across splits
