"""The sweep runner: the tiny phase-transition sweep end to end on CPU, resume, emit, and bad sweep files."""

from __future__ import annotations

import json
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


def test_phase_transition_sweeps_cover_at_least_eight_values_of_I():
    for name in ("phase_transition.yaml", "phase_transition_reduced.yaml"):
        s = load_sweep(SWEEPS / name)
        values = s.axes["instructions"]
        assert len(values) >= 8 and min(values) <= 10 and max(values) == s.set["budget"]


def test_bad_sweep_files_name_the_field(tmp_path):
    base = yaml.safe_load((SWEEPS / "tiny_cpu.yaml").read_text())
    for change, field in [({"axez": {}}, "axez"), ({"axes": {"instructions": []}}, "axes.instructions"),
                          ({"axes": {"instructions": [0]}}, "instructions"), ({"recipe": None}, "recipe")]:
        f = tmp_path / "s.yaml"
        f.write_text(yaml.safe_dump({**base, **change}))
        with pytest.raises(ConfigError) as err:
            load_sweep(f)
        assert err.value.field == field
