"""Training's user errors from the real commands: one line naming the field, file or folder, exit status 2, no
traceback, nothing started (issue 21, items 1-5).

The commands that start processes are the expensive part (``accelerate launch`` and each worker import torch,
transformers and TRL): one `divtrain` start per case of items 1, 2 and 4, one `python training/sft.py` for item 3;
the other cases call the same command functions in this process (``training.launch.main``,
``training.sft.run_command``, the sweep CLI), which is what those processes run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

pytest.importorskip("trl")

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "training" / "recipes" / "tiny-cpu.yaml"
CPU = ROOT / "training" / "accelerate" / "cpu.yaml"
SFT = ROOT / "training" / "sft.py"
DIVTRAIN = [sys.executable, "-m", "training.launch", "--config_file", str(CPU), str(SFT)]


def one_line(text: str) -> str:
    assert "Traceback" not in text, text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


def command(cmd: list[str], cwd: Path) -> tuple[int, str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    return proc.returncode, one_line(proc.stdout + proc.stderr)


# ---- under accelerate launch (divtrain) ---------------------------------------------------------------------


@pytest.mark.slow
def test_an_abbreviated_option_under_accelerate_launch(tiny_dataset, tmp_path):
    """Items 1 and 2: `--learning_rat` trained with lr 1e-3 (argparse's prefix match), printed 26 lines in 12 s under
    accelerate launch. Now: refused by name, with the nearest field, one line, exit status 2, nothing written."""
    code, line = command([*DIVTRAIN, "--config", str(RECIPE), "--dataset", str(tiny_dataset),
                          "--learning_rat", "1e-3", "--output_dir", str(tmp_path / "o")], tmp_path)
    assert code == 2
    assert line == "error: learning_rat: is not a recipe field; did you mean learning_rate? (on the command line)"
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_model_folder_that_does_not_exist_under_accelerate_launch(tiny_dataset, tmp_path):
    """Items 1 and 4: `runs/does-not-exist` was taken for a Hub id ("cannot be reached"); it names the folder."""
    (tmp_path / "runs").mkdir()
    code, line = command([*DIVTRAIN, "--config", str(RECIPE), "--dataset", str(tiny_dataset),
                          "--model_name_or_path", "runs/does-not-exist", "--output_dir", str(tmp_path / "o")], tmp_path)
    assert code == 2
    assert line.startswith("error: model_name_or_path: folder runs/does-not-exist does not exist"), line
    assert "Hub at" not in line and not (tmp_path / "o").exists()


def test_files_are_checked_before_any_worker_starts(tmp_path, capsys, monkeypatch):
    """Item 1: a missing recipe, a recipe key given twice, a missing accelerate config or script: found by the
    launcher itself (accelerate's launcher is never called), one line, status 2."""
    import accelerate.commands.launch as accelerate_launch

    from training.launch import main

    def never(args):
        raise AssertionError("a worker was started")

    monkeypatch.setattr(accelerate_launch, "launch_command", never)
    twice = tmp_path / "twice.yaml"
    twice.write_text(RECIPE.read_text() + "\nmax_steps: 3\n")
    cases = [
        (["--config_file", str(CPU), str(SFT), "--config", "nosuch.yaml"], "error: recipe file nosuch.yaml does not exist"),
        (["--config_file", str(CPU), str(SFT), "--config", str(twice)], "error: max_steps: appears twice in recipe file"),
        (["--config_file", "nosuch.yaml", str(SFT), "--config", str(RECIPE)],
         "error: config_file: accelerate config file nosuch.yaml does not exist"),
        (["--config_file", str(CPU), "training/sftt.py", "--config", str(RECIPE)],
         "error: training script training/sftt.py does not exist"),
        (["--num_processes", "two", str(SFT)], "error: accelerate launch: argument --num_processes"),
        (["--config_file", str(twice), str(SFT)], "error: max_steps: appears twice in accelerate config file"),
    ]
    for argv, start in cases:
        assert main(argv) == 2
        err = capsys.readouterr()
        assert one_line(err.out + err.err).startswith(start), (argv, err)


def test_the_workers_status_comes_back_and_accelerate_adds_nothing(monkeypatch, capsys):
    """accelerate raises CalledProcessError (one worker) or torch's ChildFailedError (several) carrying the workers'
    exit status; the launcher prints nothing more (the workers printed their line) and exits with that status."""
    import accelerate.commands.launch as accelerate_launch

    from training.launch import launch, parse_launch_args

    class ChildFailed(Exception):  # torch.distributed.elastic's ChildFailedError carries `failures` like this
        failures = {0: SimpleNamespace(exitcode=2), 1: SimpleNamespace(exitcode=2)}

    for raised, status in [(subprocess.CalledProcessError(2, "x", stderr="error: ..."), 2),
                           (subprocess.CalledProcessError(1, "x"), 1), (subprocess.CalledProcessError(-9, "x"), 137),
                           (ChildFailed(), 2)]:
        def fail(args, raised=raised):
            raise raised

        monkeypatch.setattr(accelerate_launch, "launch_command", fail)
        assert launch(parse_launch_args(["--config_file", str(CPU), str(SFT)])) == status
        assert capsys.readouterr().err == ""
    monkeypatch.setattr(accelerate_launch, "launch_command", lambda args: (_ for _ in ()).throw(
        ValueError("You need to use at least 2 processes to use `--multi_gpu`.\nSee the docs")))
    assert launch(parse_launch_args(["--config_file", str(CPU), str(SFT)])) == 2
    assert one_line(capsys.readouterr().err) == ("error: accelerate launch: You need to use at least 2 processes to "
                                                 "use `--multi_gpu`. See the docs")


# ---- the worker's own checks, by the command function ------------------------------------------------------


@pytest.mark.parametrize(("extra", "start"), [
    (["--learning_rat", "1e-3"], "error: learning_rat: is not a recipe field; did you mean learning_rate? (on the com"),
    (["--dataset_revision", "v9.0.0"], "error: dataset_revision: dataset 'local/tiny' has no version v9.0.0 in the "
                                       "local hub (have: v1.0.0)"),
    (["--dataset", "local/nosuch"], "error: dataset: no dataset 'local/nosuch' in the local hub"),
    (["--dataset", "./nosuch"], "error: dataset: folder ./nosuch does not exist"),
    (["--model_name_or_path", "./nosuch"], "error: model_name_or_path: folder ./nosuch does not exist"),
    (["--push_to_hub", "true", "--hub_model_id", "org/name"], "error: push_to_hub: publishes the final model to the Hub only"),
    (["--n_embd", "30", "--n_head", "4"], "error: n_head: n_embd (30) must be divisible by n_head (4) (on the command"),
])
def test_worker_errors_are_one_line_before_anything_loads(tiny_dataset, tmp_path, capsys, monkeypatch, extra, start):
    """Item 1 (a dataset_revision or dataset that does not exist) and item 4, through the worker's command function
    (what `python training/sft.py` and each `accelerate launch` worker run), before data or a model is loaded."""
    from publishing.localhub import LocalHub
    from training import sft

    LocalHub.default().add_version(tiny_dataset, "local/tiny", "v1.0.0")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sft, "load_training_data", lambda *a: pytest.fail("data was loaded"))
    code = sft.run_command(["--config", str(RECIPE), "--dataset", "local/tiny", "--output_dir", str(tmp_path / "o"),
                            *extra])
    err = capsys.readouterr()
    assert code == 2 and one_line(err.out + err.err).startswith(start), err


def test_only_the_first_process_of_a_machine_prints(tiny_dataset, tmp_path, capsys, monkeypatch):
    from training import sft

    monkeypatch.setenv("LOCAL_RANK", "1")
    assert sft.run_command(["--config", str(RECIPE), "--learning_rat", "1"]) == 2
    assert capsys.readouterr().err == ""


# ---- plain python -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_negative_max_steps_is_refused_by_the_real_command(tiny_dataset, tmp_path):
    """Item 3: `--max_steps -5` trained by epochs (189 steps); now refused before anything starts."""
    code, line = command([sys.executable, str(SFT), "--config", str(RECIPE), "--dataset", str(tiny_dataset),
                          "--max_steps", "-5", "--output_dir", str(tmp_path / "o")], tmp_path)
    assert code == 2
    assert line == "error: max_steps: must be -1 (train for num_train_epochs) or at least 1, got -5 (on the command line)"
    assert not (tmp_path / "o").exists()


# ---- a whole sweep, before its first run --------------------------------------------------------------------


@pytest.mark.parametrize(("recipe_set", "start"), [
    ({"max_stepz": 12, "publish": False}, "Error: recipe_set.max_stepz: is not a recipe field; did you mean max_steps?"),
    ({"max_step": 12, "publish": False}, "Error: recipe_set.max_step: is not a recipe field; did you mean max_steps?"),
    ({"max_steps": -5, "publish": False}, "Error: recipe_set.max_steps: must be -1 (train for num_train_epochs) or at"),
    ({"learning_rate": 0, "publish": False}, "Error: recipe_set.learning_rate: must be positive, got 0.0"),
    ({"max_steps": 12}, "Error: recipe_set.publish: the recipe publishes each trained model"),
])
def test_a_sweep_is_checked_whole_before_its_first_run(tmp_path, recipe_set, start):
    """Item 5: a misspelt recipe_set key was found after the data was made, naming the recipe. Now `python -m
    sweeps run` refuses the sweep before anything is made, naming the sweep file and the run."""
    from sweeps.cli import main

    recipe = tmp_path / "publishing.yaml"  # as the paper recipes do: publish each model
    recipe.write_text(RECIPE.read_text().replace("publish: false", "publish: true"))
    sweep = tmp_path / "bad.yaml"
    base = yaml.safe_load((ROOT / "sweeps" / "tiny_cpu.yaml").read_text())
    sweep.write_text(yaml.safe_dump({**base, "name": "bad", "recipe": str(recipe), "recipe_set": recipe_set,
                                     "axes": {"instructions": [2, 8], "seed": [0, 1]}}))
    res = CliRunner().invoke(main, ["run", str(sweep), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2
    line = one_line(res.output)
    assert line.startswith(start) and f"sweep {sweep}, run I=2_seed=0" in line, line
    assert not (tmp_path / "out").exists()


def test_torchruns_record_of_a_user_error_exit_is_dropped_and_no_other(caplog):
    """With several workers (torchrun), each prints nothing but the first one's line; torchrun then logs its own
    "failed (exitcode: 2)" line, dropped for exit status 2 only (a crash is still logged)."""
    import logging

    from training.launch import TORCHRUN_LOGGER, quiet_user_error_exits

    quiet_user_error_exits()
    quiet_user_error_exits()  # idempotent
    logger = logging.getLogger(TORCHRUN_LOGGER)
    with caplog.at_level(logging.ERROR, logger=TORCHRUN_LOGGER):
        for code in (2, 1, -9):  # torch's own format string and arguments
            logger.error("failed (exitcode: %s) local_rank: %s (pid: %s) of binary: %s", code, 0, 123, "python")
        logger.error("something else: %s", 2)
    assert [r.getMessage().split(" local_rank")[0] for r in caplog.records] == [
        "failed (exitcode: 1)", "failed (exitcode: -9)", "something else: 2"]


def test_folders_are_named_as_the_user_gave_them(tmp_path, monkeypatch):
    """Item 6: `output_dir 'tiny-cpu'` for runs/tiny-cpu, "card of tiny-cpu/README.md": the path as given."""
    from core.errors import ConfigError
    from publishing.resolve import resolve
    from publishing.scores import push_card
    from training.resume import resolve_resume

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "tiny-cpu" / "checkpoint-4").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"^resume_from_checkpoint: output_dir 'runs/tiny-cpu' already holds checkpo"):
        resolve_resume(None, "runs/tiny-cpu")
    with pytest.raises(ConfigError, match=r"no checkpoint-N folder in output_dir 'runs/other' to resume from"):
        resolve_resume("true", "runs/other")
    with pytest.raises(ConfigError, match=r"checkpoint folder 'runs/tiny-cpu/checkpoint-9' does not exist"):
        resolve_resume("runs/tiny-cpu/checkpoint-9", "runs/tiny-cpu")
    (tmp_path / "runs" / "tiny-cpu" / "README.md").write_text("---\nlicense: mit\n---\n# a model\n")
    assert push_card(resolve("runs/tiny-cpu", repo_type="model"), lambda card: card, "") == "runs/tiny-cpu/README.md"
