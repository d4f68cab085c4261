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
# occurrences of x per input: 1, 10, 20 and the 1/5/10/15/20 mix (P1 Table 1)
OCCURRENCES = [(1,), (10,), (20,), (1, 5, 10, 15, 20)]


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
        assert sorted({tuple(c.occurrences) for c in cfgs}) == sorted(OCCURRENCES)
        for c in cfgs:  # every input can hold its planted copies
            assert c.input_len.min >= max(c.occurrences) * c.space.x_len.max
    assert seeds(configs("occurrences.yaml")) == {0} and len(seeds(configs("occurrences_reduced.yaml"))) >= 3


@pytest.mark.parametrize("name", ["power_law", "noop", "semantic", "occurrences"])
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
