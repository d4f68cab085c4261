"""Markov algorithms with auxiliary symbols (issue 13.2: a task family added by one module + a preset + tests),
checked against a plain-Python reference of Markov's semantics written here from the definition."""

from __future__ import annotations

import datasets
import pytest
from evalkit import char_tokenizer, copy_model

from core.errors import ConfigError
from eval.rewrite import evaluate_rewrite
from generators import config_from_dict, tasks
from generators.build import generate, split_table
from generators.cli import resolve_config_path
from generators.config import load_config
from generators.plan import make_plan

ALPHABET = "abcdefg"
MARKERS = "#$"
RAW = {
    "name": "aux", "task": "markov_aux", "seed": 3, "instructions": 30, "examples_per_instruction": 6,
    "noop_fraction": 0.2, "input_len": [8, 12], "space": {"alphabet": ALPHABET, "x_len": [2, 3], "y_len": [0, 2]},
    "markov": {"rules": [2, 4], "terminal_fraction": 0.3, "max_steps": 6, "max_len": 24},
    "markov_aux": {"markers": MARKERS, "writers": 0.5, "readers": 0.6},
    "splits": {"test_unseen": {"instructions": 8, "examples": 40}, "test_seen": {"examples": 30},
               "validation": {"examples": 20}},
}


def reference(rules: list[tuple[str, str, bool]], s: str, max_steps: int, max_len: int) -> tuple[str, int, bool]:
    """A normal Markov algorithm: scan the rules in order; the first whose left side occurs replaces its leftmost
    occurrence; a terminal rule ends the run; no applicable rule ends it; so do ``max_steps`` applications
    (truncated if a rule would still apply) and a string longer than ``max_len`` (cut, truncated)."""
    for step in range(1, max_steps + 1):
        fired = None
        for lhs, rhs, terminal in rules:
            at = s.find(lhs)
            if at != -1:
                fired = (lhs, rhs, terminal, at)
                break
        if fired is None:
            return s, step - 1, False
        lhs, rhs, terminal, at = fired
        s = s[:at] + rhs + s[at + len(lhs):]
        if len(s) > max_len:
            return s[:max_len], step, True
        if terminal:
            return s, step, False
    return s, max_steps, any(lhs in s for lhs, _, _ in rules)


def parse(instruction: str) -> list[tuple[str, str, bool]]:
    rules = []
    for part in instruction.split("; "):
        lhs, rhs = part.split(" ->")
        terminal = rhs.startswith(".")
        rules.append((lhs, rhs[2:] if terminal else rhs[1:], terminal))
    return rules


@pytest.fixture(scope="module")
def tables():
    plan = make_plan(config_from_dict(RAW))
    return {name: split_table(plan, name).to_pylist() for name in plan.splits}


def test_rows_follow_the_reference_semantics(tables):
    cfg = config_from_dict(RAW)
    for name, rows in tables.items():
        assert rows, name
        for r in rows:
            rules = parse(r["instruction"])
            assert set(r["input"]) <= set(ALPHABET), "inputs are over the alphabet only"
            assert all(set(lhs + rhs) <= set(ALPHABET + MARKERS) for lhs, rhs, _ in rules)
            out, steps, cut = reference(rules, r["input"], cfg.markov.max_steps, cfg.markov.max_len)
            assert (r["output"], r["steps"], r["truncated"]) == (out, steps, cut)
            assert r["completion"] == r["output"] and r["n_rules"] == len(rules)
            assert r["marker_in_output"] == any(m in r["output"] for m in MARKERS)
            assert r["is_noop"] == (steps == 0)
            plain = [lhs for lhs, _, _ in rules if not set(lhs) & set(MARKERS)]
            if r["is_noop"]:
                assert not any(lhs in r["input"] for lhs, _, _ in rules)
            else:  # an op row's input holds the pattern of a rule that reads no marker
                assert any(lhs in r["input"] for lhs in plain)
            assert r["prompt"] == f"{r['instruction']}\n{r['input']}\n"


def test_writers_and_readers_are_as_defined(tables):
    """Writers put one marker into their replacement; readers (never first) read a marker their algorithm writes.
    Both kinds occur at these shares, and markers reach outputs."""
    algorithms = {r["instruction"] for rows in tables.values() for r in rows}
    writers = readers = 0
    for text in algorithms:
        rules = parse(text)
        written = {c for _, rhs, _ in rules for c in rhs if c in MARKERS}
        assert all(sum(c in MARKERS for c in rhs) <= 1 for _, rhs, _ in rules)
        for j, (lhs, rhs, _) in enumerate(rules):
            marks = [c for c in lhs if c in MARKERS]
            if marks:
                readers += 1
                assert j > 0 and marks == [lhs[0]] and lhs[0] in written, text
                assert not any(c in MARKERS for c in rhs), "a rule reads or writes, not both"
            writers += any(c in MARKERS for c in rhs)
    assert writers > 0 and readers > 0
    assert any(r["marker_in_output"] for rows in tables.values() for r in rows)


def test_unseen_rules_are_disjoint_from_training_rules_one_by_one(tables):
    single = {name: {rule for r in rows for rule in parse(r["instruction"])} for name, rows in tables.items()}
    strip = {(lhs, rhs) for lhs, rhs, _ in single["train"]}
    assert not strip & {(lhs, rhs) for lhs, rhs, _ in single["test_unseen"]}


def test_same_config_same_bytes_with_any_number_of_workers(tmp_path):
    small = {**RAW, "shard_rows": 8192, "examples_per_instruction": None, "budget": 20_000}
    a = generate(config_from_dict(small), tmp_path / "a", progress=False, card=False)
    b = generate(config_from_dict(small), tmp_path / "b", progress=False, card=False, workers=2)
    assert a["fingerprint"] == b["fingerprint"] and a["task"] == "markov_aux"


@pytest.mark.parametrize("change, field", [
    ({"markers": "a#"}, "markov_aux.markers"),  # in the alphabet
    ({"markers": "#>"}, "markov_aux.markers"),  # rule syntax
    ({"markers": "##"}, "markov_aux.markers"),
    ({"markers": ""}, "markov_aux.markers"),
    ({"writers": 1.5}, "markov_aux.writers"),
    ({"readers": -0.1}, "markov_aux.readers"),
    ({"writers": "many"}, "markov_aux.writers"),
    ({"nope": 1}, "markov_aux.nope"),
])
def test_bad_sections_name_the_field(change, field):
    with pytest.raises(ConfigError) as err:
        config_from_dict({**RAW, "markov_aux": {**RAW["markov_aux"], **change}})
    assert err.value.field == field


def test_only_configs_of_the_task_record_its_section():
    """A section added with a new task leaves the recorded configs of the other tasks as they were."""
    aux = config_from_dict(RAW)
    assert "markov_aux" in aux.to_dict() and "markov" in aux.to_dict()
    assert config_from_dict(aux.to_dict()) == aux
    rewrite = config_from_dict({k: v for k, v in RAW.items() if k not in ("task", "markov_aux")})
    assert "markov_aux" not in rewrite.to_dict() and "markov" in rewrite.to_dict()


def test_the_preset_is_valid_and_registered():
    cfg = load_config(resolve_config_path("markov_aux"))
    assert cfg.task == "markov_aux" and "markov_aux" in tasks.names()
    assert set(cfg.markov_aux.markers).isdisjoint(cfg.space.alphabet)


def test_diveval_breaks_accuracy_down_by_markers_in_the_output():
    """The task's scorer, found from the columns alone: by rule count, and by whether the output holds a marker."""
    tok = char_tokenizer("abcdefg#$ ->.;\n")
    ds = datasets.Dataset.from_dict({
        "prompt": ["a -> #\nab\n", "a -> b\nbb\n", "c -> #d\ncd\n"],
        "completion": ["#b", "bb", "#dd"],
        "input": ["ab", "bb", "cd"],
        "is_noop": [False, True, False],
        "n_rules": [1, 1, 1], "steps": [1, 0, 1], "truncated": [False, False, False],
        "marker_in_output": [True, False, True],
    })
    scores, _ = evaluate_rewrite(copy_model(tok), tok, {"test_unseen": ds})
    s = scores["splits"]["test_unseen"]
    assert s["rule_length_column"] == "n_rules"
    by_marker = s["breakdowns"]["marker_in_output"]
    assert {k: (v["n"], v["correct"]) for k, v in by_marker.items()} == {"False": (1, 1), "True": (2, 0)}
    assert tasks.scorer_for(None, ds.column_names) is tasks.get("markov_aux").scorer
