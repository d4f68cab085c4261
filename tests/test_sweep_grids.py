"""The shipped sweeps carry the paper's grids (issue 12, DESIGN.md "Paper facts"), read from what every run's
generator config will actually do, not from the sweep files' axes; and the CoT-Collection mixture presets.

The paper's lists are written here from the issue / DESIGN text, independently of the sweep files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeps.config import generator_config, load_sweep, runs

SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"

# power law: alpha in Uniform, 2, 1, 0.5, 0.2, 0.1, 0.07, 0.03 at I in 1k, 10k, 100k, N = 10^6
POWER_ALPHAS = ["uniform", 2, 1, 0.5, 0.2, 0.1, 0.07, 0.03]
POWER_I = [1_000, 10_000, 100_000]
# no-op: I in 100, 200, 300, 400, 500, 1k, 10k, 100k; no-op share 10%-50% (ratios 1:9 ... 5:5)
NOOP_I = [100, 200, 300, 400, 500, 1_000, 10_000, 100_000]
NOOP_SHARES = [0.1, 0.2, 0.3, 0.4, 0.5]
# semantic: k ranges 3-4, 3-6, 3-12, 3-20, 3-30, 3-60; each family alone and mixed; I in 500, 1k, 5k, 10k; test k < 3
SEMANTIC_K = [(3, 4), (3, 6), (3, 12), (3, 20), (3, 30), (3, 60)]
FAMILIES = [("repeated",), ("periodic",), ("mirrored",), ("mirrored", "periodic", "repeated")]
SEMANTIC_I = [500, 1_000, 5_000, 10_000]
# occurrences of x per input: 1, 10, 20 and the 1/5/10/15/20 mix at I in 200, 500, 1k, 2k (P1 Table 1)
OCCURRENCES = [(1,), (10,), (20,), (1, 5, 10, 15, 20)]
OCCURRENCES_I = [200, 500, 1_000, 2_000]
# robustness lengths (P1): inputs 50, 100, 200; patterns 20, 40, 50
ROBUSTNESS_INPUTS, ROBUSTNESS_PATTERNS = [50, 100, 200], [20, 40, 50]


def configs(name: str):
    s = load_sweep(SWEEPS / name)
    return [generator_config(s, r) for r in runs(s)]


def alpha(cfg):
    return "uniform" if cfg.distribution.kind == "uniform" else float(cfg.distribution.alpha)


def norm(a):
    return a if a == "uniform" else float(a)


def seeds(cfgs) -> set[int]:
    return {c.seed for c in cfgs}


def test_power_law_grid():
    paper = configs("power_law.yaml")
    grid = [(c.instructions, alpha(c)) for c in paper]
    assert len(grid) == len(set(grid)) and set(grid) == {(i, norm(a)) for i in POWER_I for a in POWER_ALPHAS}
    assert all(c.distribution.kind in ("uniform", "power_law") for c in paper)
    assert {c.train_examples for c in paper} == {10**6} and seeds(paper) == {0}  # one seed at paper scale
    reduced = configs("power_law_reduced.yaml")
    assert {alpha(c) for c in reduced} == {norm(a) for a in POWER_ALPHAS}  # the whole axis
    assert {c.instructions for c in reduced} <= set(POWER_I) and len({c.instructions for c in reduced}) >= 2
    assert len(seeds(reduced)) >= 3


def test_noop_grid():
    paper = configs("noop.yaml")
    assert sorted({(c.instructions, c.noop_fraction) for c in paper}) == [(i, f) for i in NOOP_I for f in NOOP_SHARES]
    assert {c.train_examples for c in paper} == {10**6} and seeds(paper) == {0}
    reduced = configs("noop_reduced.yaml")
    assert {c.instructions for c in reduced} <= set(NOOP_I) and {400, 500} <= {c.instructions for c in reduced}
    assert {c.noop_fraction for c in reduced} <= set(NOOP_SHARES) and {0.1, 0.5} <= {c.noop_fraction for c in reduced}
    assert len(seeds(reduced)) >= 3


def k_range(cfg) -> tuple[int, int]:
    return cfg.space.k.min, cfg.space.k.max


def test_semantic_grid():
    paper = configs("semantic.yaml")
    restricted = [c for c in paper if k_range(c)[0] >= 3]
    grid = {(c.instructions, k_range(c), tuple(sorted(c.space.structures))) for c in restricted}
    assert sorted(grid) == sorted((i, k, f) for i in SEMANTIC_I for k in SEMANTIC_K for f in FAMILIES)
    for c in paper:  # unseen test patterns: k < 3, from every family
        assert c.test_space is not None and c.test_space.k.max < 3
        assert sorted(c.test_space.structures) == ["mirrored", "periodic", "repeated"]
    # the unrestricted reference: the whole k range, at every I and family mix
    unrestricted = {(c.instructions, tuple(sorted(c.space.structures))) for c in paper if k_range(c) == (1, 60)}
    assert unrestricted == {(i, f) for i in SEMANTIC_I for f in FAMILIES}
    assert len(paper) == len(grid) + len(unrestricted) and seeds(paper) == {0}
    assert {(c.input_len.max, c.space.x_len.max) for c in paper} == {(500, 60)}  # paper_semantic's sizes
    reduced = configs("semantic_reduced.yaml")
    ks = {k_range(c) for c in reduced if k_range(c)[0] >= 3}
    assert ks <= set(SEMANTIC_K) and len(ks) >= 3
    assert {tuple(sorted(c.space.structures)) for c in reduced} == set(FAMILIES)
    assert any(k_range(c)[0] < 3 for c in reduced) and all(c.test_space.k.max < 3 for c in reduced)
    assert {c.instructions for c in reduced} <= set(SEMANTIC_I) and len(seeds(reduced)) >= 3


def test_occurrences_grid():
    for name in ("occurrences.yaml", "occurrences_reduced.yaml"):
        cfgs = configs(name)
        grid = {(c.instructions, tuple(c.occurrences)) for c in cfgs}
        assert grid == {(i, o) for i in OCCURRENCES_I for o in OCCURRENCES}  # the whole Table 1 grid
        for c in cfgs:  # every input can hold its planted copies
            assert c.input_len.min >= max(c.occurrences) * c.space.x_len.max
            # the test splits' own setting is left to the paper's default (1 to 20), not the training one
            assert c.splits.test_unseen.occurrences is None and c.splits.test_seen.occurrences is None
    assert seeds(configs("occurrences.yaml")) == {0} and len(seeds(configs("occurrences_reduced.yaml"))) >= 3


def test_robustness_lengths_grid():
    paper, reduced = configs("robustness_lengths.yaml"), configs("robustness_lengths_reduced.yaml")
    for cfgs in (paper, reduced):
        lengths = {(c.input_len.max, c.space.x_len.max) for c in cfgs}
        # every (input, pattern) pair of the paper's lengths with the pattern shorter than the input
        assert lengths == {(i, x) for i in ROBUSTNESS_INPUTS for x in ROBUSTNESS_PATTERNS if x < i}
        assert all(c.space.y_len.max == c.space.x_len.max and c.input_len.fixed for c in cfgs)
        assert len({c.instructions for c in cfgs}) >= 2
    assert seeds(paper) == {0} and len(seeds(reduced)) >= 3


@pytest.mark.parametrize("name", ["power_law", "noop", "semantic", "occurrences", "robustness_lengths"])
def test_every_paper_grid_has_a_reduced_sweep_with_seeds(name):
    paper, reduced = load_sweep(SWEEPS / f"{name}.yaml"), load_sweep(SWEEPS / f"{name}_reduced.yaml")
    assert paper.axes["seed"] == [0] and len(reduced.axes["seed"]) >= 3
    assert reduced.name == f"{paper.name}-reduced"


# The paper's OSS:Alpaca rows (DESIGN.md): the +CoT-Collection presets use the same ratios (the paper's CoT rows
# are not in DESIGN.md), plus the 50 % and 75 % rows the Alpaca presets have beyond the grid.
CODE_ROWS = {5: (19000, 1000), 10: (18000, 2000), 15: (17000, 3000), 20: (16000, 4000), 25: (15000, 5000),
             50: (10000, 10000), 75: (5000, 15000)}


@pytest.mark.parametrize("pct", sorted(CODE_ROWS))
def test_cot_collection_presets_beside_the_alpaca_ones(pct):
    from generators.real.mixture import source_targets
    from generators.real.mixture_config import is_mixture_config, load_mixture_config, mapping_columns

    presets = Path(__file__).resolve().parent.parent / "generators" / "configs"
    path = presets / f"mix_oss_cot_{pct}.yaml"
    assert is_mixture_config(path)
    cot, alpaca = load_mixture_config(path), load_mixture_config(presets / f"mix_oss_alpaca_{pct}.yaml")
    assert [s.hub for s in cot.sources] == ["ise-uiuc/Magicoder-OSS-Instruct-75K", "kaist-ai/CoT-Collection"]
    assert source_targets(cot.size, [s.weight for s in cot.sources]) == list(CODE_ROWS[pct])
    extra = cot.sources[1]
    # CoT-Collection's columns (its dataset card): source, target, rationale, task, type
    assert extra.columns.prompt == "source"
    assert set(mapping_columns(extra.columns.completion, "completion")) == {"rationale", "target"}
    # the same structure as the Alpaca preset of the row: OSS source, prompt format, dedup, decontamination, size
    assert cot.sources[0] == alpaca.sources[0] and cot.size == alpaca.size == 20000
    assert (cot.prompt_template, cot.dedup, cot.decontamination) == (alpaca.prompt_template, alpaca.dedup, alpaca.decontamination)
    assert cot.name == f"oss-cot-{pct}"


# The later version's 75K block (60K OSS base + 15K of OSS, Alpaca and CoT rows, e.g. 12.5K + 1.25K + 1.25K) and
# CodeQwen's 20K rows with CoT (issue 22 item 7): rows per source, written here from the text.
BLOCK_ROWS = {"mix_oss_60k": {"oss-instruct": 60_000}, "mix_oss_75k": {"oss-instruct": 75_000},
              "mix_oss_alpaca_cot_75k": {"oss-instruct": 72_500, "alpaca": 1_250, "cot-collection": 1_250},
              "mix_oss_alpaca_cot_20k": {"oss-instruct": 17_500, "alpaca": 1_250, "cot-collection": 1_250}}


@pytest.mark.parametrize("preset", sorted(BLOCK_ROWS))
def test_code_mix_block_presets(preset):
    from generators.real.mixture import source_targets
    from generators.real.mixture_config import load_mixture_config

    presets = Path(__file__).resolve().parent.parent / "generators" / "configs"
    cfg = load_mixture_config(presets / f"{preset}.yaml")
    rows = dict(zip([s.name for s in cfg.sources], source_targets(cfg.size, [s.weight for s in cfg.sources])))
    assert rows == BLOCK_ROWS[preset]
    # each source is read exactly as the 20K presets read it (same Hub id, revision, columns)
    known = {s.name: s for name in ("mix_oss_alpaca_25", "mix_oss_cot_25")
             for s in load_mixture_config(presets / f"{name}.yaml").sources}
    assert all(s.model_copy(update={"weight": 1.0}) == known[s.name].model_copy(update={"weight": 1.0})
               for s in cfg.sources)
