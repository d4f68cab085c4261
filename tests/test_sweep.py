"""The sweep runner: the tiny phase-transition sweep end to end on CPU, resume, emit, and bad sweep files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generators.errors import ConfigError
from training.sweep import load_sweep, main, runs

ROOT = Path(__file__).resolve().parent.parent
SWEEPS = ROOT / "sweeps"


@pytest.mark.slow
def test_tiny_sweep_end_to_end_and_resume(tmp_path):
    out = tmp_path / "sweep"
    res = CliRunner().invoke(main, ["run", str(SWEEPS / "tiny_cpu.yaml"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = json.loads((out / "results.json").read_text())
    rows = table["rows"]
    assert [r["I"] for r in rows] == [2, 8, 40]
    for r in rows:
        assert r["N"] == 240 and r["S"] == 240 / r["I"]
        for split in ("test_unseen", "test_seen"):
            assert 0.0 <= r[f"{split}_accuracy"] <= 1.0
            assert r[f"{split}_ci_low"] <= r[f"{split}_accuracy"] <= r[f"{split}_ci_high"]
            assert r[f"{split}_n"] == 24
    assert (out / "results.csv").read_text().count("\n") == 4
    assert (out / "phase_transition.png").stat().st_size > 0
    # every stage is complete: a second run only collects
    res = CliRunner().invoke(main, ["run", str(SWEEPS / "tiny_cpu.yaml"), "-o", str(out)])
    assert res.exit_code == 0 and "trained" not in res.output and "data ready" not in res.output, res.output
    assert "evaluated" not in res.output, res.output
    # removing a model retrains it, and its old evaluation goes with it (it scored the removed model)
    import shutil

    shutil.rmtree(out / "I=2" / "model")
    res = CliRunner().invoke(main, ["run", str(SWEEPS / "tiny_cpu.yaml"), "-o", str(out), "--only", "I=2"])
    assert res.exit_code == 0 and "trained" in res.output and "evaluated" in res.output, res.output
    assert "data ready" not in res.output, res.output
    # finished stages made from other settings are refused, not silently reused
    base = yaml.safe_load((SWEEPS / "tiny_cpu.yaml").read_text())
    for change, stage in [({"recipe_set": {**base["recipe_set"], "max_steps": 13}}, "train stage"),
                          ({"eval": {**base["eval"], "batch_size": 8}}, "eval stage"),
                          ({"set": {**base["set"], "noop_fraction": 0.5}}, "another generator config")]:
        changed = tmp_path / "changed.yaml"
        changed.write_text(yaml.safe_dump({**base, **change}))
        res = CliRunner().invoke(main, ["run", str(changed), "-o", str(out), "--only", "I=2"])
        assert res.exit_code != 0 and stage in res.output and "I=2" in res.output, res.output


def test_training_resumes_an_interrupted_run(tmp_path):
    from training.sweep import train_command

    s = load_sweep(SWEEPS / "tiny_cpu.yaml")
    cmd = train_command(s, runs(s)[0], tmp_path / "data", tmp_path / "model")
    assert cmd[cmd.index("--resume_from_checkpoint") + 1] == "auto"  # training/resume.py: last checkpoint if any
    assert cmd[0] == sys.executable and "accelerate" not in " ".join(cmd)  # no accelerate_config: plain python
    s = load_sweep(SWEEPS / "phase_transition_reduced.yaml")
    cmd = train_command(s, runs(s)[0], tmp_path / "data", tmp_path / "model")
    # accelerate of the interpreter running the sweep, not whichever `accelerate` comes first on PATH
    assert cmd[:4] == [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
    assert cmd[4].endswith("single_gpu.yaml") and cmd[5].endswith("sft.py")


def test_a_folder_of_checkpoints_is_resumed_not_taken_as_finished(tmp_path):
    from training.sweep import training_done

    model = tmp_path / "model"
    (model / "checkpoint-30").mkdir(parents=True)
    (model / "checkpoint-30" / "config.json").write_text("{}")
    assert not training_done(model)  # interrupted: the sweep trains again, from that checkpoint
    (model / "config.json").write_text("{}")
    assert not training_done(model)  # the final save without its card: the run ended before publishing
    (model / "README.md").write_text("card")
    assert training_done(model)


def test_emit_writes_one_command_per_run(tmp_path):
    out = tmp_path / "emit"
    res = CliRunner().invoke(main, ["emit", str(SWEEPS / "phase_transition.yaml"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    ids = (out / "runs.txt").read_text().split()
    assert len(ids) == 16 and ids[0] == "I=10" and ids[-1] == "I=1000000"
    commands = (out / "commands.sh").read_text().splitlines()
    assert sum("--only" in c and not c.startswith("#") for c in commands) == 16 and "collect" in commands[-1]


@pytest.mark.parametrize("sweep", sorted(p.name for p in SWEEPS.glob("*.yaml")))
def test_every_shipped_sweep_is_valid(sweep):
    s = load_sweep(SWEEPS / sweep)  # validates every run's generator config
    assert (ROOT / s.recipe).exists()
    assert len(runs(s)) >= 3


@pytest.mark.parametrize("sweep", sorted(p.name for p in SWEEPS.glob("*.yaml")))
def test_rows_fit_the_recipes_context(sweep):
    """Every run's rows (prompt + completion + EOS, one token per character) fit the recipe's max_length."""
    from generators.build import block_batch
    from generators.plan import make_plan
    from training.sweep import generator_config

    s = load_sweep(SWEEPS / sweep)
    recipe = yaml.safe_load((ROOT / s.recipe).read_text())
    max_length = s.recipe_set.get("max_length", recipe["max_length"])
    smallest = {}
    for r in runs(s):  # one run per variant (lengths do not depend on I), the cheapest to plan
        v = smallest.get(r.variant)
        if v is None or r.overrides.get("instructions", 0) < v.overrides.get("instructions", 0):
            smallest[r.variant] = r
    for r in smallest.values():
        plan = make_plan(generator_config(s, r))
        for split in plan.splits.values():
            batch = block_batch(plan, split, 0)
            longest = max(len(p) + len(c) for p, c in zip(batch.column("prompt").to_pylist(), batch.column("completion").to_pylist()))
            assert longest + 1 <= max_length, f"{sweep} {r.run_id} {split.name}: rows of {longest + 1} tokens > {max_length}"


def test_phase_transition_sweeps_cover_at_least_eight_values_of_I():
    for name in ("phase_transition.yaml", "phase_transition_reduced.yaml"):
        s = load_sweep(SWEEPS / name)
        values = s.axes["instructions"]
        assert len(values) >= 8 and min(values) <= 10 and max(values) == s.set["budget"]


def test_bad_sweep_files_name_the_field(tmp_path):
    base = yaml.safe_load((SWEEPS / "tiny_cpu.yaml").read_text())
    for change, field in [({"axez": {}}, "axez"), ({"axes": {"instructions": []}}, "axes.instructions"),
                          ({"axes": {"instructions": [0]}}, "instructions"), ({"recipe": None}, "recipe"),
                          ({"recipe": "training/recipes/no-such.yaml"}, "recipe"),
                          ({"accelerate_config": "training/accelerate/none.yaml"}, "accelerate_config"),
                          ({"variants": {"big": {"instructions": 40}}}, "variants.big.instructions"),
                          ({"variants": {"big": 3}}, "variants.big"),
                          ({"eval": {"splits": "test_unseen"}}, "eval.splits"),
                          ({"eval": {"splits": []}}, "eval.splits"),
                          ({"eval": {"batch_size": 0}}, "eval.batch_size"),
                          ({"eval": {"limit": 0}}, "eval.limit"),
                          ({"eval": {"max_new_tokens": "x"}}, "eval.max_new_tokens")]:
        f = tmp_path / "s.yaml"
        f.write_text(yaml.safe_dump({**base, **change}))
        with pytest.raises(ConfigError) as err:
            load_sweep(f)
        assert err.value.field == field


def test_phase_plot_has_one_line_per_value_of_the_other_axis():
    from training.sweep import series_key

    assert series_key(load_sweep(SWEEPS / "power_law.yaml")) == "alpha"
    assert series_key(load_sweep(SWEEPS / "noop.yaml")) == "noop_fraction"
    assert series_key(load_sweep(SWEEPS / "semantic.yaml")) == "variant"
    assert series_key(load_sweep(SWEEPS / "phase_transition.yaml")) is None
