"""Generated rows against the plain reference semantics, for many random configurations (hypothesis)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from generators import config_from_dict
from generators.blocks import leftmost
from generators.build import split_table
from generators.plan import make_plan
from generators.space import InstructionSpace
from generators.tasks.rewrite import apply_rule


def reference_leftmost(z: str, x: str) -> int:
    return z.find(x)


def occurrences_of(x: str, z: str) -> int:
    """Reference: the number of match positions of x in z, overlapping ones included."""
    return sum(z[i : i + len(x)] == x for i in range(len(z) - len(x) + 1))


@st.composite
def small_configs(draw):
    # Always satisfiable with exact occurrences: x leaves a character unused and the input has room for the
    # copies one character apart (tighter requests are tested on their own below).
    alphabet = "abcdefgh"[: draw(st.integers(2, 8))]
    xmin = draw(st.integers(1, min(4, len(alphabet) - 1)))
    xmax = draw(st.integers(xmin, min(5, len(alphabet) - 1)))
    ymin = draw(st.integers(0, 3))
    ymax = draw(st.integers(ymin, 5))
    occ = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    zmin = max(occ) * (xmax + 1) - 1 + draw(st.integers(0, 6))
    zmax = zmin + draw(st.integers(0, 8))
    noop = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    raw = {
        "seed": draw(st.integers(0, 10_000)),
        "instructions": draw(st.integers(1, 12)),
        "examples_per_instruction": draw(st.integers(1, 6)),
        "noop_fraction": noop,
        "input_len": [zmin, zmax],
        "occurrences": occ,
        "space": {"alphabet": alphabet, "x_len": [xmin, xmax], "y_len": [ymin, ymax]},
        "splits": {"test_unseen": {"instructions": draw(st.integers(1, 5)), "examples": draw(st.integers(1, 40))},
                   "test_seen": {"examples": draw(st.integers(0, 40))},
                   "validation": {"examples": draw(st.integers(0, 40))}},
        "prompt_template": draw(st.sampled_from(["{rule}\n{input}\n", "Rule: {x} => {y}. Input: {input}. Output:"])),
    }
    space = InstructionSpace(config_from_dict(raw).space)
    assume(raw["instructions"] + raw["splits"]["test_unseen"]["instructions"] <= space.size)  # else refused
    return raw


def parse_rule(text: str) -> tuple[str, str]:
    x, y = text.split(" -> ")
    return x, y


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_configs())
def test_rows_follow_the_reference_semantics(raw):
    cfg = config_from_dict(raw)
    plan = make_plan(cfg)
    tables = {name: split_table(plan, name).to_pylist() for name in plan.splits}

    train_rules = {r["instruction"] for r in tables["train"]}
    unseen_rules = {r["instruction"] for r in tables["test_unseen"]}
    assert not train_rules & unseen_rules, "unseen test instructions must never be training instructions"
    assert len(train_rules) == cfg.instructions
    assert Counter(r["instruction_id"] for r in tables["train"]) == {
        i: cfg.examples_per_instruction for i in range(cfg.instructions)
    }
    for name, rows in tables.items():
        n_noop = sum(r["is_noop"] for r in rows)
        if name == "validation":  # exact as drawn; rows repeating a test_seen prompt may then be dropped (documented)
            want, dropped = round(cfg.noop_fraction * cfg.splits.validation.examples), plan.heldout["validation"]["dropped"]
            assert want - dropped <= n_noop <= want and len(rows) == cfg.splits.validation.examples - dropped, name
        else:
            assert n_noop == round(cfg.noop_fraction * len(rows)), name
        ids = {}
        for r in rows:
            x, y = parse_rule(r["instruction"])
            assert x != y
            assert r["output"] == apply_rule(x, y, r["input"])
            assert r["is_noop"] == (x not in r["input"])
            assert r["completion"] == r["output"]
            assert cfg.input_len.min <= len(r["input"]) <= cfg.input_len.max
            assert cfg.space.x_len.min <= len(x) <= cfg.space.x_len.max
            assert cfg.space.y_len.min <= len(y) <= cfg.space.y_len.max
            assert set(r["input"]) <= set(cfg.space.alphabet)
            assert r["pattern_len"] == len(x)
            assert r["prompt"] == cfg.prompt_template.format(rule=r["instruction"], x=x, y=y, input=r["input"])
            assert ids.setdefault(r["instruction_id"], r["instruction"]) == r["instruction"]
            found = occurrences_of(x, r["input"])
            if r["is_noop"]:
                assert found == 0
            else:  # exactly one of the configured counts: the planted copies and nothing else
                assert found in cfg.occurrences and r["input"].count(x) == found, (x, r["input"])
                if len(cfg.occurrences) == 1:
                    assert found == cfg.occurrences[0]
    if "validation" in tables:
        seen_prompts = {r["prompt"] for r in tables.get("test_seen", [])}
        assert all(r["instruction"] in train_rules for r in tables["validation"])
        assert not {r["prompt"] for r in tables["validation"]} & seen_prompts, "validation never repeats test_seen"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text("abc", min_size=0, max_size=14), min_size=1, max_size=20),
    st.lists(st.text("abc", min_size=1, max_size=4), min_size=1, max_size=20),
)
def test_vectorized_leftmost_matches_str_find(inputs, patterns):
    n = min(len(inputs), len(patterns))
    inputs, patterns = inputs[:n], patterns[:n]
    wz = max(1, max(len(s) for s in inputs))
    wx = max(len(p) for p in patterns)
    z = np.zeros((n, wz), np.uint8)
    x = np.zeros((n, wx), np.uint8)
    for i, (s, p) in enumerate(zip(inputs, patterns)):
        z[i, : len(s)] = np.frombuffer(s.encode(), np.uint8)
        x[i, : len(p)] = np.frombuffer(p.encode(), np.uint8)
    zlen = np.array([len(s) for s in inputs])
    xlen = np.array([len(p) for p in patterns])
    got = leftmost(z, zlen, x, xlen)
    assert got.tolist() == [reference_leftmost(s, p) for s, p in zip(inputs, patterns)]


def test_known_planted_start_is_combined_with_earlier_accidental_matches():
    z = np.frombuffer(b"abab", np.uint8).reshape(1, 4).copy()
    x = np.frombuffer(b"ab", np.uint8).reshape(1, 2).copy()
    got = leftmost(z, np.array([4]), x, np.array([2]), known=np.array([2]))
    assert got.tolist() == [0]


def test_apply_rule_examples():
    assert apply_rule("ab", "X", "cabab") == "cXab"
    assert apply_rule("zz", "X", "cabab") == "cabab"
    assert apply_rule("ab", "", "ab") == ""


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text("ab", min_size=0, max_size=14), min_size=1, max_size=20),
    st.lists(st.text("ab", min_size=1, max_size=4), min_size=1, max_size=20),
)
def test_vectorized_match_count_matches_the_reference(inputs, patterns):
    from generators.blocks import count_matches

    n = min(len(inputs), len(patterns))
    inputs, patterns = inputs[:n], patterns[:n]
    z = np.zeros((n, max(1, max(len(s) for s in inputs))), np.uint8)
    x = np.zeros((n, max(len(p) for p in patterns)), np.uint8)
    for i, (s, p) in enumerate(zip(inputs, patterns)):
        z[i, : len(s)] = np.frombuffer(s.encode(), np.uint8)
        x[i, : len(p)] = np.frombuffer(p.encode(), np.uint8)
    got = count_matches(z, np.array([len(s) for s in inputs]), x, np.array([len(p) for p in patterns]))
    assert got.tolist() == [occurrences_of(p, s) for s, p in zip(inputs, patterns)]


def rows_of(raw: dict) -> list[dict]:
    plan = make_plan(config_from_dict(raw))
    return [r for name in plan.splits for r in split_table(plan, name).to_pylist()]


def test_toy_preset_op_inputs_hold_x_exactly_once():
    """Issue 12: with occurrences [1], 9.5% of toy op inputs held x twice or more (accidental matches)."""
    from generators.config import load_config

    cfg = load_config(Path(__file__).parents[1] / "generators" / "configs" / "toy_rewrite.yaml")
    assert cfg.occurrences == [1]
    plan = make_plan(cfg)
    for name in plan.splits:
        for r in split_table(plan, name).to_pylist():
            x = r["instruction"].split(" -> ")[0]
            assert occurrences_of(x, r["input"]) == (0 if r["is_noop"] else 1), (name, r)


def test_self_overlapping_patterns_are_counted_exactly():
    # repeated k = 2 over 3 letters: aa, bb, cc ("aaa" would hold "aa" twice); periodic k = 2: abab, ...
    for space, occ, zlen in [
        ({"alphabet": "abc", "x_len": 2, "y_len": 1, "structures": ["repeated"], "k": 2}, [3], 10),
        ({"alphabet": "abc", "x_len": 4, "y_len": 2, "structures": ["periodic"], "k": 2}, [1, 2], 14),
    ]:
        raw = {"instructions": 4, "examples_per_instruction": 60, "noop_fraction": 0.25, "input_len": zlen,
               "occurrences": occ, "space": space,
               "splits": {"test_unseen": {"instructions": 2, "examples": 40}, "test_seen": {"examples": 40},
                          "validation": {"examples": 40}}}
        seen = Counter()
        for r in rows_of(raw):
            x = r["instruction"].split(" -> ")[0]
            found = occurrences_of(x, r["input"])
            assert found == 0 if r["is_noop"] else found in occ, (x, r["input"])
            assert r["input"].count(x) == found  # non-overlapping leftmost-first count agrees
            seen[found] += 1
        assert set(seen) == {0, *occ}


def test_impossible_exact_counts_are_a_clear_error():
    from generators.blocks import GenerationError

    # "aa" or "bb" twice in 4 characters over two letters: "aaaa" holds it 3 times, and no room to separate copies
    raw = {"instructions": 1, "examples_per_instruction": 20, "input_len": 4, "occurrences": [2],
           "space": {"alphabet": "ab", "x_len": 2, "y_len": 1, "structures": ["repeated"], "k": 2},
           "splits": {"test_unseen": {"instructions": 1, "examples": 1}, "test_seen": {"examples": 0},
                      "validation": {"examples": 0}}}
    with pytest.raises(GenerationError, match="exactly 2 time"):
        rows_of(raw)
    raw["input_len"] = 5  # "aabaa" works
    for r in rows_of(raw):
        x = r["instruction"].split(" -> ")[0]
        assert occurrences_of(x, r["input"]) == 2
