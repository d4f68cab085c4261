"""The Markov task's promises beyond one run of an algorithm: the definition's corner cases, the held-out splits,
the test space kept out of training, and the size estimate that refuses what cannot be made.

References are written from the definitions (the paper's Markov algorithms; generators/heldout.py's guarantees;
generators/limits.py's bounds), never read back from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
from click.testing import CliRunner

from generators import config_from_dict, limits
from generators.build import generate, split_table
from generators.cli import main
from generators.fields import SpaceConfig
from generators.plan import make_plan
from generators.space import InstructionSpace, pattern_matrix
from generators.tasks.markov import run_markov


def parse(text: str) -> list[tuple[str, str, bool]]:
    """An instruction text ``x -> y; x ->. y`` as its ordered rules (pattern, replacement, terminal)."""
    rules = []
    for part in text.split("; "):
        lhs, rhs = part.split(" ->", 1)
        rules.append((lhs, rhs[2:], True) if rhs.startswith(".") else (lhs, rhs[1:], False))
    return rules


# ---- the definition (the paper: ordered rules, leftmost occurrence of the first rule that applies, terminal
# rules stop; ours: a step limit and a length cap, each flagging the row truncated) --------------------------------


def test_the_first_applicable_rule_wins_at_its_leftmost_occurrence():
    # "b" occurs before "c" in the string, but rule 1 (c) comes first; of its two occurrences the leftmost goes
    assert run_markov([("c", "x", True), ("b", "y", True)], "abcbc", 5, 20) == ("abxbc", 1, False)
    # rule 1 applies forever (ab -> ab), so the terminal rule 2, whose pattern also occurs, never gets its turn
    assert run_markov([("ab", "ab", False), ("a", "b", True)], "aab", 5, 20) == ("aab", 5, True)
    # abab -> aab -> aa (rule 1 twice, leftmost b each time) -> ca (rule 1 no longer applies; rule 2 is terminal)
    assert run_markov([("b", "", False), ("a", "c", True)], "abab", 10, 20) == ("ca", 3, False)


def test_the_step_limit_flags_only_a_run_that_could_go_on():
    # exactly max_steps applications, after which no rule applies: the algorithm ended, nothing was cut
    assert run_markov([("a", "b", False)], "aaa", 3, 20) == ("bbb", 3, False)
    # the same limit one application short: a rule still applies, so the row is truncated
    assert run_markov([("a", "b", False)], "aaa", 2, 20) == ("bba", 2, True)
    # a later rule still applying counts too, not only the first
    assert run_markov([("a", "b", False), ("c", "d", False)], "ac", 1, 20) == ("bc", 1, True)


def test_an_output_exactly_max_len_long_is_not_truncated():
    assert run_markov([("a", "bb", True)], "aaa", 5, 4) == ("bbaa", 1, False)
    assert run_markov([("a", "bb", False)], "aaa", 5, 4) == ("bbbb", 2, True)  # step 2 makes bbbba: cut


# ---- held-out splits --------------------------------------------------------------------------------------------


def test_markov_held_out_rows_use_only_algorithms_with_training_rows():
    """generators/fields.py DistributionConfig: an instruction whose count is zero has no training rows, and
    test_seen and validation never use it; each held-out row carries its algorithm's own text and id."""
    weights = [1.0, 0.0, 2.0, 0.0, 1.0, 3.0]
    raw = {"task": "markov", "seed": 5, "instructions": 6, "budget": 60, "noop_fraction": 0.2, "input_len": 10,
           "space": {"alphabet": "abcdef", "x_len": 2, "y_len": [0, 2]}, "markov": {"rules": [1, 3], "max_len": 20},
           "distribution": {"kind": "explicit", "weights": weights},
           "splits": {"test_unseen": {"instructions": 2, "examples": 10}, "test_seen": {"examples": 24},
                      "validation": {"examples": 24}}}
    plan = make_plan(config_from_dict(raw))
    train = split_table(plan, "train").to_pylist()
    text_of = {r["instruction_id"]: r["instruction"] for r in train}
    assert set(text_of) == {0, 2, 4, 5}  # the zero-weight algorithms 1 and 3 have no training rows
    for split in ("test_seen", "validation"):
        rows = split_table(plan, split).to_pylist()
        assert len(rows) == 24
        assert {r["instruction_id"] for r in rows} == set(text_of), split  # 24 rows visit each of the four
        for r in rows:
            assert r["instruction"] == text_of[r["instruction_id"]], split
            out, steps, cut = run_markov(parse(r["instruction"]), r["input"], 8, 20)
            assert (r["output"], r["steps"], r["truncated"]) == (out, steps, cut)


def test_markov_validation_rows_that_meet_a_test_seen_prompt_are_redrawn_not_dropped():
    """generators/heldout.py: a validation row that repeats a test_seen prompt is redrawn from another stream;
    rows are dropped only when a rule has a handful of possible inputs. Here a rule has dozens (5 letters over
    3): collisions happen, and every redraw finds a new prompt."""
    raw = {"task": "markov", "seed": 1, "instructions": 4, "examples_per_instruction": 20, "noop_fraction": 0.25,
           "input_len": 5, "space": {"alphabet": "abc", "x_len": 2, "y_len": [0, 2]},
           "markov": {"rules": [1, 2], "max_steps": 4, "max_len": 12},
           "splits": {"test_unseen": {"instructions": 2, "examples": 10}, "test_seen": {"examples": 100},
                      "validation": {"examples": 100}}}
    plan = make_plan(config_from_dict(raw))
    val = split_table(plan, "validation").to_pylist()
    seen = {r["prompt"] for r in split_table(plan, "test_seen").to_pylist()}
    assert not {r["prompt"] for r in val} & seen
    stats = plan.heldout["validation"]
    assert stats["redrawn"] > 0 and stats["dropped"] == 0 and len(val) == 100


# ---- the test space kept out of training ------------------------------------------------------------------------


def periodic(p: str, k: int) -> bool:
    """The paper's periodic family: a base of length ceil(n / k), repeated."""
    seg = math.ceil(len(p) / k)
    return all(p[i] == p[i % seg] for i in range(len(p)))


def test_markov_training_patterns_stay_out_of_the_test_space():
    """splits.test_unseen.novel_patterns (unset with a test_space: test_space): no rule of any training algorithm
    has a pattern in the test space's structured classes, although the training space holds such patterns."""
    space = {"alphabet": "abcd", "x_len": 6, "y_len": [0, 2], "structures": ["repeated", "periodic"], "k": [2, 3]}
    raw = {"task": "markov", "seed": 2, "instructions": 60, "examples_per_instruction": 1, "input_len": 8,
           "space": space, "test_space": {**space, "structures": ["periodic"]},
           "markov": {"rules": [1, 3], "max_len": 20},
           "splits": {"test_unseen": {"instructions": 10, "examples": 10}, "test_seen": {"examples": 0},
                      "validation": {"examples": 0}}}
    plan = make_plan(config_from_dict(raw))
    train = {x for t in plan.splits["train"].pool_text.to_pylist() for x, _, _ in parse(t)}
    test = {x for t in plan.splits["test_unseen"].pool_text.to_pylist() for x, _, _ in parse(t)}
    assert len(train) > 40 and not train & test
    assert not [p for p in train if periodic(p, 2) or periodic(p, 3)]
    assert any(periodic(p, 2) or periodic(p, 3) for p in test)
    assert plan.novel_patterns["train_patterns_in_test_space"] == 0 and plan.novel_patterns["candidates_refused"] > 0


def test_the_pattern_matrix_is_what_space_membership_reads():
    """The patterns as zero-padded byte rows with their lengths: membership of a space read from the matrix
    agrees with the definition pattern by pattern, whatever the order or the lengths."""
    pats = {b"abab", b"ab", b"aabb", b"abcabc", b"cc"}
    mat, lengths = pattern_matrix(pats)
    assert mat.dtype == np.uint8 and mat.shape == (5, 6)
    rows = {bytes(mat[i, : lengths[i]]): mat[i, lengths[i]:] for i in range(5)}
    assert set(rows) == pats and all(not pad.any() for pad in rows.values())
    sp = InstructionSpace(SpaceConfig(alphabet="abc", x_len=[2, 6], y_len=1, structures=["periodic"], k=2), "space")
    inside = sp.contains(mat, lengths, structured_only=True)
    assert {bytes(mat[i, : lengths[i]]) for i in np.flatnonzero(inside)} == {p for p in pats if periodic(p.decode(), 2)}
    empty, no_lengths = pattern_matrix(set())
    assert empty.shape == (0, 0) and no_lengths.size == 0 and not sp.contains(empty, no_lengths).any()


# ---- what the size estimate promises (generators/limits.py) -------------------------------------------------------


def test_an_output_cap_too_wide_for_arrow_is_refused_naming_markov_max_len(tmp_path):
    """An output column of one block past Arrow's 2 GiB: the field that sets the output's width is named."""
    res = CliRunner().invoke(main, ["generate", "markov", "-o", str(tmp_path / "m"), "--quiet",
                                    "--set", "markov.max_len=1000000"])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("Error: markov.max_len: ") and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "m").exists()


def test_the_least_size_bounds_a_dataset_whose_outputs_keep_nothing_of_the_input(tmp_path):
    """The hard disk limit refuses only what cannot fit: the least-bytes estimate must stay at most what is
    written even when every rule deletes its character and no rule is terminal, so every output is empty and
    only the input and prompt columns carry the random input."""
    alphabet = "abcdefghijklmnop"
    raw = {"task": "markov", "seed": 1, "instructions": 1, "budget": 4096, "noop_fraction": 0.0, "input_len": 32,
           "space": {"alphabet": alphabet, "x_len": 1, "y_len": 0},
           "markov": {"rules": [len(alphabet)] * 2, "terminal_fraction": 0.0, "max_steps": 32, "max_len": 32},
           "splits": {"test_unseen": {"instructions": 0, "examples": 0}, "test_seen": {"examples": 0},
                      "validation": {"examples": 0}}}
    cfg = config_from_dict(raw)
    meta = generate(cfg, tmp_path / "d", progress=False, card=False)
    assert set(split_table(make_plan(cfg), "train").column("output").to_pylist()) == {""}
    written = sum(s["bytes"] for s in meta["splits"].values())
    assert limits.estimate(cfg).bytes_min <= written
