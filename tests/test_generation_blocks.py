"""How rows are made in blocks, checked directly (the golden fingerprints only say that *something* changed):

- the rows written to disk, across blocks and shards, hold exactly the examples per instruction that the plan
  fixes (uniform: ``N // I`` each and one more for the first ``N mod I``; skewed: the plan's exact counts);
- each block draws from its own random stream (module doc of :mod:`generators.rng`: keyed by seed, purpose,
  split and block), so two blocks do not share their inputs;
- the last resort for inputs that redraws cannot fix (:func:`generators.tasks.rewrite._remake`, tiny
  alphabets) still gives rows that follow the task's definition: x exactly ``occurrences`` times (overlapping
  matches counted) in an op input, never in a no-op input, and the output is the leftmost rewrite.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest

from generators import config_from_dict
from generators.build import generate, split_table
from generators.plan import make_plan
from generators.rng import BLOCK, generator
from generators.tasks import rewrite
from generators.tasks.rewrite import apply_rule

SMALL_SPLITS = {"test_unseen": {"instructions": 2, "examples": 16}, "test_seen": {"examples": 16},
                "validation": {"examples": 16}}


def occurrences_of(x: str, z: str) -> int:
    """The number of match positions of x in z, overlapping ones included (the task's definition)."""
    return sum(z[i : i + len(x)] == x for i in range(len(z) - len(x) + 1))


@pytest.mark.parametrize("distribution", [{"kind": "uniform"}, {"kind": "power_law", "alpha": 0.5}],
                         ids=["uniform", "power_law"])
def test_the_written_rows_hold_the_planned_examples_per_instruction(distribution, tmp_path):
    """2 x 8,192 + 77 rows over 37 rules in shards of one block: every block and every shard is counted."""
    n, rules = 2 * BLOCK + 77, 37
    raw = {"seed": 5, "instructions": rules, "budget": n, "distribution": distribution, "input_len": 10,
           "space": {"alphabet": "abcdef", "x_len": 2, "y_len": 2}, "splits": SMALL_SPLITS, "shard_rows": BLOCK}
    cfg = config_from_dict(raw)
    planned = make_plan(cfg).splits["train"].counts.tolist()
    if distribution["kind"] == "uniform":  # the definition, not the plan's own arithmetic
        assert planned == [n // rules + (i < n % rules) for i in range(rules)]
    assert sum(planned) == n
    meta = generate(cfg, tmp_path / "out", progress=False, card=False)
    files = meta["splits"]["train"]["files"]
    assert len(files) == 3
    ids = [i for f in files for i in pq.read_table(tmp_path / "out" / f, columns=["instruction_id"]).column(0).to_pylist()]
    assert len(ids) == meta["splits"]["train"]["rows"] == n
    written = Counter(ids)
    assert [written.get(i, 0) for i in range(rules)] == planned


@pytest.mark.parametrize(("noop_fraction", "sizes"), [(0.1, (10, 7, 3, 14)), (0.3, (2 * BLOCK + 3, 5, 8, 12)),
                                                       (0.0, (10, 5, 5, 5)), (1.0, (12, 5, 5, 5))])
def test_each_split_has_its_share_of_no_op_rows(noop_fraction, sizes):
    """round(noop_fraction x rows) no-op rows in every split (0.1 of 10 rows: exactly one)."""
    train, validation, unseen, seen = sizes
    raw = {"seed": 4, "instructions": 10, "budget": train, "noop_fraction": noop_fraction, "input_len": 10,
           "space": {"alphabet": "abcdef", "x_len": 2, "y_len": 2},
           "splits": {"test_unseen": {"instructions": 2, "examples": unseen}, "test_seen": {"examples": seen},
                      "validation": {"examples": validation}}}
    plan = make_plan(config_from_dict(raw))
    for name, rows in zip(("train", "validation", "test_unseen", "test_seen"), sizes, strict=True):
        flags = split_table(plan, name).column("is_noop").to_pylist()
        assert len(flags) == rows and sum(flags) == round(noop_fraction * rows), name


def test_each_block_draws_its_own_inputs():
    """Two blocks of one split agree, character by character, as often as independent uniform draws do (1 in 6
    over six letters), not as rows drawn from one shared stream would."""
    raw = {"seed": 3, "instructions": 64, "budget": 2 * BLOCK, "noop_fraction": 0.5, "input_len": 24,
           "space": {"alphabet": "abcdef", "x_len": 2, "y_len": 2}, "splits": SMALL_SPLITS}
    plan = make_plan(config_from_dict(raw))
    inputs = split_table(plan, "train").column("input").to_pylist()
    first = np.frombuffer("".join(inputs[:BLOCK]).encode(), np.uint8)
    second = np.frombuffer("".join(inputs[BLOCK:]).encode(), np.uint8)
    assert first.size == second.size == BLOCK * 24
    same = float((first == second).mean())
    assert abs(same - 1 / 6) < 0.02, same  # 196,608 characters: the standard error is under 0.001
    assert len(set(inputs)) > 0.99 * len(inputs)


LAST_RESORT = [  # (space, occurrences, input_len): x uses some letters / every letter of a tiny alphabet
    ({"alphabet": "abc", "x_len": 2, "y_len": 1}, [2], 6),
    ({"alphabet": "ab", "x_len": 2, "y_len": [0, 2]}, [2], 5),
    ({"alphabet": "ab", "x_len": 3, "y_len": 1, "structures": ["periodic"], "k": 2}, [1, 2], 7),
    ({"alphabet": "abc", "x_len": 2, "y_len": 2, "structures": ["repeated"], "k": 2}, [3], 8),
    ({"alphabet": "ab", "x_len": 4, "y_len": 1, "structures": ["periodic"], "k": 2}, [2], 9),  # abab: copies apart
]


@pytest.mark.parametrize(("space", "occurrences", "input_len"), LAST_RESORT)
def test_the_last_resort_inputs_follow_the_definition(space, occurrences, input_len, monkeypatch):
    """With redraws turned off every row that misses its count goes through the last resort."""
    monkeypatch.setattr(rewrite, "MAX_OCCURRENCE_REDRAWS", 0)
    remade = []
    remake = rewrite._remake

    def counted(rng, split, z, zlen, noop, x, xlen, occ, bad, pos, width):
        remade.append((int(noop[bad].sum()), int((~noop[bad]).sum())))
        return remake(rng, split, z, zlen, noop, x, xlen, occ, bad, pos, width)

    monkeypatch.setattr(rewrite, "_remake", counted)
    raw = {"seed": 2, "instructions": 3, "examples_per_instruction": 200, "noop_fraction": 0.3,
           "input_len": input_len, "occurrences": occurrences, "space": space,
           "splits": {"test_unseen": {"instructions": 1, "examples": 100}, "test_seen": {"examples": 0},
                      "validation": {"examples": 0}}}
    plan = make_plan(config_from_dict(raw))
    seen = Counter()
    for name in plan.splits:
        for r in split_table(plan, name).to_pylist():
            x, y = r["instruction"].split(" -> ")
            found = occurrences_of(x, r["input"])
            assert found == 0 if r["is_noop"] else found in occurrences, (name, x, r["input"])
            assert len(r["input"]) == input_len and set(r["input"]) <= set(space["alphabet"])
            assert r["output"] == apply_rule(x, y, r["input"]) == r["completion"]
            assert r["is_noop"] == (r["output"] == r["input"]) or x == y
            seen[found] += 1
    assert set(seen) == {0, *occurrences}
    assert sum(noop for noop, _ in remade) > 0 and sum(op for _, op in remade) > 0  # both kinds were remade


HAND_PICKED = {  # alphabet: [(x, occurrences (0: a no-op row), input length)], each row only as long as it must be
    "abc": [("ab", 2, 4),  # only touching copies fit: abab
            ("ab", 2, 5),  # room for a letter x does not use between the copies: abcab
            ("ca", 3, 8),
            ("ab", 0, 6)],  # a no-op row
    "ab": [("abab", 2, 9),  # touching copies would hold it 3 times: one letter apart
           ("bab", 2, 7),  # a as the letter between makes bababab (3 matches): b it must be
           ("aa", 2, 5),
           ("ab", 0, 4)],  # a no-op row over two letters: b's only
}


@pytest.mark.parametrize("alphabet", sorted(HAND_PICKED))
def test_the_last_resort_on_rows_at_the_edge_of_possible(alphabet):
    """Rows whose input is as short as the requested copies allow, each from a background that matches
    everywhere (x repeated): the last resort rebuilds every one to hold x exactly as often as asked, and the
    match position it reports is the leftmost one."""
    rows = HAND_PICKED[alphabet]
    width = max(n for _, _, n in rows)
    wx = max(len(x) for x, _, _ in rows)
    x = np.zeros((len(rows), wx), np.uint8)
    z = np.zeros((len(rows), width), np.uint8)
    for r, (pattern, _, n) in enumerate(rows):
        x[r, : len(pattern)] = np.frombuffer(pattern.encode(), np.uint8)
        z[r, :n] = np.frombuffer((pattern * n)[:n].encode(), np.uint8)
    xlen = np.array([len(p) for p, _, _ in rows], np.int64)
    zlen = np.array([n for _, _, n in rows], np.int64)
    occ = np.array([max(c, 1) for _, c, _ in rows], np.int64)
    noop = np.array([c == 0 for _, c, _ in rows])
    pos = np.full(len(rows), -1, np.int64)

    split = SimpleNamespace(alphabet=np.frombuffer(alphabet.encode(), np.uint8))
    rewrite._remake(generator(0, "test"), split, z, zlen, noop, x, xlen, occ, np.arange(len(rows)), pos, width)
    for r, (pattern, count, n) in enumerate(rows):
        made = z[r, :n].tobytes().decode()
        assert set(made) <= set(alphabet) and occurrences_of(pattern, made) == count, (pattern, made)
        if count:
            assert pos[r] == made.find(pattern), (pattern, made, pos[r])
