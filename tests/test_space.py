"""The instruction space: sizes, structures, distinct draws, nesting across requests, and refusals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from generators import config_from_dict
from generators.fields import Range, SpaceConfig
from generators.plan import make_plan
from generators.space import InstructionSpace, pattern_index_map


def test_size_of_a_small_space_matches_enumeration():
    sp = InstructionSpace(SpaceConfig(alphabet="abc", x_len=Range(1, 2), y_len=Range(0, 1)))
    # x: 3 + 9 patterns; y: 1 + 3 replacements; minus the 3 rules with x == y (single letters)
    assert sp.size == 12 * 4 - 3
    assert sp.dense
    rules = sp.distinct(0, "train", sp.size)
    keys = rules.keys()
    assert len(set(keys)) == sp.size
    with pytest.raises(ConfigError, match="space"):
        sp.distinct(0, "train", sp.size + 1)


def test_draws_are_nested_and_test_instructions_do_not_depend_on_I():
    base = {"space": {"alphabet": "abcdefghij", "x_len": 4, "y_len": 4}, "splits": {"test_unseen": {"instructions": 30, "examples": 30}}}
    small = make_plan(config_from_dict({**base, "instructions": 50}))
    large = make_plan(config_from_dict({**base, "instructions": 400}))
    s_train, l_train = small.splits["train"].pool_text.to_pylist(), large.splits["train"].pool_text.to_pylist()
    assert l_train[:50] == s_train, "a larger request extends a smaller one (nested instruction sets)"
    assert small.splits["test_unseen"].pool_text.to_pylist() == large.splits["test_unseen"].pool_text.to_pylist()


def test_dense_draws_are_nested_too():
    base = {"space": {"alphabet": "abc", "x_len": [1, 2], "y_len": [1, 2]}, "splits": {"test_unseen": {"instructions": 5, "examples": 5}}}
    small = make_plan(config_from_dict({**base, "instructions": 10}))
    large = make_plan(config_from_dict({**base, "instructions": 40}))
    assert large.splits["train"].pool_text.to_pylist()[:10] == small.splits["train"].pool_text.to_pylist()


def test_whole_space_can_be_requested_when_enumerable():
    raw = {"instructions": 40, "space": {"alphabet": "ab", "x_len": [1, 2], "y_len": [1, 2]},
           "splits": {"test_unseen": {"instructions": 2, "examples": 4}}, "input_len": 6}
    sp = InstructionSpace(config_from_dict(raw).space)
    raw["instructions"] = sp.size - 2
    plan = make_plan(config_from_dict(raw))
    assert plan.splits["train"].n_instructions == sp.size - 2


def test_requests_beyond_the_space_are_refused_with_the_field_named():
    with pytest.raises(ConfigError) as err:
        make_plan(config_from_dict({"instructions": 100, "space": {"alphabet": "ab", "x_len": 1, "y_len": 1}, "input_len": 4}))
    assert err.value.field == "instructions"


def test_sampled_space_refuses_more_than_half():
    cfg = config_from_dict({"instructions": 10, "space": {"alphabet": "abcdefghijklmnop", "x_len": 3, "y_len": 3}})
    sp = InstructionSpace(cfg.space)
    assert not sp.dense
    with pytest.raises(ConfigError, match="half"):
        sp.distinct(0, "train", sp.size // 2 + 1)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["repeated", "periodic", "mirrored"]), st.integers(1, 30), st.integers(1, 8))
def test_structures(structure, length, k):
    imap = pattern_index_map(structure, k, length)
    assert len(imap) == length
    free = "".join(chr(97 + i % 26) for i in range(max(imap) + 1))
    s = "".join(free[i] for i in imap)
    if k == 1:
        assert imap == tuple(range(length))
    elif structure == "repeated":
        runs = [s[i : i + k] for i in range(0, length, k)]
        assert all(len(set(r)) == 1 for r in runs)
    elif structure == "periodic":
        p = -(-length // k)
        assert all(s[i] == s[i % p] for i in range(length))
    else:
        p = -(-length // k)
        for seg in range(-(-length // p)):
            piece = s[seg * p : (seg + 1) * p]
            base = s[:p] if seg % 2 == 0 else s[:p][::-1]
            assert piece == base[: len(piece)]


def test_semantic_restriction_draws_test_instructions_from_the_test_space():
    cfg = config_from_dict({
        "instructions": 60,
        "input_len": 40,
        "space": {"alphabet": "abcdef", "x_len": 12, "y_len": 4, "structures": ["repeated", "periodic"], "k": [3, 4]},
        "test_space": {"alphabet": "abcdef", "x_len": 12, "y_len": 4, "structures": ["repeated", "periodic"], "k": [1, 2]},
        "splits": {"test_unseen": {"instructions": 20, "examples": 40}},
    })
    plan = make_plan(cfg)
    for text in plan.splits["train"].pool_text.to_pylist():
        x = text.split(" -> ")[0]
        runs3 = all(len(set(x[i : i + 3])) == 1 for i in range(0, 12, 3))
        runs4 = all(len(set(x[i : i + 4])) == 1 for i in range(0, 12, 4))
        per3 = all(x[i] == x[i % 4] for i in range(12))  # k=3 -> period 4
        per4 = all(x[i] == x[i % 3] for i in range(12))  # k=4 -> period 3
        assert runs3 or runs4 or per3 or per4, x
    assert not set(plan.splits["train"].pool_text.to_pylist()) & set(plan.splits["test_unseen"].pool_text.to_pylist())


def test_x_alphabet_restricts_patterns():
    cfg = config_from_dict({"instructions": 50, "space": {"alphabet": "abcdefgh", "x_alphabet": "abc", "x_len": 5, "y_len": 5}})
    plan = make_plan(cfg)
    for text in plan.splits["train"].pool_text.to_pylist():
        assert set(text.split(" -> ")[0]) <= set("abc")


@pytest.mark.parametrize("dense", [True, False])
def test_a_pattern_two_classes_make_gets_both_shares_in_both_modes(dense, monkeypatch):
    """Classes are drawn uniformly: over 'ab' at length 2, the random class gives each of aa, ab, ba, bb 1/8 and
    the repeated k = 2 class gives aa and bb 1/4 each, so aa and bb are drawn with 3/8, ab and ba with 1/8."""
    import generators.space as space

    if not dense:
        monkeypatch.setattr(space, "DENSE_LIMIT", 0)
    sp = InstructionSpace(SpaceConfig(alphabet="ab", x_len=Range(2, 2), y_len=Range(1, 1), structures=["repeated"], k=Range(1, 2)))
    assert sp.dense is dense
    firsts = [sp.distinct(seed, "train", 1).x_str(0) for seed in range(600)]
    share = sum(x in ("aa", "bb") for x in firsts) / len(firsts)
    assert 0.65 < share < 0.85  # 0.75 expected; counting aa and bb once (first class only) gave 0.5
