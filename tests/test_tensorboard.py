"""Training curves by default (issue 15.2): every shipped recipe logs to TensorBoard inside its output folder, the
event files are published with the model, and a training run's output is free of two known harmless notices
(issue 15, newcomer items) while other warnings still show."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("trl")
pytest.importorskip("tensorboard")

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "training" / "recipes"
KERNEL_NOTICE = "Failed to load CPU gemm_4bit_forward from kernels-community"
THREADS_NOTICE = "num_cpu_threads_per_process"


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_every_recipe_reports_to_tensorboard_and_it_stays_overridable(recipe):
    from training import grpo, sft

    parse_recipe = grpo.parse if "grpo" in recipe else sft.parse_recipe  # a GRPO recipe: training/grpo.py's fields

    assert yaml.safe_load((RECIPES / recipe).read_text())["report_to"] == "tensorboard"
    assert parse_recipe(["--config", str(RECIPES / recipe), "--dataset", "x"]).training.report_to == ["tensorboard"]
    for other in ("wandb", "trackio", "none"):
        r = parse_recipe(["--config", str(RECIPES / recipe), "--dataset", "x", "--report_to", other])
        assert r.training.report_to == ([] if other == "none" else [other])


def scalars(event_file: Path) -> dict[str, list[tuple[int, float]]]:
    """What TensorBoard itself reads from one event file (its own reader, not ours)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(event_file))
    acc.Reload()
    return {tag: [(s.step, s.value) for s in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def texts(event_file: Path) -> dict[str, list[str]]:
    """The text summaries of one event file (tag without its /text_summary suffix), through tensorboard's reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(event_file), size_guidance={"tensors": 0})
    acc.Reload()
    return {tag.removesuffix("/text_summary"): [e.tensor_proto.string_val[0].decode() for e in acc.Tensors(tag)]
            for tag in acc.Tags()["tensors"]}


def test_portable_json_cuts_absolute_paths():
    from training.curves import portable_json

    text = json.dumps({"output_dir": "/home/alice/runs/x", "n": 3, "nested": {"p": "~/models/m", "ok": "org/name"},
                       "list": ["/etc/passwd", "relative/path"], "hub_token": "<HUB_TOKEN>"})
    assert json.loads(portable_json(text)) == {"output_dir": "x", "n": 3, "nested": {"p": "m", "ok": "org/name"},
                                               "list": ["passwd", "relative/path"], "hub_token": "<HUB_TOKEN>"}


@pytest.mark.slow
def test_a_sweeps_training_run_writes_and_publishes_curves_without_the_notices(tiny_dataset, tmp_path):
    """The training command a sweep runs under `accelerate launch` (CPU config), as a subprocess."""
    from publishing.localhub import LocalHub
    from sweeps.config import Run, Sweep
    from sweeps.runner import train_command

    sweep = Sweep(name="tb", base_config="tiny", recipe="training/recipes/tiny-cpu.yaml",
                  accelerate_config="training/accelerate/cpu.yaml",
                  recipe_set={"max_steps": 4, "logging_steps": 1, "eval_strategy": "no", "save_strategy": "no",
                              "disable_tqdm": "true", "model_name": "tb-run", "publish": "true"})
    out = tmp_path / "model"
    cmd = train_command(sweep, Run("I=24", {}, None), tiny_dataset, out)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # accelerate's notice needs it unset
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert KERNEL_NOTICE not in proc.stderr + proc.stdout
    assert THREADS_NOTICE not in proc.stderr + proc.stdout

    events = sorted(out.glob("runs/*/events.out.tfevents.*"))
    assert events, sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    loss = [v for f in events for v in scalars(f).get("train/loss", [])]
    assert [step for step, _ in loss] == [1, 2, 3, 4]
    for f in events:  # published, so no machine path (output_dir was absolute) and no host name in the folder
        assert str(tmp_path).encode() not in f.read_bytes()
        assert socket.gethostname() not in f.parent.name and f.name.split(".")[4] == "host"
    args = [e for f in events for e in texts(f).get("args", [])]
    assert args and json.loads(args[0])["output_dir"] == "model"  # the recorded arguments, paths cut

    published = LocalHub.default().path("tb-run", repo_type="model")
    copied = sorted(p.relative_to(published).as_posix() for p in published.glob("runs/**/events.out.tfevents.*"))
    assert copied == [p.relative_to(out).as_posix() for p in events]
    assert all((published / rel).read_bytes() == (out / rel).read_bytes() for rel in copied)


def test_the_notice_filter_drops_only_the_skipped_fetch_and_missing_kernels_notices(caplog):
    from training.quiet import BNB_CPU_LOGGER, KernelFetchSkipped, quiet_dependency_notices

    quiet_dependency_notices()
    quiet_dependency_notices()  # idempotent
    logger = logging.getLogger(BNB_CPU_LOGGER)
    assert len(logger.filters) == len(set(map(type, logger.filters)))
    absent = ModuleNotFoundError("No module named 'kernels'", name="kernels")
    skipped = KernelFetchSkipped("not downloaded at import")
    failing = RuntimeError("kernel download failed")
    other_missing = ModuleNotFoundError("No module named 'triton'", name="triton")
    with caplog.at_level(logging.WARNING, logger=BNB_CPU_LOGGER):
        for cause in (absent, skipped, failing, other_missing):
            logger.warning(KERNEL_NOTICE + ": %s. Please make sure you already `pip install kernels`", cause)
        logger.warning("something else went wrong: %s", absent)
    shown = [r.getMessage() for r in caplog.records]
    assert len(shown) == 3
    assert "kernel download failed" in shown[0] and "triton" in shown[1] and shown[2].startswith("something else")


def test_importing_the_training_stack_asks_no_server_for_a_kernel(tmp_path):
    """bitsandbytes' import-time kernel download is not made (a server that records every connection sees none)
    and its notice is not printed, whichever of trl, peft or transformers imports bitsandbytes first."""
    bnb_functional = pytest.importorskip("bitsandbytes.functional")
    if not bnb_functional.has_avx512bf16():
        pytest.skip("this CPU has no AVX-512 BF16: bitsandbytes never asks for the kernel here")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("LOCAL_KERNELS", None)
    code = ("import logging; logging.basicConfig()\n"
            "from training.quiet import quiet_dependency_notices; quiet_dependency_notices()\n"
            "import trl, peft, bitsandbytes\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    connections = 0
    try:
        while proc.poll() is None:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            connections += 1
            conn.close()  # no answer: the client fails, as it does offline
        out = proc.communicate(timeout=120)[0]
    finally:
        proc.kill()
        server.close()
    assert proc.returncode == 0, out[-2000:]
    assert connections == 0
    assert KERNEL_NOTICE not in out and "kernels-community" not in out, out[-2000:]


def test_cpu_threads_are_passed_explicitly_for_cpu_accelerate_configs(monkeypatch, tmp_path):
    """divtrain (and so a sweep's training) passes the thread count accelerate would pick and announce: physical
    cores / processes per machine, when that is more than one (accelerate launch's own rule)."""
    import psutil

    from training.launch import cpu_threads

    accel = ROOT / "training" / "accelerate"
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = psutil.cpu_count(logical=False) or 1
    assert cpu_threads(accel / "cpu.yaml") == (cores if cores > 1 else None)
    assert cpu_threads(accel / "single_gpu.yaml") is None
    two = tmp_path / "two.yaml"
    two.write_text((accel / "cpu.yaml").read_text().replace("num_processes: 1", "num_processes: 2"))
    assert cpu_threads(two) == (cores // 2 if cores // 2 > 1 else None)
    assert cpu_threads(accel / "single_gpu.yaml", cpu=True, num_processes=1) == cpu_threads(accel / "cpu.yaml")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # accelerate takes it silently: left to it
    assert cpu_threads(accel / "cpu.yaml") is None
