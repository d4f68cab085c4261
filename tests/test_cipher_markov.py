"""The encrypted-rewriting cipher and the Markov-algorithm task against their reference semantics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from generators import config_from_dict
from generators.build import split_table
from generators.cipher import CipherConfig, make_cipher
from generators.plan import make_plan
from generators.tasks.markov import run_markov
from generators.tasks.rewrite import apply_rule

ALPHA = "abcdefghijklmnopqrstuvwxyz"


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["caesar", "substitution"]),
    st.integers(0, 100),
    st.text(ALPHA, min_size=1, max_size=4),
    st.text(ALPHA, max_size=4),
    st.text(ALPHA, max_size=30),
)
def test_cipher_round_trips_and_commutes_with_rewriting(kind, key, x, y, z):
    c = make_cipher(CipherConfig(kind=kind, shift=key, seed=key), ALPHA)
    assert sorted(c.image) == sorted(ALPHA)
    assert c.decrypt(c.encrypt(z)) == z
    assert c.encrypt(apply_rule(x, y, z)) == apply_rule(c.encrypt(x), c.encrypt(y), c.encrypt(z))


def test_caesar_shift_and_explicit_key():
    assert make_cipher(CipherConfig(kind="caesar", shift=3), "abcde").encrypt("abe") == "dec"
    assert make_cipher(CipherConfig(kind="substitution", key="edcba"), "abcde").encrypt("abe") == "eda"


def test_encrypted_dataset_decrypts_to_the_plain_one():
    raw = {"seed": 2, "instructions": 10, "examples_per_instruction": 5, "noop_fraction": 0.2, "input_len": 20,
           "space": {"alphabet": "abcdefgh", "x_len": 3, "y_len": [1, 4]},
           "splits": {"test_unseen": {"instructions": 3, "examples": 10}, "test_seen": {"examples": 10}}}
    plain = make_plan(config_from_dict(raw))
    enc_plan = make_plan(config_from_dict({**raw, "cipher": {"kind": "substitution", "seed": 9}}))
    c = enc_plan.cipher
    assert not c.is_identity
    for split in plain.splits:
        a = split_table(plain, split).to_pylist()
        b = split_table(enc_plan, split).to_pylist()
        for ra, rb in zip(a, b, strict=True):
            for col in ("instruction", "input", "output", "completion"):
                assert c.decrypt(rb[col]) == ra[col]
            assert rb["is_noop"] == ra["is_noop"]
            assert rb["prompt"] == f"{rb['instruction']}\n{rb['input']}\n"


def test_markov_reference_semantics():
    rules = [("ab", "b", False), ("b", "", True)]
    assert run_markov(rules, "aab", 10, 50) == ("", 3, False)  # aab -> ab -> b -> '' (terminal)
    assert run_markov([("a", "aa", False)], "a", 3, 50) == ("aaaa", 3, True)  # stopped by the step limit
    assert run_markov([("a", "aa", False)], "a", 100, 5) == ("aaaaa", 5, True)  # cut at max_len
    assert run_markov([("x", "y", False)], "abc", 5, 50) == ("abc", 0, False)  # no rule applies


def test_markov_rows_follow_the_reference():
    raw = {"task": "markov", "seed": 4, "instructions": 15, "examples_per_instruction": 6, "noop_fraction": 0.3,
           "input_len": [10, 14], "space": {"alphabet": "abcdefg", "x_len": [2, 3], "y_len": [0, 3]},
           "markov": {"rules": [1, 4], "terminal_fraction": 0.5, "max_steps": 5, "max_len": 30},
           "splits": {"test_unseen": {"instructions": 4, "examples": 20}, "test_seen": {"examples": 12}}}
    plan = make_plan(config_from_dict(raw))
    train_rules = set()
    for split in plan.splits:
        for r in split_table(plan, split).to_pylist():
            rules = []
            for part in r["instruction"].split("; "):
                lhs, rhs = part.split(" ->")
                terminal = rhs.startswith(".")
                rules.append((lhs, rhs[2:] if terminal else rhs[1:], terminal))
            out, steps, cut = run_markov(rules, r["input"], 5, 30)
            assert (r["output"], r["steps"], r["truncated"]) == (out, steps, cut)
            assert r["n_rules"] == len(rules) and 1 <= len(rules) <= 4
            assert r["is_noop"] == (steps == 0)
            if split == "train":
                train_rules.add(r["instruction"])
            if split == "test_unseen":
                assert r["instruction"] not in train_rules


MARKOV_OK = {"task": "markov", "seed": 4, "instructions": 15, "examples_per_instruction": 6, "input_len": [10, 14],
             "space": {"alphabet": "abcdefg", "x_len": [2, 3], "y_len": [0, 3]},
             "markov": {"rules": [1, 4], "terminal_fraction": 0.5, "max_steps": 5, "max_len": 14},
             "splits": {"test_unseen": {"instructions": 4, "examples": 20}, "test_seen": {"examples": 12}}}


def _markov(**change):
    raw = {**MARKOV_OK, **{k: v for k, v in change.items() if k != "markov"}}
    raw["markov"] = {**MARKOV_OK["markov"], **change.get("markov", {})}
    return raw


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"occurrences": [1, 2]}, "occurrences", "is a rewrite-task setting: Markov inputs get one planted pattern"),
    ({"splits": {"test_unseen": {"instructions": 4, "examples": 20, "occurrences": [2]}, "test_seen": {"examples": 12}}},
     "splits.test_unseen.occurrences", "is a rewrite-task setting: Markov inputs get one planted pattern"),
    ({"splits": {"test_unseen": {"instructions": 4, "examples": 20}, "test_seen": {"examples": 12, "occurrences": [2]}}},
     "splits.test_seen.occurrences", "is a rewrite-task setting: Markov inputs get one planted pattern"),
    ({"input_len": [2, 14]}, "input_len", "inputs of 2 characters cannot hold a 3-character pattern"),
    ({"markov": {"rules": [0, 4]}}, "markov.rules", "must be >= 1, got [0, 4]"),
    ({"markov": {"terminal_fraction": 1.01}}, "markov.terminal_fraction", "must be within [0, 1], got 1.01"),
    ({"markov": {"terminal_fraction": -0.01}}, "markov.terminal_fraction", "must be within [0, 1], got -0.01"),
    ({"markov": {"max_steps": 0}}, "markov.max_steps", "must be >= 1, got 0"),
    ({"markov": {"max_len": 13}}, "markov.max_len", "must be >= input_len (14), got 13"),
])  # fmt: skip
def test_markov_settings_are_refused_at_their_bounds_by_field(change, field, message):
    """Each Markov setting just past its bound fails naming the field; at the bound it is accepted (MARKOV_OK: one
    rule at the least, max_len equal to the longest input; inputs as long as the longest pattern; fractions 0 and
    1; one step)."""
    make_plan(config_from_dict(_markov()))  # the bounds themselves pass: rules 1, max_len = longest input
    make_plan(config_from_dict(_markov(input_len=[3, 14])))  # inputs just long enough for the longest pattern
    make_plan(config_from_dict(_markov(markov={"terminal_fraction": 0.0, "max_steps": 1})))
    make_plan(config_from_dict(_markov(markov={"terminal_fraction": 1.0})))
    with pytest.raises(ConfigError) as err:
        make_plan(config_from_dict(_markov(**change)))
    assert (err.value.field, str(err.value)) == (field, f"{field}: {message}")


def test_a_noop_input_avoids_every_pattern_or_the_error_names_what_to_raise(monkeypatch):
    """A no-op row's input holds none of the instruction's patterns: kept as drawn when it holds none, redrawn
    until it does, and after MAX_NOOP_REDRAWS redraws an error saying what to raise."""
    import numpy as np

    from generators import blocks
    from generators.tasks import markov

    alphabet = np.frombuffer(b"ab", dtype=np.uint8)
    rng, zlen = np.random.default_rng(0), np.array([4])
    draws = []
    real = markov.random_inputs
    monkeypatch.setattr(markov, "random_inputs", lambda *a: draws.append(1) or real(*a))
    assert markov.noop_input(rng, alphabet, [("aa", "b", False)], "abab", zlen, 4) == "abab" and not draws
    redrawn = markov.noop_input(rng, alphabet, [("bb", "a", False)], "abbb", zlen, 4)
    assert "bb" not in redrawn and len(redrawn) == 4 and draws
    draws.clear()
    with pytest.raises(blocks.GenerationError) as err:  # every 4-letter string over a, b holds a or b
        markov.noop_input(rng, alphabet, [("a", "b", False), ("b", "a", True)], "abab", zlen, 4)
    assert len(draws) == blocks.MAX_NOOP_REDRAWS
    assert str(err.value) == ("could not make a no-op input that avoids every pattern of a Markov instruction; "
                              "raise space.x_len or the alphabet size")


def test_markov_columns_have_their_published_types(tmp_path):
    """n_rules and steps are 32-bit integers and truncated a boolean in the parquet files (the dataset card and
    load_dataset see these types)."""
    import pyarrow.parquet as pq

    from generators.build import generate

    meta = generate(config_from_dict(MARKOV_OK), tmp_path / "m", progress=False, card=False)
    schema = pq.read_schema(tmp_path / "m" / meta["splits"]["train"]["files"][0])
    import pyarrow as pa

    assert (schema.field("n_rules").type, schema.field("steps").type, schema.field("truncated").type) == (
        pa.int32(), pa.int32(), pa.bool_())
