"""End to end on the CPU: the real entry point under `accelerate launch` (-m, from a folder of same-named packages,
two processes), resume, early stopping. README's own training commands (loss falls, the model reloads) run in
tests/test_readme_runs.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("trl")

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "training" / "recipes" / "tiny-cpu.yaml"
CPU = ROOT / "training" / "accelerate" / "cpu.yaml"


def _launch(cmd: list[str], log_dir: Path, timeout: float = 300, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run ``accelerate launch`` in its own process group; a run that hangs fails with every process's stacks.

    stdout and stderr go to files (no pipe can fill up), stdin is closed, and ``PYTHONFAULTHANDLER`` is set: on
    time-out the whole group gets SIGABRT, so the launcher and each worker print where they were stuck, and the
    failure message carries those tracebacks instead of a bare time-out.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / "stdout.txt", log_dir / "stderr.txt"
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGABRT)
            time.sleep(5)
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"{' '.join(cmd[2:5])} hung for {timeout:.0f} s; stacks:\n{err_path.read_text()[-12000:]}")
        finally:  # nothing the run started outlives the test
            _signal_group(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(cmd, proc.returncode, out_path.read_text(), err_path.read_text())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _losses(output_dir: Path) -> list[float]:
    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


@pytest.mark.slow
def test_accelerate_launch_dash_m_from_a_folder_with_same_named_packages(tiny_dataset, tmp_path):
    """TRL's convention (issue 13.6): `accelerate launch -m training.sft` with TRL's --dataset_name; run from a
    folder whose own core/, publishing/, eval/ and cards/ packages would fail on import (issue 13.7): ours are used."""
    here = tmp_path / "work"
    for name in ("core", "publishing", "eval", "cards"):
        (here / name).mkdir(parents=True)
        (here / name / "__init__.py").write_text(f"raise RuntimeError('the working directory\'s {name} ran')\n")
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU),
        "-m", "training.sft", "--config", str(RECIPE), "--dataset_name", str(tiny_dataset), "--output_dir", str(out),
        "--max_steps", "4", "--save_steps", "4", "--eval_strategy", "no", "--disable_tqdm", "true", "--publish", "false",
    ]  # fmt: skip
    proc = _launch(cmd, tmp_path / "logs", cwd=here)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trained run: 4 steps" in proc.stdout and "ran')" not in proc.stderr
    meta = json.loads((tiny_dataset / "datagen.json").read_text())
    assert meta["fingerprint"] in (out / "README.md").read_text()


def test_dataset_name_is_trls_name_for_dataset(tiny_dataset, tmp_path):
    """Either name works, in the recipe or on the command line; the command line overrides the recipe's; two
    different datasets given in one place are an error naming the field."""
    from core.errors import ConfigError
    from training.sft import parse_recipe

    other = tmp_path / "other"
    other.mkdir()
    assert parse_recipe(["--config", str(RECIPE), "--dataset_name", str(tiny_dataset)]).data.dataset == str(tiny_dataset)
    renamed = tmp_path / "trl.yaml"
    renamed.write_text(RECIPE.read_text().replace("\ndataset:", "\ndataset_name:"))
    assert "dataset_name:" in renamed.read_text()
    r = parse_recipe(["--config", str(renamed)])
    assert r.data.dataset == r.data.dataset_name == "rewrite-tiny"
    assert parse_recipe(["--config", str(renamed), "--dataset", str(other)]).data.dataset == str(other)
    with pytest.raises(ConfigError) as err:
        parse_recipe(["--config", str(RECIPE), "--dataset", str(tiny_dataset), "--dataset_name", str(other)])
    assert err.value.field == "dataset_name"


class Interrupted(Exception):
    pass


def _args(tiny_dataset, out, *extra):
    return [
        "--config", str(RECIPE), "--dataset", str(tiny_dataset), "--output_dir", str(out),
        "--max_steps", "12", "--save_steps", "4", "--eval_strategy", "no", "--logging_steps", "1",
        "--warmup_steps", "0", "--disable_tqdm", "true", "--publish", "false", *extra,
    ]  # fmt: skip


def test_resume_continues_from_the_last_checkpoint(tiny_dataset, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file

    from core.errors import ConfigError
    from training.sft import main
    from training.trainer import SFTTrainer

    # Uninterrupted reference run.
    reference = main(_args(tiny_dataset, tmp_path / "ref"))
    assert reference["global_step"] == 12

    # The same run, killed during step 7 (after checkpoint-4 was written, before checkpoint-8).
    steps = {"n": 0}
    original = SFTTrainer.training_step

    def counting(self, *args, **kwargs):
        steps["n"] += 1
        if steps.get("crash_at") == steps["n"]:
            raise Interrupted
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SFTTrainer, "training_step", counting)
    out = tmp_path / "run"
    steps["crash_at"] = 7
    with pytest.raises(Interrupted):
        main(_args(tiny_dataset, out))
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4"]

    # Re-running without asking to resume would mix two runs in one folder: refused.
    with pytest.raises(ConfigError, match="resume_from_checkpoint"):
        main(_args(tiny_dataset, out))

    steps.update(n=0, crash_at=None)
    resumed = main(_args(tiny_dataset, out, "--resume_from_checkpoint", "true"))
    assert resumed["resumed_from"] == "checkpoint-4"
    assert resumed["global_step"] == 12
    assert steps["n"] == 8  # steps 5..12 only: it continued, it did not restart

    # Same data order, optimizer and scheduler state: the resumed run ends where the uninterrupted one does.
    a, b = load_file(tmp_path / "ref" / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    assert resumed["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-4)


def test_python_dash_m_entry_point_reports_user_errors(tiny_dataset, tmp_path):
    """A misspelt recipe key (issue 21.1): one line naming the key, the nearest field and the recipe file."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(RECIPE.read_text() + "\nlearning_rat: 0.1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "training.sft", "--config", str(bad), "--dataset", str(tiny_dataset)],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert lines == [f"error: learning_rat: is not a recipe field; did you mean learning_rate? (recipe {bad})"], lines


@pytest.mark.slow
def test_two_cpu_processes_train_data_parallel(tiny_dataset, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "training" / "accelerate" / "cpu_ddp.yaml"),
        "--main_process_port", str(_free_port()),  # not the default 29500, which another job may hold
        "training/sft.py", "--config", str(RECIPE), "--dataset", str(tiny_dataset), "--output_dir", str(out),
        "--max_steps", "10", "--eval_steps", "10", "--save_steps", "10", "--disable_tqdm", "true",
    ]  # fmt: skip
    proc = _launch(cmd, tmp_path / "logs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained ddp: 10 steps") == 1  # one summary: only the main process publishes
    state = json.loads((out / "checkpoint-10" / "trainer_state.json").read_text())
    # 2 processes x 16 rows per step: 10 steps cover 320 rows of 192, i.e. 1.67 epochs
    assert state["epoch"] == pytest.approx(320 / 192, abs=0.1)
    assert "| world size | 2 (MULTI_CPU) |" in (out / "README.md").read_text()


def test_early_stopping_on_the_held_out_split(tiny_dataset, tmp_path):
    from training.sft import main

    out = tmp_path / "early"
    # Any improvement smaller than 10 nats counts as none: training stops after patience + 1 evaluations.
    summary = main([
        "--config", str(RECIPE), "--dataset", str(tiny_dataset), "--output_dir", str(out),
        "--eval_steps", "2", "--save_steps", "2", "--load_best_model_at_end", "true",
        "--early_stopping_patience", "1", "--early_stopping_threshold", "10", "--disable_tqdm", "true",
        "--publish", "false",
    ])  # fmt: skip
    assert summary["global_step"] == 4  # evaluations at steps 2 and 4 of 60
    assert "stopped early" in (out / "README.md").read_text()
