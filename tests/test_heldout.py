"""The validation split: held-out rows of training rules, never a test_seen prompt, coincidences with train counted.

Every number datagen.json records is recomputed here from the written parquet files with plain Python.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import generators.heldout as heldout
from generators import config_from_dict
from generators.build import generate
from generators.plan import make_plan
from generators.rng import BLOCK


def rows(folder: Path, meta: dict, split: str) -> list[dict]:
    out = []
    for f in meta["splits"][split]["files"]:
        out += pq.read_table(folder / f).to_pylist()
    return out


def small_space(**kw) -> dict:
    """Few possible inputs per rule: held-out rows often coincide with train and with each other."""
    return {"instructions": 10, "examples_per_instruction": 50, "noop_fraction": 0.2, "input_len": 4,
            "space": {"alphabet": "abc", "x_len": 2, "y_len": 1},
            "splits": {"test_unseen": {"instructions": 3, "examples": 30}, "test_seen": {"examples": 300},
                       "validation": {"examples": 300}}, **kw}


def test_validation_never_repeats_a_test_seen_prompt_and_the_counts_are_true(tmp_path):
    meta = generate(config_from_dict(small_space()), tmp_path / "o", progress=False, card=False)
    train, val, seen = (rows(tmp_path / "o", meta, s) for s in ("train", "validation", "test_seen"))
    train_prompts, seen_prompts = {r["prompt"] for r in train}, {r["prompt"] for r in seen}
    assert not {r["prompt"] for r in val} & seen_prompts
    h = meta["heldout"]
    assert h["validation"]["rows"] == len(val) == meta["splits"]["validation"]["rows"]
    assert h["validation"]["requested"] == 300 and h["validation"]["redrawn"] > 0  # collisions were likely here
    assert h["validation"]["requested"] - h["validation"]["dropped"] == len(val)
    assert h["validation"]["dropped"] <= h["validation"]["redrawn"] // 10  # a redraw finds most a new prompt
    assert h["validation"]["rows_matching_test_seen"] == 0
    assert h["validation"]["rows_matching_train"] == sum(r["prompt"] in train_prompts for r in val)
    assert h["test_seen"]["rows_matching_train"] == sum(r["prompt"] in train_prompts for r in seen)
    assert h["test_seen"]["rows_matching_train"] > 0  # measured, not prevented
    trained = {r["instruction_id"] for r in train}
    assert {r["instruction_id"] for r in val} <= trained and {r["instruction_id"] for r in seen} <= trained


def test_validation_rows_are_new_in_a_normal_space(tmp_path):
    raw = {"instructions": 50, "examples_per_instruction": 40, "noop_fraction": 0.3, "input_len": 30,
           "space": {"alphabet": "abcdefghijklmnop", "x_len": 5, "y_len": 5},
           "splits": {"test_unseen": {"instructions": 5, "examples": 50}, "test_seen": {"examples": 500},
                      "validation": {"examples": 500}}}
    meta = generate(config_from_dict(raw), tmp_path / "o", progress=False, card=False)
    val, seen = rows(tmp_path / "o", meta, "validation"), rows(tmp_path / "o", meta, "test_seen")
    assert len(val) == 500 and meta["heldout"]["validation"]["redrawn"] == 0
    assert meta["heldout"]["validation"]["rows_matching_train"] == 0 == meta["heldout"]["test_seen"]["rows_matching_train"]
    assert sum(r["is_noop"] for r in val) == 150
    assert not {r["input"] for r in val} & {r["input"] for r in seen}  # their own random stream


def test_validation_follows_the_training_mix():
    from generators.build import split_table
    from generators.plan import make_plan

    raw = {"instructions": 200, "budget": 20_000, "input_len": 12, "distribution": {"kind": "power_law", "alpha": 0.1},
           "space": {"alphabet": "abcdefghij", "x_len": 4, "y_len": 4},
           "splits": {"test_unseen": {"instructions": 2, "examples": 0}, "test_seen": {"examples": 0},
                      "validation": {"examples": 4000}}}
    plan = make_plan(config_from_dict(raw))
    train = Counter(split_table(plan, "train").column("instruction_id").to_pylist())
    val = Counter(split_table(plan, "validation").column("instruction_id").to_pylist())
    assert set(val) <= set(train)
    top = [i for i, _ in train.most_common(10)]
    for i in top:  # 4000 draws without replacement from the 20000 slots: shares agree within sampling noise
        assert abs(val[i] / 4000 - train[i] / 20_000) < 0.03, i
    assert sum(val[i] for i in top) / 4000 > 0.3  # the skew is there (a uniform-over-rules split would be ~5%)


def test_a_space_too_small_for_any_new_validation_prompt_drops_the_split(tmp_path):
    raw = {"instructions": 1, "examples_per_instruction": 3, "input_len": 1, "space": {"alphabet": "ab", "x_len": 1, "y_len": 0},
           "splits": {"test_unseen": {"instructions": 1, "examples": 2}, "test_seen": {"examples": 4},
                      "validation": {"examples": 10}}}
    meta = generate(config_from_dict(raw), tmp_path / "o", progress=False)
    assert "validation" not in meta["splits"]  # the only input is x itself: every prompt is a test_seen one
    assert meta["heldout"]["validation"] == {"rows": 0, "rows_matching_train": 0, "requested": 10, "redrawn": 10,
                                             "dropped": 10, "rows_matching_test_seen": 0}


def test_no_validation_when_asked_for_none(tmp_path):
    raw = small_space()
    raw["splits"]["validation"] = {"examples": 0}
    meta = generate(config_from_dict(raw), tmp_path / "o", progress=False, card=False)
    assert list(meta["splits"]) == ["train", "test_unseen", "test_seen"]
    train, seen = rows(tmp_path / "o", meta, "train"), rows(tmp_path / "o", meta, "test_seen")
    train_prompts = {r["prompt"] for r in train}
    assert "validation" not in meta["heldout"]  # test_seen's repeats of train are still counted
    assert meta["heldout"]["test_seen"] == {"rows": 300, "rows_matching_train": sum(r["prompt"] in train_prompts for r in seen)}


def test_without_test_seen_validation_counts_only_its_repeats_of_train(tmp_path):
    """No test_seen split: nothing to avoid (no redraws), nothing to match, and the repeats of train are still
    counted, row for row, in that small space."""
    raw = small_space()
    raw["splits"] = {**raw["splits"], "test_seen": {"examples": 0}}
    meta = generate(config_from_dict(raw), tmp_path / "o", progress=False, card=False)
    train, val = rows(tmp_path / "o", meta, "train"), rows(tmp_path / "o", meta, "validation")
    train_prompts = {r["prompt"] for r in train}
    assert "test_seen" not in meta["splits"] and "test_seen" not in meta["heldout"]
    assert meta["heldout"]["validation"] == {
        "rows": 300, "rows_matching_train": sum(r["prompt"] in train_prompts for r in val), "requested": 300,
        "redrawn": 0, "dropped": 0, "rows_matching_test_seen": 0}  # fmt: skip
    assert meta["heldout"]["validation"]["rows_matching_train"] > 0


def test_a_colliding_validation_row_is_redrawn_up_to_max_redraws_times_then_dropped():
    """The promise in generators.heldout, on a stand-in task whose prompts name (row, attempt): a row whose prompt
    is a test_seen one is made again from the stream of attempt 1, 2, ... MAX_REDRAWS (attempt 0 is the row as
    first made) until it is new, in place; a row that never is gets dropped. Two blocks, so that a row of the
    second block is redrawn from its own block."""
    n, last = BLOCK + 3, heldout.MAX_REDRAWS
    made: list[tuple[int, int]] = []

    def make(plan, split, block, attempt=0):
        made.append((block, attempt))
        ids = range(block * BLOCK, min(n, (block + 1) * BLOCK))
        prompts = pa.array([f"{r}@{attempt}" for r in ids])
        return pa.RecordBatch.from_arrays([prompts] * 5, ["a", "b", "c", "d", "prompt"])  # prompt: column 4

    first_ok = {5: 1, 7: 3, BLOCK + 1: last, BLOCK + 2: last + 1}  # the attempt whose prompt is new (else avoided)
    avoid = pa.array([f"{r}@{a}" for r, ok in first_ok.items() for a in range(ok)])
    table, stats = heldout.validation_table(None, SimpleNamespace(blocks=2), make, avoid)
    assert stats == {"requested": n, "redrawn": 4, "dropped": 1}
    want = [f"{r}@{first_ok.get(r, 0)}" for r in range(n) if first_ok.get(r, 0) <= last]
    assert table.column("prompt").to_pylist() == want
    assert sorted(made) == sorted(set(made))  # each block made once per attempt, not once per colliding row
    assert {a for b, a in made} == set(range(last + 1))


def test_a_validation_prompt_that_repeats_test_seen_is_an_error_not_a_row(monkeypatch):
    """The guarantee is checked once more after the redraws: were they skipped, making the plan fails."""
    skip_redraws = heldout.validation_table
    monkeypatch.setattr(heldout, "validation_table", lambda plan, split, make, avoid: skip_redraws(plan, split, make, None))
    with pytest.raises(RuntimeError, match=r"^internal error: .*validation.*test_seen"):
        make_plan(config_from_dict(small_space()))
