"""The tiny pool sweep (issue 23.7) end to end on CPU: pool data per I at a fixed N, a tiny model trained from a
config, held-out loss on unseen and seen clusters, the table and the plot; and the shipped pool data and presets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from poolkit import pool_rows

from core.metadata import read_metadata
from generators.real.pool_config import load_pool_config
from sweeps.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_tiny_pool_sweep_end_to_end(tmp_path):
    out = tmp_path / "sweep"
    res = CliRunner().invoke(main, ["run", str(ROOT / "sweeps" / "pool_tiny_cpu.yaml"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = json.loads((out / "results.json").read_text())
    rows = table["rows"]
    assert [r["I"] for r in rows] == [2, 3, 6]
    unseen = set()
    for r in rows:
        meta = read_metadata(out / f"I={r['I']}" / "data")
        assert r["N"] == 48 and r["effective_instructions"] == pytest.approx(r["I"])
        assert meta["task"] == "pool" and len(meta["clusters"]["train"]) == r["I"]
        unseen.add(r["test_unseen_fingerprint"])  # every run is scored on the same unseen clusters
        results = json.loads((out / f"I={r['I']}" / "eval.json").read_text())
        assert results["schema"] == "diveval/loss/1"
        for split in ("test_unseen", "test_seen"):
            assert r[f"{split}_loss"] == results["splits"][split]["loss"] > 0
            assert r[f"{split}_loss_ci_low"] <= r[f"{split}_loss"] <= r[f"{split}_loss_ci_high"]
        assert r["test_unseen_n"] == 24 and r["test_seen_n"] == 12
        assert r["loss_gap"] == pytest.approx(r["test_unseen_loss"] - r["test_seen_loss"], abs=1e-5)
    assert len(unseen) == 1
    assert (out / "results.csv").read_text().count("\n") == 4
    assert (out / "heldout_loss.png").stat().st_size > 1000
    assert "plots" in res.output and "heldout_loss.png" in res.output


def test_the_heldout_loss_plot_draws_both_splits_against_i(tmp_path):
    from eval.plots import plot_heldout_loss

    rows = [{"I": i, "seed": s, "test_unseen_loss": 3.0 - 0.1 * i + 0.01 * s, "test_seen_loss": 1.0 + 0.01 * s}
            for i in (2, 8) for s in (0, 1)] + [{"I": 32, "seed": 0, "test_unseen_loss": 1.5, "test_unseen_loss_ci_low": 1.4,
                                                  "test_unseen_loss_ci_high": 1.7, "test_seen_loss": 1.0}]
    drawn = plot_heldout_loss(rows, tmp_path / "loss.png")
    unseen = drawn["lines"]["unseen clusters"]
    assert unseen[0] == (2, pytest.approx(2.805), pytest.approx(2.8), pytest.approx(2.81))  # mean, min, max of seeds
    assert unseen[2] == (32, 1.5, 1.4, 1.7)  # one run: its bootstrap interval
    assert [p[0] for p in drawn["lines"]["seen clusters"]] == [2, 8, 32]
    assert (tmp_path / "loss.png").stat().st_size > 1000


def test_the_shipped_toy_pool_is_the_template_pool():
    shipped = (ROOT / "generators" / "configs" / "data" / "kinds_pool.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in shipped] == pool_rows(per_kind=50)


@pytest.mark.parametrize("preset", ["pool_kinds", "pool_alpaca", "pool_generalist_coreset_20k"])
def test_pool_presets_are_valid(preset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the toy preset's data is found beside the preset, not in the working directory
    cfg = load_pool_config(ROOT / "generators" / "configs" / f"{preset}.yaml")
    assert cfg.task == "pool" and cfg.splits.validation.examples > 0
    if preset == "pool_kinds":
        assert Path(cfg.sources[0].path).is_file()
    if preset == "pool_generalist_coreset_20k":
        assert cfg.selection.kind == "coreset" and cfg.budget == 20000 and [s.hub for s in cfg.sources] == [
            "openbmb/UltraInteract_sft", "Open-Orca/OpenOrca"]


def test_the_tiny_pool_sweeps_rows_fit_its_recipes_context():
    """Every row of the toy pool (prompt + completion + EOS, one token per character: the tiny recipe's tokenizer)
    fits the max_length the sweep trains with (also the new model's context)."""
    import yaml

    from sweeps.config import generator_config, load_sweep, runs

    s = load_sweep(ROOT / "sweeps" / "pool_tiny_cpu.yaml")
    cfg = generator_config(s, runs(s)[0])
    max_length = s.recipe_set.get("max_length", yaml.safe_load((ROOT / s.recipe).read_text())["max_length"])
    longest = max(len(cfg.prompt_template.format(instruction=r["instruction"])) + len(r["response"]) + 1
                  for r in pool_rows(per_kind=50))
    assert longest <= max_length


def test_the_toy_preset_is_made_and_verified_from_any_folder(tmp_path, monkeypatch):
    """Its data ships beside it; datagen.json names the file only, and a re-make finds it among the shipped data."""
    from publishing.cli import main as datagen

    monkeypatch.chdir(tmp_path)
    label = ["--set", "clusters={kind: column, column: kind}", "--set", "semantic.sample=0"]
    res = CliRunner().invoke(datagen, ["generate", "pool_kinds", "-o", "out/kinds", "--quiet", *label])
    assert res.exit_code == 0, res.output
    assert read_metadata(tmp_path / "out/kinds")["config"]["sources"][0]["path"] == "kinds_pool.jsonl"
    res = CliRunner().invoke(datagen, ["verify", "out/kinds", "--quiet"])
    assert res.exit_code == 0 and "verified" in res.output, res.output
