"""Unseen-test rules never occur in training, at the level of single rules, for every task and space mode.

Each check is independent of the generator's own bookkeeping: it parses the instruction texts of the rows
written to disk back into single rules and intersects them.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from generators import config_from_dict
from generators.build import generate
from generators.config import load_config
from generators.plan import DisjointnessError, check_disjoint, make_plan
from generators.space import InstructionSpace
from generators.tasks.markov import MarkovPool


def single_rules(text: str) -> set[tuple[str, str]]:
    """The (x, y) rules of an instruction text: ``x -> y`` or a Markov list ``x -> y; x ->. y``."""
    out = set()
    for part in text.split("; "):
        lhs, rhs = part.split(" ->", 1)
        out.add((lhs, rhs[2:] if rhs.startswith(".") else rhs[1:]))
    return out


def rules_of(folder: Path, meta: dict, split: str) -> set[tuple[str, str]]:
    texts = set()
    for f in meta["splits"][split]["files"]:
        texts.update(pq.read_table(folder / f, columns=["instruction"]).column(0).to_pylist())
    return {r for t in texts for r in single_rules(t)}


def test_markov_preset_keeps_single_rules_apart(tmp_path):
    """Issue 12 (a): `datagen generate markov --set examples_per_instruction=5` had 10 of the 590 rules inside the
    200 unseen algorithms also inside training algorithms (the space is sampled, and the exclusion set was a copy).
    Generator 2.1 draws each algorithm's size from a stream of its own (nested sets): 607 rules then."""
    cfg = load_config(Path(__file__).parents[1] / "generators" / "configs" / "markov.yaml", ["examples_per_instruction=5"])
    assert not InstructionSpace(cfg.space).dense
    meta = generate(cfg, tmp_path / "m", progress=False, card=False)
    test, train = rules_of(tmp_path / "m", meta, "test_unseen"), rules_of(tmp_path / "m", meta, "train")
    assert len(test) == 607
    assert not test & train
    assert meta["disjointness"]["level"] == "single rules" and meta["disjointness"]["shared_rules"] == 0
    assert meta["disjointness"]["test_unseen_rules"] == 607


def test_sampled_rewrite_space_near_half_is_met_and_disjoint(tmp_path, monkeypatch):
    """Issue 12 (b): a valid request below the half-space limit (26 letters, x_len 3, y_len 2, I = 5,000,000)
    crashed with 'internal error: 8 test instructions are also training instructions'. The same situation at a
    size a test can afford: a sampled space (the dense limit lowered) asked for 16,000 of its 32,768 rules."""
    import generators.space as space

    monkeypatch.setattr(space, "DENSE_LIMIT", 1000)
    raw = {"instructions": 16_000, "examples_per_instruction": 1, "input_len": 8,
           "space": {"alphabet": "abcdefgh", "x_len": 3, "y_len": 2},
           "splits": {"test_unseen": {"instructions": 20, "examples": 20}, "test_seen": {"examples": 0},
                      "validation": {"examples": 0}}}
    assert not InstructionSpace(config_from_dict(raw).space).dense
    meta = generate(config_from_dict(raw), tmp_path / "r", progress=False, card=False)
    test, train = rules_of(tmp_path / "r", meta, "test_unseen"), rules_of(tmp_path / "r", meta, "train")
    assert len(test) == 20 and len(train) == 16_000
    assert not test & train


def test_sampled_distinct_adds_its_rules_to_the_callers_set(monkeypatch):
    import generators.space as space

    monkeypatch.setattr(space, "DENSE_LIMIT", 10)
    sp = InstructionSpace(config_from_dict({"space": {"alphabet": "abcd", "x_len": 3, "y_len": 2}}).space)
    assert not sp.dense
    taken: set[bytes] = set()
    first = sp.distinct(0, "a", 100, taken)
    assert set(first.keys()) == taken
    second = sp.distinct(0, "b", 300, taken)
    assert not set(first.keys()) & set(second.keys()) and len(taken) == 400


def test_check_disjoint_compares_single_rules_with_a_real_error():
    a = MarkovPool([[("ab", "c", False), ("cd", "e", True)]])
    b = MarkovPool([[("xy", "z", False), ("cd", "e", False)]])  # another algorithm, one shared rule inside
    assert set(a.keys()).isdisjoint(b.keys())  # the whole texts differ...
    with pytest.raises(DisjointnessError, match="1 single rules") as err:  # ...but the single rule cd -> e is shared
        check_disjoint(a, b)
    assert "(e.g. cd -> e)" in str(err.value)  # the message names the shared rule as the algorithms write it
    assert isinstance(DisjointnessError("x"), RuntimeError)  # not an assert: survives python -O


def test_test_space_rules_are_disjoint_too():
    raw = {"instructions": 300, "input_len": 20,
           "space": {"alphabet": "abcd", "x_len": 6, "y_len": 2, "structures": ["repeated", "periodic"], "k": [2, 3]},
           "test_space": {"alphabet": "abcd", "x_len": 6, "y_len": 2, "structures": ["periodic"], "k": [2, 3]},
           "splits": {"test_unseen": {"instructions": 40, "examples": 40}}}
    plan = make_plan(config_from_dict(raw))
    train = {r for t in plan.splits["train"].pool_text.to_pylist() for r in single_rules(t)}
    test = {r for t in plan.splits["test_unseen"].pool_text.to_pylist() for r in single_rules(t)}
    assert len(test) == 40 and not train & test  # periodic patterns are in both spaces: rules still apart
