"""The sweep runner: the tiny phase-transition sweep end to end on CPU, resume, emit, and bad sweep files."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from core.errors import ConfigError
from sweeps.cli import main
from sweeps.config import load_sweep, runs

ROOT = Path(__file__).resolve().parent.parent
SWEEPS = ROOT / "sweeps"


@pytest.mark.slow
def test_tiny_sweep_end_to_end_and_resume(readme_run, tmp_path):
    """README runs `python -m sweeps run sweeps/tiny_cpu.yaml` (tests/test_readme_runs.py): its table is checked
    here, then a copy of its output folder is run again (resumed, retrained, refused)."""
    out = tmp_path / "sweep"
    shutil.copytree(readme_run.require("runs/sweeps/tiny-cpu"), out)
    table = json.loads((out / "results.json").read_text())
    rows = table["rows"]
    assert [r["I"] for r in rows] == [2, 8, 40]
    for r in rows:
        assert r["N"] == 240 and r["S"] == 240 / r["I"]
        for split in ("test_unseen", "test_seen"):
            assert 0.0 <= r[f"{split}_accuracy"] <= 1.0
            assert r[f"{split}_ci_low"] <= r[f"{split}_accuracy"] <= r[f"{split}_ci_high"]
            assert r[f"{split}_n"] == 24
        splits = json.loads((out / f"I={r['I']}" / "data" / "datagen.json").read_text())["splits"]
        assert [r[f"{s}_fingerprint"] for s in ("test_unseen", "test_seen")] == [
            splits["test_unseen"]["fingerprint"], splits["test_seen"]["fingerprint"]]
        freq = json.loads((out / f"I={r['I']}" / "eval.json").read_text())["splits"]["test_seen"]["by_train_frequency"]
        assert r["test_seen_head_accuracy"] == freq["head"]["accuracy"] and "test_seen_tail_ci_high" in r
    assert (out / "results.csv").read_text().count("\n") == 4
    assert [p["point"] for p in table["points"]] == ["I=2", "I=8", "I=40"] and table["points"][0]["n_seeds"] == 1
    assert not any(k.endswith("_fingerprint") for p in table["points"] for k in p)  # per run, not per point
    assert (out / "results_points.csv").read_text().count("\n") == 4
    assert (out / "phase_transition.png").stat().st_size > 0
    # every stage is complete: a second run only collects, and says so
    res = CliRunner().invoke(main, ["run", str(SWEEPS / "tiny_cpu.yaml"), "-o", str(out)])
    assert res.exit_code == 0 and "trained" not in res.output and "data ready" not in res.output, res.output
    assert "evaluated" not in res.output, res.output
    assert "run 1/3: I=2: done, skipped" in res.output and res.output.count("done, skipped") == 3
    # removing a model retrains it, and its old evaluation goes with it (it scored the removed model)
    shutil.rmtree(out / "I=2" / "model")
    res = CliRunner().invoke(main, ["run", str(SWEEPS / "tiny_cpu.yaml"), "-o", str(out), "--only", "I=2"])
    assert res.exit_code == 0 and "trained" in res.output and "evaluated" in res.output, res.output
    assert "[I=2] data ready" not in res.output and "run 1/1: I=2: resumed (data ready; training)" in res.output, res.output
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
    from sweeps.runner import train_command

    s = load_sweep(SWEEPS / "tiny_cpu.yaml")
    cmd = train_command(s, runs(s)[0], tmp_path / "data", tmp_path / "model")
    assert cmd[cmd.index("--resume_from_checkpoint") + 1] == "auto"  # training/resume.py: last checkpoint if any
    assert cmd[0] == sys.executable and "accelerate" not in " ".join(cmd)  # no accelerate_config: plain python
    s = load_sweep(SWEEPS / "phase_transition_reduced.yaml")
    cmd = train_command(s, runs(s)[0], tmp_path / "data", tmp_path / "model")
    # accelerate of the interpreter running the sweep, not whichever `accelerate` comes first on PATH (and not a
    # same-named package in the working directory: see test_subprocesses_ignore_packages_in_the_working_directory)
    assert cmd[:2] == [sys.executable, "-c"] and cmd[3:5] == ["training.launch", "--config_file"]  # divtrain
    assert cmd[5].endswith("single_gpu.yaml") and cmd[6].endswith("sft.py")


def test_a_folder_of_checkpoints_is_resumed_not_taken_as_finished(tmp_path):
    from sweeps.runner import training_done

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


@pytest.mark.parametrize("sweep", sorted(p.name for p in SWEEPS.glob("*.yaml") if not p.name.startswith("pool_")))
def test_rows_fit_the_recipes_context(sweep):
    """Every run's rows (prompt + completion + EOS, one token per character) fit the recipe's max_length; with GRPO,
    every completion (+ EOS) fits max_completion_length and the longest prompt plus that fits the warm start's
    context (its max_length); with a warm start, each SFT method's max_length fits that context too (pool sweeps:
    tests/test_pool_sweep.py)."""
    from generators.build import block_batch
    from generators.plan import make_plan
    from sweeps.config import generator_config

    s = load_sweep(SWEEPS / sweep)

    def field(recipe: str, recipe_set: dict, key: str):
        return recipe_set.get(key, yaml.safe_load((ROOT / recipe).read_text()).get(key))

    methods = [(s.trainer, s.recipe, s.recipe_set), *((m.trainer, m.recipe, m.recipe_set) for m in s.compare.values())]
    context = field(s.warm_start.recipe, s.warm_start.recipe_set, "max_length") if s.warm_start else None
    sft = [field(r, rs, "max_length") for t, r, rs in methods if t == "sft"]
    grpo = [field(r, rs, "max_completion_length") for t, r, rs in methods if t == "grpo"]
    assert context is None or all(m <= context for m in sft), f"{sweep}: an SFT max_length beyond the warm start's"
    max_length = min(sft, default=None)
    smallest = {}
    for r in runs(s):  # one run per variant (lengths do not depend on I), the cheapest to plan
        v = smallest.get(r.variant)
        if v is None or r.overrides.get("instructions", 0) < v.overrides.get("instructions", 0):
            smallest[r.variant] = r
    for r in smallest.values():
        plan = make_plan(generator_config(s, r))
        for split in plan.splits.values():
            batch = block_batch(plan, split, 0)
            prompts, completions = batch.column("prompt").to_pylist(), batch.column("completion").to_pylist()
            longest = max(len(p) + len(c) for p, c in zip(prompts, completions))
            if max_length is not None:
                assert longest + 1 <= max_length, f"{sweep} {r.run_id} {split.name}: rows of {longest + 1} tokens > {max_length}"
            for mcl in grpo:
                assert max(map(len, completions)) + 1 <= mcl, f"{sweep} {r.run_id}: completions beyond {mcl}"
                assert context is None or max(map(len, prompts)) + mcl <= context, f"{sweep}: prompt + {mcl} > {context}"


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
                          ({"eval": {"max_new_tokens": "x"}}, "eval.max_new_tokens"),
                          ({"recipe_set": {"seed": 3}}, "recipe_set.seed"),
                          ({"axes": {"instructions": [2, 8], "distribution": [{"kind": "uniform"}]},
                            "set": {**base["set"], "distribution.kind": "power_law"}}, "set.distribution.kind"),
                          ({"axes": {"instructions": [2, 8], "distribution": [{"kind": "uniform"}]},
                            "variants": {"skew": {"distribution.alpha": 0.5}}}, "variants.skew.distribution.alpha")]:
        f = tmp_path / "s.yaml"
        f.write_text(yaml.safe_dump({**base, **change}))
        with pytest.raises(ConfigError) as err:
            load_sweep(f)
        assert err.value.field == field


def test_phase_plot_has_one_line_per_value_of_the_other_axis():
    from sweeps.table import series_key

    assert series_key(load_sweep(SWEEPS / "power_law.yaml")) == "alpha"
    assert series_key(load_sweep(SWEEPS / "noop.yaml")) == "noop_fraction"
    assert series_key(load_sweep(SWEEPS / "semantic.yaml")) == "variant"
    assert series_key(load_sweep(SWEEPS / "phase_transition.yaml")) is None
    assert series_key(load_sweep(SWEEPS / "occurrences.yaml")) == "occurrences"


def tiny_with(tmp_path, **changes) -> Path:
    base = yaml.safe_load((SWEEPS / "tiny_cpu.yaml").read_text())
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**base, **changes}, sort_keys=False))
    return path


def test_seeds_are_an_axis_of_data_and_training(tmp_path):
    from sweeps.runner import train_command

    s = load_sweep(tiny_with(tmp_path, axes={"instructions": [2, 8], "seed": [0, 1, 2]}))
    rs = runs(s)
    assert [r.run_id for r in rs[:3]] == ["I=2_seed=0", "I=2_seed=1", "I=2_seed=2"]
    assert {r.point for r in rs} == {"I=2", "I=8"}
    from sweeps.config import generator_config

    assert [generator_config(s, r).seed for r in rs[:3]] == [0, 1, 2]  # the data seed
    for r in rs[:3]:
        cmd = train_command(s, r, tmp_path / "data", tmp_path / "model")
        assert cmd[cmd.index("--seed") + 1] == str(r.seed)  # and the training seed (training/sft.py --seed)
    # without a seed set by the sweep, training keeps the recipe's
    plain = load_sweep(SWEEPS / "tiny_cpu.yaml")
    assert "--seed" not in train_command(plain, runs(plain)[0], tmp_path / "d", tmp_path / "m")


def test_a_mapping_valued_axis_names_runs_by_alpha(tmp_path):
    from sweeps.config import generator_config

    dists = [{"kind": "uniform"}, {"kind": "power_law", "alpha": 0.5}, {"kind": "power_law", "alpha": 2}]
    s = load_sweep(tiny_with(tmp_path, axes={"instructions": [8, 40], "distribution": dists}))
    rs = runs(s)
    assert [r.run_id for r in rs[:3]] == ["I=8_alpha=uniform", "I=8_alpha=0.5", "I=8_alpha=2"]
    assert [generator_config(s, r).distribution.kind for r in rs[:3]] == ["uniform", "power_law", "power_law"]
    assert generator_config(s, rs[1]).distribution.alpha == 0.5


def test_sweep_outputs_have_a_folder_of_their_own():
    """Not runs/tiny-cpu, where README's own training run (recipe tiny-cpu) writes its model."""
    recipe = yaml.safe_load((ROOT / "training" / "recipes" / "tiny-cpu.yaml").read_text())
    out = load_sweep(SWEEPS / "tiny_cpu.yaml").out
    assert out == Path("runs") / "sweeps" / "tiny-cpu" and Path(recipe["output_dir"]) not in (out, *out.parents)


def test_a_resumed_run_says_from_where(tmp_path):
    from generators.build import generate
    from sweeps.config import generator_config
    from sweeps.runner import run_state

    s = load_sweep(SWEEPS / "tiny_cpu.yaml")
    s.output_dir = str(tmp_path / "out")
    r = runs(s)[0]
    assert run_state(s, r) == "new"
    generate(generator_config(s, r), s.out / r.run_id / "data", progress=False)
    assert run_state(s, r) == "resumed (data ready; training)"
    for step in (10, 30, 20):
        (s.out / r.run_id / "model" / f"checkpoint-{step}").mkdir(parents=True)
    assert run_state(s, r) == "resumed (training from checkpoint-30)"


def seed_rows():
    """A sweep table with 3 seeds per point, as summarize writes it."""
    accs = {10: [0.0, 0.1, 0.5], 100: [0.4, 0.6, 0.65], 1000: [0.9, 1.0, 0.95]}
    rows = []
    for i, values in accs.items():
        for seed, a in enumerate(values):
            rows.append({"run": f"I={i}_seed={seed}", "point": f"I={i}", "variant": None, "I": i, "N": 1000, "S": 1000 / i,
                         "distribution": "uniform", "alpha": None, "seed": seed, "dataset_fingerprint": f"f{i}{seed}",
                         "test_unseen_accuracy": a, "test_unseen_ci_low": a / 2, "test_unseen_ci_high": (1 + a) / 2,
                         "test_seen_accuracy": 1.0, "accuracy": a, "ci_low": a / 2, "ci_high": (1 + a) / 2,
                         "effective_instructions": float(i)})
    return rows


def test_points_average_the_seeds():
    from sweeps.table import aggregate

    points = aggregate(seed_rows())
    assert [p["point"] for p in points] == ["I=10", "I=100", "I=1000"]
    p = points[1]
    assert p["n_seeds"] == 3 and p["seeds"] == [0, 1, 2] and p["runs"] == ["I=100_seed=0", "I=100_seed=1", "I=100_seed=2"]
    assert (p["I"], p["S"], p["distribution"], p["alpha"]) == (100, 10.0, "uniform", None)  # the shared knobs
    # hand-computed over 0.4, 0.6, 0.65: mean 0.55, sample sd sqrt(((-.15)^2 + .05^2 + .1^2) / 2) = 0.1322876
    assert p["test_unseen_accuracy"] == pytest.approx(0.55) and p["test_unseen_accuracy_sd"] == pytest.approx(0.1322876)
    assert (p["test_unseen_accuracy_min"], p["test_unseen_accuracy_max"]) == (0.4, 0.65)
    assert p["test_seen_accuracy"] == 1.0 and p["test_seen_accuracy_sd"] == 0.0
    assert "seed" not in p and "dataset_fingerprint" not in p and "test_unseen_ci_low" not in p
    assert aggregate(seed_rows()[:1])[0]["test_unseen_accuracy_sd"] is None  # one seed: no spread


def test_plots_of_a_sweep_table_average_its_seeds(tmp_path):
    """diveval plot on a sweep's results.json, and the sweep's own plot: the plotted mean is the seeds' mean."""
    from eval.cli import load_rows
    from eval.cli import main as diveval
    from eval.plots import plot_phase_transition
    from sweeps.table import make_plots, write_table

    s = load_sweep(SWEEPS / "tiny_cpu.yaml")
    s.output_dir = str(tmp_path / "sweep")
    write_table(s, seed_rows())
    table = json.loads((tmp_path / "sweep" / "results.json").read_text())
    assert len(table["rows"]) == 9 and len(table["points"]) == 3
    rows = load_rows((str(tmp_path / "sweep" / "results.json"),), "test_unseen")
    (line,) = plot_phase_transition(rows, tmp_path / "p.png")["lines"].values()
    # hand-computed means: (0 + .1 + .5) / 3 = .2, (.4 + .6 + .65) / 3 = .55, (.9 + 1 + .95) / 3 = .95
    assert [(p[0], p[1]) for p in line] == [(10, pytest.approx(0.2)), (100, pytest.approx(0.55)), (1000, pytest.approx(0.95))]
    assert [(p[2], p[3]) for p in line] == [(0.0, 0.5), (0.4, 0.65), (0.9, 1.0)]
    assert make_plots(s, seed_rows()) == [tmp_path / "sweep" / "phase_transition.png"]
    res = CliRunner().invoke(diveval, ["plot", str(tmp_path / "sweep" / "results.json"), "-o", str(tmp_path / "plots")])
    assert res.exit_code == 0 and "plotted 9 rows" in res.output, res.output


def test_subprocesses_ignore_packages_in_the_working_directory(tmp_path, monkeypatch):
    """A folder holding an eval/ (or accelerate/) package must not replace ours in the stages' subprocesses (issue 13
    point 7); PYTHONPATH set for other reasons still works, with or without PYTHONSAFEPATH."""
    import click

    from core.imports import module_command
    from sweeps.runner import _call, eval_command

    cwd = tmp_path / "cwd"
    for pkg in ("eval", "accelerate"):
        (cwd / pkg).mkdir(parents=True)
        code = f"open({str(tmp_path / (pkg + '.marker'))!r}, 'w').write('hijacked')\n"
        (cwd / pkg / "__init__.py").write_text(code)
        (cwd / pkg / "__main__.py").write_text(code)
    monkeypatch.chdir(cwd)
    s = load_sweep(SWEEPS / "tiny_cpu.yaml")
    log = tmp_path / "eval.log"
    with pytest.raises(click.ClickException):  # the real diveval runs, and fails on the missing model
        _call(eval_command(s, tmp_path / "no-model", tmp_path / "no-data", tmp_path / "out.json"), log)
    assert "does not exist" in log.read_text()
    _call(module_command("accelerate.commands.launch", "--help"), tmp_path / "launch.log")
    assert "usage" in (tmp_path / "launch.log").read_text().lower()
    assert not (tmp_path / "eval.marker").exists() and not (tmp_path / "accelerate.marker").exists()
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "on_pythonpath.py").write_text(f"open({str(tmp_path / 'pp.marker')!r}, 'w').write('ok')\n")
    monkeypatch.setenv("PYTHONPATH", str(extra))
    for safe in ("", "1"):
        monkeypatch.setenv("PYTHONSAFEPATH", safe)
        (tmp_path / "pp.marker").unlink(missing_ok=True)
        _call(module_command("on_pythonpath"), tmp_path / "pp.log")
        assert (tmp_path / "pp.marker").read_text() == "ok"
