"""Novel unseen-test patterns: ``splits.test_unseen.novel_patterns`` keeps the test patterns (or the whole test
space) out of training. Checked from the written rows against a plain-Python reading of the family definitions."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import generators.plan as plan_module
from core.errors import ConfigError
from generators import config_from_dict
from generators.build import generate
from generators.config import load_config
from generators.fields import Range, SpaceConfig
from generators.plan import DisjointnessError, make_plan, pattern_report
from generators.space import Exclusion, InstructionSpace
from generators.tasks.markov import MarkovPool

CONFIGS = Path(__file__).parents[1] / "generators" / "configs"


def has_structure(p: str, structure: str, k: int) -> bool:
    """Reference: does pattern p repeat its characters as (structure, k) requires (paper's families)?"""
    n = len(p)
    if k == 1 or structure == "random":
        return True
    if structure == "repeated":  # runs of k equal characters
        return all(p[i] == p[i - i % k] for i in range(n))
    seg = math.ceil(n / k)
    if structure == "periodic":  # a base of length ceil(n/k), repeated
        return all(p[i] == p[i % seg] for i in range(n))
    base = p[:seg]  # mirrored: base, reversed base, base, ...
    return all(p[i] == (base if (i // seg) % 2 == 0 else base[::-1])[i % seg] for i in range(n))


def patterns(folder: Path, meta: dict, split: str) -> set[str]:
    texts = set()
    for f in meta["splits"][split]["files"]:
        texts.update(pq.read_table(folder / f, columns=["instruction"]).column(0).to_pylist())
    return {t.split(" -> ")[0] for t in texts}


def toy_semantic(mode: str) -> object:
    """The toy semantic sweep's restricted point (sweeps/toy_cpu_semantic.yaml: the families extended to every k),
    smaller budget."""
    return load_config(CONFIGS / "paper_semantic.yaml", [
        "budget=3000", "input_len=24", "instructions=1000", "space.alphabet=abcdefgh", "space.x_len=8", "space.y_len=2",
        "space.k=[3, 8]", "test_space.alphabet=abcdefgh", "test_space.x_len=8", "test_space.y_len=2",
        "space.k_rule=any", "test_space.k_rule=any",
        "splits={test_unseen: {instructions: 50, examples: 100}, test_seen: {examples: 0}, validation: {examples: 0}}",
        f"splits.test_unseen.novel_patterns={mode}",
    ])


def small_k(p: str) -> bool:
    return any(has_structure(p, s, 2) for s in ("repeated", "periodic", "mirrored"))


def test_without_the_option_test_patterns_reach_training(tmp_path):
    """The issue's finding (toy semantic run: 3 of 50 test patterns verbatim in training, and many training
    patterns with a k = 2 structure), measured and recorded rather than claimed away."""
    meta = generate(toy_semantic("none"), tmp_path / "o", progress=False, card=False)
    train, test = patterns(tmp_path / "o", meta, "train"), patterns(tmp_path / "o", meta, "test_unseen")
    rec = meta["patterns"]
    assert rec["test_patterns_in_training"] == len(train & test) > 0
    assert rec["train_patterns_in_test_space"] == sum(small_k(p) for p in train) > 0
    assert rec["train_patterns"] == len(train) and rec["test_patterns"] == len(test)


def test_test_space_mode_keeps_every_small_k_pattern_out_of_training(tmp_path):
    meta = generate(toy_semantic("test_space"), tmp_path / "o", progress=False, card=False)
    train, test = patterns(tmp_path / "o", meta, "train"), patterns(tmp_path / "o", meta, "test_unseen")
    assert not train & test
    assert not [p for p in train if small_k(p)]  # "aaaabbbb" (repeated k = 4) is repeated k = 2 too: excluded
    assert all(any(has_structure(p, s, k) for s in ("repeated", "periodic", "mirrored") for k in range(3, 9)) for p in train)
    rec = meta["patterns"]
    assert rec["checked"] and rec["train_patterns_in_test_space"] == 0
    assert rec["train_space_patterns_excluded"] > 0 and rec["candidates_refused"] > 0
    assert len({t for t in test if not small_k(t)}) > 0  # random (k = 1) test patterns: kept out verbatim only


def test_test_patterns_mode_on_a_toy_with_room(tmp_path):
    """3-character patterns over 8 letters (512 patterns): 50 unseen rules' patterns never appear in training."""
    raw = {"instructions": 2000, "budget": 6000, "noop_fraction": 0.2, "input_len": 10,
           "space": {"alphabet": "abcdefgh", "x_len": 3, "y_len": 2},
           "splits": {"test_unseen": {"instructions": 50, "examples": 100, "novel_patterns": "test_patterns"},
                      "test_seen": {"examples": 100}, "validation": {"examples": 100}}}
    meta = generate(config_from_dict(raw), tmp_path / "o", progress=False, card=False)
    train, test = patterns(tmp_path / "o", meta, "train"), patterns(tmp_path / "o", meta, "test_unseen")
    assert not train & test
    assert meta["patterns"]["train_space_patterns_excluded"] == len(test)
    assert meta["patterns"]["train_patterns_in_test_space"] == 0  # a random space has no structured class
    raw["splits"]["test_unseen"]["novel_patterns"] = "none"
    meta = generate(config_from_dict(raw), tmp_path / "p", progress=False, card=False)
    assert patterns(tmp_path / "p", meta, "train") & patterns(tmp_path / "p", meta, "test_unseen")  # else: shared
    assert meta["patterns"]["train_patterns_in_test_space"] == 0


def test_markov_novel_patterns(tmp_path):
    cfg = load_config(CONFIGS / "markov.yaml", ["examples_per_instruction=2", "instructions=300",
                                                "splits.test_unseen={instructions: 40, examples: 80, novel_patterns: test_patterns}"])
    meta = generate(cfg, tmp_path / "m", progress=False, card=False)

    def xs(split):
        texts = set()
        for f in meta["splits"][split]["files"]:
            texts.update(pq.read_table(tmp_path / "m" / f, columns=["instruction"]).column(0).to_pylist())
        return {part.split(" ->")[0] for t in texts for part in t.split("; ")}

    assert not xs("train") & xs("test_unseen")


def test_modes_are_validated():
    base = {"splits": {"test_unseen": {"novel_patterns": "yes"}}}
    with pytest.raises(ConfigError) as err:
        config_from_dict(base)
    assert err.value.field == "splits.test_unseen.novel_patterns"
    with pytest.raises(ConfigError, match="test_space"):
        config_from_dict({"splits": {"test_unseen": {"novel_patterns": "test_space"}}})


def test_too_many_novel_patterns_is_a_clear_error():
    raw = {"instructions": 2, "input_len": 4, "space": {"alphabet": "ab", "x_len": 1, "y_len": 2},
           "splits": {"test_unseen": {"instructions": 4, "examples": 4, "novel_patterns": "test_patterns"}}}
    from generators.plan import make_plan

    with pytest.raises(ConfigError, match="usable rules") as err:  # 2 patterns: the 4 test rules use both
        make_plan(config_from_dict(raw))
    assert err.value.field == "space"


def paired_test_space(n_test: int = 20) -> dict:
    """Patterns of length 4 or 5 over abc (324 of them: every string); the test space's structured class is
    repeated k = 2 (``aabb``, ``aabbc``), which test_space mode keeps out of training with the test patterns."""
    both = {"alphabet": "abc", "x_len": [4, 5], "y_len": 1, "structures": ["repeated"], "k": [1, 2]}
    return {"instructions": 60, "examples_per_instruction": 1, "input_len": 8, "space": both, "test_space": both,
            "splits": {"test_unseen": {"instructions": n_test, "examples": n_test, "novel_patterns": "test_space"},
                       "test_seen": {"examples": 0}, "validation": {"examples": 0}}}


def test_test_space_mode_counts_every_training_space_pattern_it_excluded(monkeypatch):
    """``train_space_patterns_excluded`` (datagen.json, the card) counted from the definitions: the patterns of
    the training space that lie in the test space's structured classes or are an unseen-test pattern. The class
    lists name each class with its length, as the space has two."""
    plan = make_plan(config_from_dict(paired_test_space()))
    rec = plan.novel_patterns
    test = {t.split(" -> ")[0] for t in plan.splits["test_unseen"].pool_text.to_pylist()}
    every = ["".join(p) for n in (4, 5) for p in itertools.product("abc", repeat=n)]
    paired = {p for p in every if has_structure(p, "repeated", 2)}
    assert len(every) == 324 and len(paired) == 9 + 27
    assert test - paired and test & paired  # both kinds of test pattern, so each part of the count matters
    assert rec["train_space_patterns_excluded"] == len(paired | test)
    assert rec["checked"] and rec["test_patterns_in_training"] == 0 == rec["train_patterns_in_test_space"]
    assert rec["train_classes"] == ["random, L=4", "random, L=5"]
    assert rec["train_classes_within_test_space"] == ["repeated k=2, L=4", "repeated k=2, L=5"]
    # a training space of more than DENSE_LIMIT patterns (counted class by class: the random classes and the
    # repeated k = 2 ones, 81 + 243 + 9 + 27) is not listed: the count is then unknown (None)
    monkeypatch.setattr(plan_module, "DENSE_LIMIT", 360)
    assert make_plan(config_from_dict(paired_test_space())).novel_patterns["train_space_patterns_excluded"] == len(paired | test)
    monkeypatch.setattr(plan_module, "DENSE_LIMIT", 359)
    assert make_plan(config_from_dict(paired_test_space())).novel_patterns["train_space_patterns_excluded"] is None


def test_a_training_pattern_the_mode_forbids_is_an_error_naming_how_many():
    """The check after the draw, whatever the draw did: under ``test_patterns`` a training pattern that is an
    unseen-test one, under ``test_space`` also one lying in the test space's structured classes."""
    def space(structures: list[str], k: int, where: str) -> InstructionSpace:
        return InstructionSpace(SpaceConfig(alphabet="ab", x_len=Range(4, 4), y_len=Range(1, 1), structures=structures,
                                            k=Range(k, k)), where)

    plain, paired = space(["random"], 1, "space"), space(["repeated"], 2, "test_space")
    test = MarkovPool([[("abab", "a", False)]])
    train = MarkovPool([[("abab", "b", False)], [("abba", "a", False)]])
    assert pattern_report(train, test, "none", plain, plain, Exclusion())["test_patterns_in_training"] == 1
    with pytest.raises(DisjointnessError, match=r"^internal error: 1 unseen-test patterns are also training"):
        pattern_report(train, test, "test_patterns", plain, plain, Exclusion())
    train = MarkovPool([[("bbbb", "a", False)], [("aabb", "a", False)], [("abba", "b", False)]])  # 2 of 3 paired
    with pytest.raises(DisjointnessError, match=r"^internal error: 2 training patterns lie in the test space"):
        pattern_report(train, test, "test_space", plain, paired, Exclusion())
    assert pattern_report(train, test, "test_patterns", plain, paired, Exclusion())["train_patterns_in_test_space"] == 2


@settings(max_examples=150, deadline=None)
@given(st.text("abc", min_size=1, max_size=9), st.sampled_from(["repeated", "periodic", "mirrored"]), st.integers(1, 4))
def test_membership_matches_the_family_definitions(p, structure, k):
    sp = InstructionSpace(SpaceConfig(alphabet="abc", x_len=Range(1, 9), y_len=Range(1, 1), structures=[structure], k=Range(k, k)))
    x = np.zeros((1, 9), np.uint8)
    x[0, : len(p)] = np.frombuffer(p.encode(), np.uint8)
    assert bool(sp.contains(x, np.array([len(p)]))[0]) == has_structure(p, structure, k)
    structured = any(c.structured for c in sp.classes if c.length == len(p))
    expect = has_structure(p, structure, k) and structured
    assert bool(sp.contains(x, np.array([len(p)]), structured_only=True)[0]) == expect
