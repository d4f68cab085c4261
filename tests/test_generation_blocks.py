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
from generators.blocks import GenerationError
from generators.build import generate, split_table
from generators.fingerprint import block_digest
from generators.plan import make_plan
from generators.rng import BLOCK, generator
from generators.tasks import rewrite
from generators.tasks.rewrite import apply_rule
from generators.version import REMAKEABLE_VERSIONS

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


def test_a_redrawn_block_has_other_rules_and_inputs_for_the_same_rows():
    """A validation row that would repeat a test_seen prompt is redrawn (generators.blocks.start_block):
    another random stream and another training slot, so another rule, for the same row indices and no-op
    flags; attempt 0 is the block itself."""
    raw = {"seed": 8, "instructions": 40, "budget": 4000, "noop_fraction": 0.3, "input_len": 12,
           "space": {"alphabet": "abcdef", "x_len": 2, "y_len": 2},
           "splits": {"test_unseen": {"instructions": 2, "examples": 0}, "test_seen": {"examples": 0},
                      "validation": {"examples": 300}}}
    plan = make_plan(config_from_dict(raw))
    split = plan.splits["validation"]
    first, again, other = (rewrite.rewrite_block(plan, split, 0, a).to_pydict() for a in (0, 0, 1))
    assert first == again and first["prompt"] == split_table(plan, "validation").column("prompt").to_pylist()
    assert other["is_noop"] == first["is_noop"]
    assert sum(a != b for a, b in zip(first["instruction_id"], other["instruction_id"], strict=True)) > 0.8 * 300
    assert sum(a != b for a, b in zip(first["input"], other["input"], strict=True)) > 0.95 * 300


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


HAND_PICKED = {  # alphabet, [(x, occurrences (0: a no-op row), the input before)]: as short as the copies allow
    "three letters": ("abc", [("ab", 2, "abab"),  # only touching copies fit (counted 2 only by chance before)
                              ("ab", 2, "ababa"),  # room for a letter x does not use between the copies: abcab
                              ("ca", 3, "cacacaca"),
                              ("ab", 0, "ababab")]),  # a no-op row: every a replaced
    "two letters": ("ab", [("abab", 2, "ababababa"),  # touching copies would hold it 3 times: one letter apart
                           ("bab", 2, "bababab"),  # a as the letter between makes bababab (3 matches): b it must be
                           ("aa", 2, "aaaaa"),
                           ("ab", 0, "abab"),  # no-op rows over two letters: the other letter only
                           ("ba", 0, "abba")]),
    "one letter to replace": ("abc", [("ca", 0, "bcab")]),
}


def remake(alphabet: str, rows: list[tuple[str, int, str]]) -> tuple[list[str], list[int]]:
    """The last resort run on ``rows`` (all of them bad): the inputs it makes and the match positions."""
    width = max(len(z) for _, _, z in rows)
    x = np.zeros((len(rows), max(len(p) for p, _, _ in rows)), np.uint8)
    z = np.zeros((len(rows), width), np.uint8)
    for r, (pattern, _, before) in enumerate(rows):
        x[r, : len(pattern)] = np.frombuffer(pattern.encode(), np.uint8)
        z[r, : len(before)] = np.frombuffer(before.encode(), np.uint8)
    xlen = np.array([len(p) for p, _, _ in rows], np.int64)
    zlen = np.array([len(z) for _, _, z in rows], np.int64)
    occ = np.array([max(c, 1) for _, c, _ in rows], np.int64)
    noop = np.array([c == 0 for _, c, _ in rows])
    pos = np.full(len(rows), -1, np.int64)
    split = SimpleNamespace(alphabet=np.frombuffer(alphabet.encode(), np.uint8))
    rewrite._remake(generator(0, "test"), split, z, zlen, noop, x, xlen, occ, np.arange(len(rows)), pos, width)
    return [z[r, : zlen[r]].tobytes().decode() for r in range(len(rows))], pos.tolist()


@pytest.mark.parametrize("case", sorted(HAND_PICKED))
def test_the_last_resort_on_rows_at_the_edge_of_possible(case):
    """Rows whose input is as short as the requested copies allow, each starting from an input that holds x
    wrongly: the last resort rebuilds every one to hold x exactly as often as asked (no-op rows: never), and the
    match position it reports is the leftmost one."""
    alphabet, rows = HAND_PICKED[case]
    made, pos = remake(alphabet, rows)
    for (pattern, count, before), z, at in zip(rows, made, pos, strict=True):
        assert len(z) == len(before) and set(z) <= set(alphabet), (pattern, z)
        assert occurrences_of(pattern, z) == count, (pattern, z)
        if count:
            assert at == z.find(pattern), (pattern, z, at)


def test_the_last_resort_follows_its_documented_order():
    """Without a letter x leaves unused, the backgrounds are tried one letter at a time, in alphabet order,
    copies one apart first: ab twice in 5 letters over a, b is a, ab, a, ab (b would work too); and a no-op
    row's letters that start x become one of the other letters, at random (both b and c over a, b, c)."""
    assert remake("ab", [("ab", 2, "ababa")]) == (["abaab"], [0])
    made, _ = remake("abc", [("ab", 0, "a" * 40)])
    assert set(made[0]) == {"b", "c"}


def test_the_last_resort_over_a_larger_alphabet_is_pinned():
    """Its letters outside x are picked in alphabet order (a stable sort): 18 of them here."""
    made, pos = remake("abcdefghijklmnopqrst", [("ab", 3, "abababab"), ("ca", 2, "cacaca")])
    assert (made, pos) == (["aboabnab", "bcaoca"], [0, 1])


def test_what_even_the_last_resort_cannot_make_is_named():
    """aa twice in 4 letters over a, b: aaaa holds it 3 times and there is no room to part the copies."""
    with pytest.raises(GenerationError) as err:
        remake("ab", [("ab", 1, "abab"), ("aa", 2, "aaaa")])
    assert str(err.value) == ("cannot make a 4-character input over 'ab' that contains 'aa' exactly 2 time(s) "
                              "(counting overlapping matches); raise input_len or the alphabet size, or lower "
                              "occurrences")


PINNED = {  # alphabet, occurrences, input_len, rules: requests whose rows redraws alone cannot make
    "two letters": ("ab", [3], [8, 10], 4, "66ec7517981d51db3aa7112ec892c3201b91638c91752937400d24de49789b45"),
    "three letters": ("abc", [3, 4], [11, 12], 6, "92decf04be4dfbace9b5ec58d46096e4823d04619fa006fa9daf79aafd12b316"),
}


@pytest.mark.parametrize("case", sorted(PINNED))
def test_rows_made_by_the_last_resort_are_pinned(case, monkeypatch):
    """The last resort is part of the output format too: a dataset over a tiny alphabet, re-made from its
    config, must give the same rows (else bump the generator version and this pin with it)."""
    alphabet, occurrences, input_len, rules, pin = PINNED[case]
    remade = []
    remake_rows = rewrite._remake
    monkeypatch.setattr(rewrite, "_remake", lambda *a: remade.append(a[8].size) or remake_rows(*a))
    raw = {"name": "pinned-tiny", "seed": 9, "instructions": rules, "examples_per_instruction": 150,
           "noop_fraction": 0.3, "input_len": input_len, "occurrences": occurrences,
           "space": {"alphabet": alphabet, "x_len": 2, "y_len": 1},
           "splits": {"test_unseen": {"instructions": 0, "examples": 0}, "test_seen": {"examples": 0},
                      "validation": {"examples": 0}}}
    # every version this code re-makes: 2.1 changed Markov sets and the test splits, not rewrite training rows
    assert REMAKEABLE_VERSIONS == ("2.0", "2.1"), "a new generator version: pin its rows here"
    for version in REMAKEABLE_VERSIONS:
        remade.clear()
        table = split_table(make_plan(config_from_dict(raw), version), "train")
        assert sum(remade) > 10  # rows that went through the last resort
        assert block_digest(table).hex() == pin, version


BACKGROUND = ord(".")  # a byte no pattern uses: the cells plant must leave alone stay visible


def planting_case(seed: int, n: int = 600):
    """n rows of '.' (widths up to 16, padding 0 past each length) and patterns over a, b of 1 to 3 letters,
    each asked 1 to 3 times, with room for the copies left small so both ends of every row get used."""
    rng = np.random.default_rng(seed)
    width = 16
    xlen = rng.integers(1, 4, n)
    occ = rng.integers(1, 4, n)
    x = np.zeros((n, 3), np.uint8)
    for r in range(n):
        x[r, : xlen[r]] = rng.choice(np.frombuffer(b"ab", np.uint8), xlen[r])
    return rng, width, x, xlen.astype(np.int64), occ.astype(np.int64)


@pytest.mark.parametrize("sep", [0, 1, 2])
def test_plant_writes_each_copy_where_it_says_and_nothing_else(sep):
    """blocks.plant's promise: each listed row gets its pattern occ[r] times at random places that do not
    overlap and lie at least ``sep`` apart, within the row's length; it returns each row's first start (-1 for a
    row not planted) and every planted (row, start) pair; the other rows and cells are left as they were. And
    the places are random over all that fit: some rows start at 0, some end their last copy at the row's end."""
    from generators.blocks import count_matches, plant

    rng, width, x, xlen, occ = planting_case(sep)
    n = x.shape[0]
    zlen = np.minimum(occ * xlen + (occ - 1) * sep + rng.integers(0, 3, n), width)
    fits = occ * xlen + (occ - 1) * sep <= zlen
    before = np.where(np.arange(width)[None, :] < zlen[:, None], BACKGROUND, 0).astype(np.uint8)
    rows = np.flatnonzero(fits & (np.arange(n) % 5 != 0))  # every fifth row is left out
    z = before.copy()
    first, pairs = plant(generator(sep, "plant"), z, zlen, rows, x, xlen, occ, sep=sep)

    assert len(pairs[0]) == len(pairs[1]) == occ[rows].sum()
    starts_of = {int(r): [] for r in rows}
    for r, s in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
        starts_of[r].append(s)
    at_start = at_end = 0
    for r in range(n):
        if r not in starts_of:
            assert first[r] == -1 and (z[r] == before[r]).all(), r
            continue
        starts = sorted(starts_of[r])
        assert len(starts) == occ[r] and first[r] == starts[0], (r, starts, first[r])
        expected = before[r].copy()
        for k, s in enumerate(starts):
            assert s >= 0 and s + xlen[r] <= zlen[r], (r, starts)
            if k:
                assert s >= starts[k - 1] + xlen[r] + sep, (r, starts)  # apart, so never overlapping
            expected[s : s + xlen[r]] = x[r, : xlen[r]]
        assert (z[r] == expected).all(), (r, z[r].tobytes(), expected.tobytes())
        if zlen[r] > occ[r] * xlen[r] + (occ[r] - 1) * sep:  # room to spare: the copies could go elsewhere
            at_start += starts[0] == 0
            at_end += starts[-1] + xlen[r] == zlen[r]
    assert at_start > 20 and at_end > 20, (at_start, at_end)
    # the pairs index z and are exactly the copies' places: skipping them leaves no match over a '.' background
    # (copies of a, b patterns that touch, as sep 0 allows, can make one more match; counted here as such)
    extra = count_matches(z, zlen, x, xlen, skip=pairs)
    text = [z[r, : zlen[r]].tobytes().decode() for r in range(n)]
    pats = [x[r, : xlen[r]].tobytes().decode() for r in range(n)]
    assert extra.tolist() == [occurrences_of(p, t) - len(starts_of.get(r, [])) for r, (p, t) in enumerate(zip(pats, text))]


def test_plant_with_no_row_to_plant_reports_no_place():
    """An all-no-op block plants nothing: every first start is -1, and the (empty) pairs still index z."""
    from generators.blocks import plant

    _, width, x, xlen, occ = planting_case(7, n=5)
    z = np.full((5, width), BACKGROUND, np.uint8)
    first, pairs = plant(generator(7, "plant"), z, np.full(5, width), np.zeros(0, np.int64), x, xlen, occ)
    assert first.tolist() == [-1] * 5
    assert len(pairs[0]) == len(pairs[1]) == 0 and z[pairs].size == 0
    assert (z == BACKGROUND).all()


@pytest.mark.parametrize("lengths", ["all as wide as the pieces", "ragged", "with empty pieces"])
def test_write_rows_writes_each_piece_at_its_place_only(lengths):
    """write_rows' definition: dest[rows[i], at[i] : at[i] + length[i]] = src[i, :length[i]], nothing else."""
    from generators.blocks import write_rows

    rng = np.random.default_rng(len(lengths))
    dest = rng.integers(65, 91, (9, 12)).astype(np.uint8)
    rows = np.array([0, 3, 4, 8, 2])
    src = rng.integers(97, 123, (5, 4)).astype(np.uint8)
    length = {"all as wide as the pieces": np.full(5, 4), "ragged": np.array([1, 4, 2, 3, 4]),
              "with empty pieces": np.array([0, 3, 0, 4, 1])}[lengths]
    at = np.array([0, 8, 5, 3, 1])
    expected = dest.copy()
    for i, r in enumerate(rows):
        for j in range(length[i]):
            expected[r, at[i] + j] = src[i, j]
    write_rows(dest, rows, at, src, length)
    assert (dest == expected).all()
