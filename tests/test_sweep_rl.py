"""RL sweeps (issue 24, item 3): a GRPO trainer, one SFT warm start per seed that every run of that seed starts
from, and SFT compared with GRPO at equal I in one table and plot.

The runner's training and evaluation subprocesses are replaced by a fake that records each command and writes
what the real ones leave (a finished model folder, an eval.json), so the runner's own decisions are checked in a
second: which script trains, from which model, with which seed, what is trained once and what is refused. That
the commands it composes are valid is checked by parsing them as training/grpo.py and training/sft.py parse their
arguments; the entry points themselves are tested in tests/test_training_grpo.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import sweeps.runner as runner
from core.errors import ConfigError
from sweeps.cli import main
from sweeps.config import load_sweep, runs, warm_start_dir

ROOT = Path(__file__).resolve().parents[1]

SWEEP = {
    "name": "rl-test",
    "base_config": "tiny",
    "trainer": "grpo",
    "recipe": "training/recipes/tiny-grpo-cpu.yaml",
    "set": {"budget": 48, "examples_per_instruction": None, "splits.test_unseen": {"instructions": 4, "examples": 8},
            "splits.test_seen": {"examples": 8}},
    "axes": {"instructions": [2, 8], "seed": [0, 1]},
    "warm_start": {"recipe": "training/recipes/tiny-cpu.yaml", "set": {"instructions": 4},
                   "recipe_set": {"max_steps": 5, "publish": False}},
    "recipe_set": {"max_steps": 2, "publish": False},
    "compare": {"sft": {"trainer": "sft", "recipe": "training/recipes/tiny-cpu.yaml",
                        "recipe_set": {"max_steps": 2, "publish": False}}},
    "eval": {"splits": ["test_unseen", "test_seen"], "batch_size": 8},
}


def write_sweep(tmp_path: Path, **change) -> Path:
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, **change}))
    return path


class FakeStages:
    """Stands in for the training and evaluation subprocesses: records each command, leaves their outputs."""

    def __init__(self):
        self.train: list[list[str]] = []

    def __call__(self, cmd: list[str], log_path: Path) -> None:
        if "--output_dir" in cmd:
            self.train.append(cmd)
            model = Path(cmd[cmd.index("--output_dir") + 1])
            model.mkdir(parents=True)
            (model / "config.json").write_text("{}")
            (model / "README.md").write_text("a card")
        else:
            accuracy = 0.5 if "grpo" in cmd[cmd.index("-o") - 1] else 0.25  # the model folder's run id
            split = {"accuracy": accuracy, "ci_low": accuracy - 0.1, "ci_high": accuracy + 0.1, "n": 8}
            Path(cmd[cmd.index("-o") + 1]).write_text(json.dumps({"splits": {"test_unseen": split,
                                                                             "test_seen": split}}))

    def commands(self, script: str) -> list[list[str]]:
        return [c for c in self.train if any(a.endswith(f"training/{script}") for a in c)]


def arg(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_every_run_of_a_seed_starts_from_its_warm_start_and_methods_share_a_table(tmp_path, monkeypatch):
    from training import grpo, sft

    fake = FakeStages()
    monkeypatch.setattr(runner, "_call", fake)
    path, out = write_sweep(tmp_path), tmp_path / "out"
    res = CliRunner().invoke(main, ["run", str(path), "-o", str(out)])
    assert res.exit_code == 0, res.output

    # one warm start per seed, trained once by training/sft.py with that seed, on data of its own config
    warm = [c for c in fake.commands("sft.py") if "warm_start" in arg(c, "--output_dir")]
    assert sorted(arg(c, "--seed") for c in warm) == ["0", "1"]
    for c in warm:
        wdir = out / "warm_start" / f"seed={arg(c, '--seed')}"
        assert Path(arg(c, "--output_dir")) == wdir / "model" and Path(arg(c, "--dataset")) == wdir / "data"
        made = json.loads((wdir / "data" / "datagen.json").read_text())["config"]
        assert made["instructions"] == 4 and made["seed"] == int(arg(c, "--seed")) and "--model_name_or_path" not in c
        assert arg(c, "--config").endswith("tiny-cpu.yaml") and arg(c, "--max_steps") == "5"

    # each run: its method's script and recipe, its seed, and its seed's warm start as the model
    trained = [c for c in fake.train if c not in warm]
    assert len(trained) == 8
    s = load_sweep(path)
    s.output_dir = str(out)
    for r in runs(s):
        c = next(c for c in trained if Path(arg(c, "--output_dir")) == out / r.run_id / "model")
        assert c[1].endswith("grpo.py" if r.method == "grpo" else "sft.py"), c
        assert arg(c, "--config").endswith("tiny-grpo-cpu.yaml" if r.method == "grpo" else "tiny-cpu.yaml")
        assert arg(c, "--seed") == str(r.seed) and arg(c, "--max_steps") == "2"
        assert Path(arg(c, "--model_name_or_path")) == out / "warm_start" / f"seed={r.seed}" / "model"
        # the composed command is one the entry point accepts
        recipe = (grpo.parse if r.method == "grpo" else sft.parse_recipe)(c[2:])
        assert recipe.model.model_name_or_path == arg(c, "--model_name_or_path") and recipe.training.seed == r.seed

    # one table and one plot compare the methods at equal I
    table = json.loads((out / "results.json").read_text())
    assert {(p["method"], p["I"]) for p in table["points"]} == {(m, i) for m in ("grpo", "sft") for i in (2, 8)}
    assert {p["test_unseen_accuracy"] for p in table["points"] if p["method"] == "grpo"} == {0.5}
    assert (out / "phase_transition.png").read_bytes()[:4] == b"\x89PNG"

    # nothing is trained twice; a changed warm start makes the runs trained from the old one stale
    fake.train.clear()
    res = CliRunner().invoke(main, ["run", str(path), "-o", str(out)])
    assert res.exit_code == 0 and fake.train == [] and res.output.count("done, skipped") == 8, res.output
    changed = write_sweep(tmp_path, warm_start={**SWEEP["warm_start"], "recipe_set": {"max_steps": 6, "publish": False}})
    res = CliRunner().invoke(main, ["run", str(changed), "-o", str(out), "--only", "grpo_I=2_seed=0"])
    assert res.exit_code != 0 and "train stage" in res.output and fake.train == [], res.output


def test_a_warm_start_that_saw_the_unseen_rules_is_refused(tmp_path):
    """Made with another seed, a warm start's training rules may be a run's unseen rules: the runner checks. (A
    space of 16 rules, so that another seed's training rules surely include some.)"""
    from generators.build import generate
    from sweeps.config import generator_config, warm_start_run

    (tmp_path / "small.yaml").write_text(yaml.safe_dump({
        "name": "small", "task": "rewrite", "seed": 0, "instructions": 6, "examples_per_instruction": 4,
        "noop_fraction": 0.0, "input_len": 6, "space": {"alphabet": "abcd", "x_len": 2, "y_len": 1},
        "splits": {"test_unseen": {"instructions": 4, "examples": 8}, "test_seen": {"examples": 8}}}))
    s = load_sweep(write_sweep(tmp_path, base_config="small.yaml", set={}, axes={"instructions": [6], "seed": [0]},
                               warm_start={"recipe": "training/recipes/tiny-cpu.yaml"}))
    s.output_dir = str(tmp_path / "out")
    run = runs(s)[0]
    generate(generator_config(s, run), tmp_path / "run-data", progress=False)
    for seed, refused in ((7, True), (0, False)):  # another seed's warm start, then the run's own
        ws = warm_start_run(s, run)
        ws.overrides["seed"] = seed
        generate(generator_config(s, ws), warm_start_dir(s, run) / "data", progress=False, overwrite=True)
        if not refused:
            runner.check_unseen_after_warm_start(s, run, tmp_path / "run-data")
            continue
        with pytest.raises(ConfigError) as err:
            runner.check_unseen_after_warm_start(s, run, tmp_path / "run-data")
        assert err.value.field == "warm_start" and "are training rules of its warm start" in str(err.value)


@pytest.mark.parametrize("change, field", [
    ({"trainer": "ppo"}, "trainer"),
    ({"compare": {"grpo": {"trainer": "grpo", "recipe": "training/recipes/tiny-grpo-cpu.yaml"}}}, "compare.grpo"),
    ({"compare": {"sft": {"trainer": "dpo", "recipe": "training/recipes/tiny-cpu.yaml"}}}, "compare.sft.trainer"),
    ({"compare": {"sft": {"recipe": "training/recipes/no-such.yaml"}}}, "compare.sft.recipe"),
    ({"axes": {"instructions": [2, 8], "noop_fraction": [0.1, 0.2]}}, "compare"),
    ({"warm_start": {"recipe": "training/recipes/tiny-cpu.yaml", "set": {"seed": 3}}}, "warm_start.set.seed"),
    ({"warm_start": {"recipe": "training/recipes/tiny-cpu.yaml", "recipe_set": {"seed": 3}}},
     "warm_start.recipe_set.seed"),
    ({"warm_start": {"recipe": "training/recipes/no-such.yaml"}}, "warm_start.recipe"),
    # every method's and the warm start's recipe is read as its training reads it, before anything starts
    ({"recipe_set": {"max_step": 2, "publish": False}}, "recipe_set.max_step"),
    ({"recipe_set": {"max_steps": 2, "publish": False, "temperature": 0}}, "recipe_set.temperature"),
    ({"compare": {"sft": {"recipe": "training/recipes/tiny-cpu.yaml", "recipe_set": {"max_stepz": 2}}}},
     "compare.sft.recipe_set.max_stepz"),
    ({"warm_start": {"recipe": "training/recipes/tiny-cpu.yaml", "recipe_set": {"max_steps": -5, "publish": False}}},
     "warm_start.recipe_set.max_steps"),
    ({"warm_start": {"recipe": "training/recipes/tiny-cpu.yaml", "recipe_set": {"publish": True}}},
     "warm_start.recipe_set.publish"),
])  # fmt: skip
def test_bad_rl_sweep_files_name_the_field(tmp_path, change, field):
    with pytest.raises(ConfigError) as err:
        load_sweep(write_sweep(tmp_path, **change))
    assert err.value.field == field, str(err.value)


def test_sweeps_without_the_new_fields_keep_their_run_ids_and_signatures(tmp_path):
    """The RL fields are additive: an SFT sweep's runs, commands and stage signatures are what they were (the
    signature as it was defined before them: recipe text, recipe_set, accelerate config, data fingerprint)."""
    from core.metadata import read_metadata
    from generators.build import generate
    from sweeps.config import generator_config

    s = load_sweep(ROOT / "sweeps" / "tiny_cpu.yaml")
    assert [r.run_id for r in runs(s)] == ["I=2", "I=8", "I=40"] and {r.method for r in runs(s)} == {None}
    run = runs(s)[0]
    cmd = runner.train_command(s, run, tmp_path / "data", tmp_path / "model")
    assert cmd[1].endswith("training/sft.py") and "--model_name_or_path" not in cmd
    generate(generator_config(s, run), tmp_path / "data", progress=False)
    before = runner._signature({"recipe": (ROOT / s.recipe).read_text(), "recipe_set": s.recipe_set,
                                "accelerate": None, "data": read_metadata(tmp_path / "data", check=False)["fingerprint"]})
    assert runner._signatures(s, run, tmp_path / "data")[0] == before
