"""The sweep plots: PNG files written, and the plotted data (not pixels) checked."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from eval.plots import plot_heatmap, plot_phase_transition, plot_power_law


def row(instructions, per_instruction, acc, alpha=1.0, lo=None, hi=None):
    return {"I": instructions, "S": per_instruction, "alpha": alpha, "accuracy": acc, "ci_low": acc - 0.1 if lo is None else lo, "ci_high": min(1.0, acc + 0.1) if hi is None else hi}


SWEEP = [row(10, 100, 0.0, lo=0.0, hi=0.05), row(100, 10, 0.1), row(1000, 1, 0.9), row(100, 10, 0.3), row(10, 10, 0.02), row(1000, 10, 0.95)]


def is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_phase_transition(tmp_path):
    data = plot_phase_transition(SWEEP, tmp_path / "sub" / "phase.png", series="S")
    assert is_png(tmp_path / "sub" / "phase.png")
    assert data["x"] == "I" and data["series"] == "S"
    lines = data["lines"]
    assert list(lines) == [1, 10, 100]
    # two runs at (I=100, S=10) are averaged, the bars span them; points sorted by I
    assert [p[0] for p in lines[10]] == [10, 100, 1000]
    assert lines[10][1] == pytest.approx((100, 0.2, 0.1, 0.3))
    assert data["seeds"][10][1] == (100, [0.1, 0.3])
    assert lines[100] == [(10, 0.0, 0.0, 0.05)]  # one run: its own interval
    one = plot_phase_transition(SWEEP, tmp_path / "one.png")["lines"]
    assert list(one) == [None] and [p[0] for p in one[None]] == [10, 100, 1000]


def test_heatmap(tmp_path):
    data = plot_heatmap(SWEEP, tmp_path / "heat.png")
    assert is_png(tmp_path / "heat.png")
    assert data["I"] == [10, 100, 1000] and data["S"] == [1, 10, 100]
    assert data["grid"][0] == [None, None, 0.9]  # S = 1
    assert data["grid"][1] == pytest.approx([0.02, 0.2, 0.95])  # S = 10
    assert data["grid"][2] == [0.0, None, None]  # S = 100


def test_power_law(tmp_path):
    rows = [row(1000, 1000, a, alpha=al) for a, al in [(0.9, 1.0), (0.6, 0.1), (0.2, 0.03)]] + [row(10_000, 100, 0.95, alpha=0.03)]
    data = plot_power_law(rows, tmp_path / "pl.png")
    assert is_png(tmp_path / "pl.png")
    assert data["x"] == "alpha" and data["series"] == "I"
    assert [(p[0], p[1]) for p in data["lines"][1000]] == [(0.03, 0.2), (0.1, 0.6), (1.0, 0.9)]
    assert [p[0] for p in data["lines"][10_000]] == [0.03]
    assert data["reference"] == {}
    order = plot_power_law([row(i, 10, 0.5, alpha=a) for i in (3000, 64, 256) for a in (1.0, 0.1)], tmp_path / "o.png")
    assert list(order["lines"]) == [64, 256, 3000]  # legend in numeric order, not as text ("256" < "3000" < "64")


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ConfigError, match="row 1 .* has no 'alpha'"):
        plot_power_law([row(10, 1, 0.5), {"I": 10, "accuracy": 0.4, "model": "m2"}], tmp_path / "x.png")
    with pytest.raises(ConfigError, match="empty"):
        plot_heatmap([], tmp_path / "x.png")


def test_supported_plots_follow_what_the_rows_vary():
    from eval.plots import supported_plots

    phase = [{"I": i, "S": 1000 / i, "alpha": None, "accuracy": 0.5} for i in (10, 100, 1000)]
    assert supported_plots(phase) == ["phase"]  # S = N / I only: no heat map
    grid = [{"I": i, "S": s, "accuracy": 0.5} for i in (10, 100) for s in (1, 10)]
    assert supported_plots(grid) == ["phase", "heatmap"]
    power = [{"I": 1000, "S": 1, "alpha": a, "accuracy": 0.5} for a in (1.0, 0.1)]
    assert supported_plots(power) == ["power-law"]
    assert supported_plots([{"I": 1000, "S": 1, "alpha": None, "distribution": "uniform", "accuracy": 0.5}]) == []


def test_lines_of_a_list_valued_axis(tmp_path):
    """A sweep axis can take lists (a pattern-family range such as space.k: [3, 4]); each is one line."""
    rows = [{**row(i, 10, acc), "space.k": k} for i, acc, k in [(10, 0.1, [3, 4]), (100, 0.5, [3, 4]), (10, 0.2, [3, 12])]]
    data = plot_phase_transition(rows, tmp_path / "k.png", series="space.k")
    assert data["lines"] == {"[3, 12]": [(10, 0.2, 0.1, pytest.approx(0.3))],
                             "[3, 4]": [(10, 0.1, 0.0, 0.2), (100, 0.5, 0.4, 0.6)]}


def test_default_series_is_the_knob_that_varies_at_a_given_I():
    from eval.plots import default_series

    # S = N / I varies with I only: one line, not one per S
    assert default_series([row(10, 100, 0.1), row(100, 10, 0.5)]) is None
    # two alphas at the same I: averaging them would mix the settings the sweep compares
    skewed = [row(10, 100, 0.1, alpha=1.0), row(10, 100, 0.0, alpha=0.1), row(100, 10, 0.9, alpha=1.0)]
    assert default_series(skewed) == "alpha"
    assert default_series([{**r, "variant": v} for r, v in zip(skewed, "aba")]) == "variant"
    assert default_series([row(10, 100, 0.1), row(10, 50, 0.1)]) == "S"


def seeded(point: dict, accs, **extra) -> list[dict]:
    """The rows of one point's runs, one per seed (accuracy given; interval around it)."""
    return [{**point, **extra, "seed": seed, "accuracy": a, "ci_low": max(0.0, a - 0.2), "ci_high": min(1.0, a + 0.2)}
            for seed, a in enumerate(accs)]


def test_three_seeds_per_point_are_averaged_and_their_spread_shown(tmp_path):
    rows = (seeded({"I": 10, "S": 100}, [0.1, 0.2, 0.6]) + seeded({"I": 100, "S": 10}, [0.5, 0.7, 0.75])
            + seeded({"I": 1000, "S": 1}, [0.9, 0.95, 1.0]))
    data = plot_phase_transition(rows, tmp_path / "p.png")
    (line,) = data["lines"].values()
    # hand-computed: (0.1 + 0.2 + 0.6) / 3 = 0.3, (0.5 + 0.7 + 0.75) / 3 = 0.65, (0.9 + 0.95 + 1.0) / 3 = 0.95
    assert [p[1] for p in line] == pytest.approx([0.3, 0.65, 0.95])
    assert [x for p in line for x in p[2:]] == pytest.approx([0.1, 0.6, 0.5, 0.75, 0.9, 1.0])  # min-max of the seeds
    assert data["seeds"][None][0] == (10, [0.1, 0.2, 0.6])
    assert "mean of 3 seeds per point" in data["note"] and "min-max over seeds" in data["note"]
    single = plot_phase_transition(rows[::3], tmp_path / "one.png")
    assert single["note"] == "1 seed per point; bars: 95% Wilson interval"
    heat = plot_heatmap(rows, tmp_path / "h.png")
    assert heat["grid"][0][2] == pytest.approx(0.95)  # S = 1 at I = 1000


def test_power_law_uniform_is_a_reference_not_alpha_one(tmp_path):
    uniform = seeded({"I": 1000, "S": 100, "alpha": None, "distribution": "uniform"}, [0.8, 0.9, 1.0])
    skewed = (seeded({"I": 1000, "S": 100, "alpha": 1.0, "distribution": "power_law"}, [0.5, 0.6, 0.7])
              + seeded({"I": 1000, "S": 100, "alpha": 0.1, "distribution": "power_law"}, [0.1, 0.2, 0.3]))
    data = plot_power_law(uniform + skewed, tmp_path / "pl.png")
    assert [p[0] for p in data["lines"][1000]] == [0.1, 1.0]  # uniform is not plotted at alpha = 1
    assert data["lines"][1000][1][1] == pytest.approx(0.6)
    assert data["reference"][1000] == pytest.approx((0.9, 0.8, 1.0))
    # an older table without a distribution column may write alpha "uniform"
    legacy = [{"I": 1000, "alpha": "uniform", "accuracy": 0.9}, {"I": 1000, "alpha": 0.5, "accuracy": 0.4}]
    assert plot_power_law(legacy, tmp_path / "l.png")["reference"][1000][0] == 0.9
    from eval.plots import default_series, supported_plots

    assert "power-law" in supported_plots(uniform + skewed[:3])  # one alpha against Uniform is a comparison
    assert default_series(uniform + skewed) == "alpha"
    lines = plot_phase_transition(uniform + skewed, tmp_path / "ph.png", series="alpha")["lines"]
    assert list(lines) == [0.1, 1.0, "uniform"]


def test_heatmap_labels_examples_per_instruction_readably(tmp_path):
    rows = [row(64, 30000 / 64, 0.5), row(256, 30000 / 256, 0.4), row(64, 100.0, 0.3), row(256, 2.5, 0.2)]
    data = plot_heatmap(rows, tmp_path / "h.png")
    assert data["S"] == [2.5, 100.0, 30000 / 256, 30000 / 64]
    assert data["S_labels"] == ["≈2.5", "100", "≈117", "≈469"]  # not 117.188 and 468.75


def semantic_rows():
    out = []
    for fam, accs in [("repeated", (0.1, 0.2, 0.3)), ("repeated+periodic+mirrored", (0.3, 0.5, 0.6))]:
        for (k, kmax), acc in zip([("3-4", 4), ("3-12", 12)], accs[:2], strict=True):
            out += seeded({"I": 1000, "families": fam, "k_range": k, "k_max": kmax, "restricted": True},
                          [acc, acc + 0.1, acc + 0.2])
        out += seeded({"I": 1000, "families": fam, "k_range": "1-12", "k_max": 12, "restricted": False}, [accs[2]] * 3)
    return out


def test_semantic_plot_restricted_against_unrestricted(tmp_path):
    from eval.plots import plot_semantic, supported_plots

    rows = semantic_rows()
    assert "semantic" in supported_plots(rows) and "phase" not in supported_plots(rows)
    data = plot_semantic(rows, tmp_path / "sem.png")
    assert is_png(tmp_path / "sem.png")
    panel = data["panels"][1000]
    assert list(panel["lines"]) == ["repeated", "repeated+periodic+mirrored"]
    assert panel["lines"]["repeated"] == [pytest.approx((4, 0.2, 0.1, 0.3)), pytest.approx((12, 0.3, 0.2, 0.4))]
    assert panel["unrestricted"]["repeated+periodic+mirrored"] == pytest.approx((0.6, 0.6, 0.6))
    assert data["k_labels"] == {4: "3-4", 12: "3-12"}
    with pytest.raises(ConfigError, match="has no 'families'"):
        plot_semantic([{"I": 10, "k_range": "3-4", "accuracy": 0.5}], tmp_path / "x.png")


def test_heatmap_labels_are_whole_numbers_from_ten_on(tmp_path):
    """Issue 15: S = N / I was labelled 468.75 and 117.188 (and .3g would write 1.56e+03 for 1562.5)."""
    rows = [row(64, 100000 / 64, 0.5), row(64, 30000 / 64, 0.4), row(256, 30000 / 256, 0.3), row(256, 2.5, 0.2),
            row(256, 100.0, 0.1)]
    labels = plot_heatmap(rows, tmp_path / "h.png")["S_labels"]
    assert labels == ["≈2.5", "100", "≈117", "≈469", "≈1562"]


def test_variants_at_equal_i_are_drawn_when_no_other_plot_applies(tmp_path):
    """Issue 15: a semantic sweep's table at one I (variants named by the sweep, no k columns, as the toy semantic
    sweep's generator-1.0 table had) got 'nothing to plot'."""
    from eval.plots import plot_variants, supported_plots

    rows = (seeded({"I": 1000, "variant": "whole-space", "restricted": False}, [0.3, 0.4, 0.5])
            + seeded({"I": 1000, "variant": "restricted-k3-8", "restricted": True}, [0.1, 0.2, 0.3])
            + seeded({"I": 1000, "variant": "one-family", "restricted": True}, [0.2, 0.2, 0.2]))
    assert supported_plots(rows) == ["variants"]
    data = plot_variants(rows, tmp_path / "v.png")
    assert is_png(tmp_path / "v.png")
    assert list(data["groups"][1000]) == ["one-family", "restricted-k3-8", "whole-space"]  # restricted first
    assert data["groups"][1000]["whole-space"] == pytest.approx((0.4, 0.3, 0.5))  # mean, min, max over seeds
    assert data["seeds"][1000]["restricted-k3-8"] == [0.1, 0.2, 0.3]
    assert data["restricted"] == {"whole-space": False, "restricted-k3-8": True, "one-family": True}
    # two I values: the phase plot draws one line per variant instead
    more = rows + seeded({"I": 100, "variant": "whole-space", "restricted": False}, [0.1])
    assert "variants" not in supported_plots(more) and "phase" in supported_plots(more)
    assert set(plot_variants(more, tmp_path / "v2.png")["groups"]) == {100, 1000}
    one = [r for r in rows if r["variant"] == "one-family"]
    assert "variants" not in supported_plots(one)  # one variant: nothing compared
    with pytest.raises(ConfigError, match="has no 'variant'"):
        plot_variants([{"I": 10, "accuracy": 0.5}], tmp_path / "x.png")


def test_a_semantic_sweep_table_without_k_columns_gets_a_plot(tmp_path):
    """A sweep table as the toy semantic sweep wrote it (generator 1.0): variants at one I, no k columns."""
    import json

    from click.testing import CliRunner

    from eval.cli import main

    rows = [{"run": f"{v}_I=1000", "variant": v, "I": 1000, "N": 30000, "S": 30.0, "distribution": "uniform",
             "alpha": 1.0, "noop_fraction": 0.0, "seed": 0, "test_unseen_accuracy": acc, "test_unseen_n": 500,
             "accuracy": acc, "ci_low": acc - 0.03, "ci_high": acc + 0.03}
            for v, acc in (("restricted-k3-8", 0.17), ("one-family-k3-8", 0.15), ("whole-space", 0.26))]
    table = tmp_path / "results.json"
    table.write_text(json.dumps({"sweep": "toy-cpu-semantic", "rows": rows}))
    res = CliRunner().invoke(main, ["plot", str(table), "-o", str(tmp_path / "plots")])
    assert res.exit_code == 0, res.output
    assert is_png(tmp_path / "plots" / "variants.png") and "plotted 3 rows" in res.output
