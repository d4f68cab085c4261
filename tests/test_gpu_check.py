"""The prepared GPU check (benchmarks/gpu_check.py): its dry run end to end, its time budget, its sweep plan,
the throughput counters it shares with bench_training, and the wheel recipe (benchmarks/fetch_gpu_wheels.py)."""

from __future__ import annotations

import importlib.metadata
import json
import math
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import fetch_gpu_wheels  # noqa: E402
import gpu_check  # noqa: E402

SECTIONS = ("environment", "training", "decoding", "sweep", "peft", "grpo")


def measured(x) -> bool:
    """A real measurement: a finite positive number (not None, not a bool, not a placeholder string)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def fraction(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1


# ------------------------------------------------------------------------------------------------ the dry run


@pytest.fixture(scope="module")
def dry_run(readme_run):
    """README's `python benchmarks/gpu_check.py --dry-run --out out/gpu-check-dry-run` (run by tests/readme_run.py
    on a fresh HOME; its block holds that one command, so the block's time is the command's)."""
    out = readme_run.require("out/gpu-check-dry-run")
    block = next(o for o in readme_run.outcomes if "gpu_check.py --dry-run" in o.block.text)
    return out, json.loads((out / "gpu_check.json").read_text()), block.seconds


@pytest.mark.slow
def test_dry_run_writes_its_files_and_every_section(dry_run):
    out, report, wall = dry_run
    assert sorted(p.name for p in out.iterdir()) == sorted(gpu_check.FILES.values())  # 4 files, no strays
    assert set(report) == {"check", *SECTIONS}
    check = report["check"]
    assert check["dry_run"] is True and check["steps"] == {s: "ok" for s in SECTIONS}
    assert all(report[s]["status"] == "ok" and measured(report[s]["seconds"]) for s in SECTIONS)
    assert check["wall_s"] <= check["budget_s"] + 5 and wall < check["budget_s"] + 60
    assert sorted(check["files"]) == sorted(gpu_check.FILES.values())
    assert (out / "phase_transition.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log = (out / "gpu_check.log").read_text()
    assert all(f"== {s}" in log for s in SECTIONS)
    table = (out / "gpu_check.md").read_text()
    assert "| our recipe | ok |" in table and "## Mini phase transition" in table


@pytest.mark.slow
def test_dry_run_environment_is_measured(dry_run):
    env = dry_run[1]["environment"]
    assert env["torch"] and env["packages"]["trl"]["version"] and isinstance(env["requirements_unmet"], list)
    assert env["attention"]["gpt2_attn_implementation"] in ("sdpa", "eager", "flash_attention_2")
    kernels = [v for k, v in env["attention"].items() if k.startswith("sdpa (")]
    assert len(kernels) == 2 and all(k and "no attention operator seen" not in k for k in kernels)
    assert env["matmul"] and all(measured(m["tflops"]) for m in env["matmul"])


@pytest.mark.slow
def test_dry_run_training_compares_with_trl_defaults(dry_run):
    tr = dry_run[1]["training"]
    runs = {r["run"]: r for r in tr["runs"]}
    assert [r["run"] for r in tr["runs"]] == [v.name for v in gpu_check.variants(SimpleNamespace(
        sizes=gpu_check.DRY, gpu=False, dry_run=True))]  # fmt: skip
    for name in ("our recipe", "TRL defaults"):
        r = runs[name]
        assert r["status"] == "ok"
        assert all(measured(r[k]) for k in ("tokens_per_s", "tokens", "timed_steps", "seconds", "tflops", "mfu_measured"))
        assert fraction(r["padding_share"])
    assert runs["TRL defaults"]["batch_per_device"] == 8 and runs["TRL defaults"]["activation_checkpointing"]
    assert not runs["our recipe"]["activation_checkpointing"]
    assert tr["ratio"] == pytest.approx(runs["our recipe"]["tokens_per_s"] / runs["TRL defaults"]["tokens_per_s"])
    for r in tr["runs"]:  # every variant either measured, or skipped with the reason
        assert r["status"] == "ok" and measured(r["tokens_per_s"]) or r["status"] == "skipped" and r["reason"]
    assert runs["eager attention"]["attention"] == "eager" and runs["our recipe"]["attention"] == "sdpa"
    assert runs["batch 32"]["batch_per_device"] == 2 * runs["our recipe"]["batch_per_device"]


@pytest.mark.slow
def test_dry_run_decoding_is_measured(dry_run):
    dec = dry_run[1]["decoding"]["fp32"]
    assert measured(dec["one_at_a_time"]["rows_per_s"]) and dec["single_rows"] == gpu_check.DRY.decode_single
    assert [b["batch_size"] for b in dec["batched"]] == gpu_check.DRY.decode_batches
    for b in dec["batched"]:
        assert measured(b["rows_per_s"]) and b["speedup"] == pytest.approx(b["rows_per_s"] / dec["one_at_a_time"]["rows_per_s"])
        assert 0 <= b["identical"] <= dec["single_rows"]


@pytest.mark.slow
def test_dry_run_sweep_is_a_phase_transition_at_fixed_n(dry_run):
    sw = dry_run[1]["sweep"]
    rows = sw["rows"]
    assert len(rows) >= 6 and len({r["I"] for r in rows}) == len(rows)
    assert len({r["N"] for r in rows}) == 1 and len({r["steps"] for r in rows}) == 1  # fixed N, same training length
    assert sw["same_unseen_rows"] is True and len({r["unseen_fingerprint"] for r in rows}) == 1
    for r in rows:
        assert r["S"] == r["N"] // r["I"] and measured(r["tokens"]) and measured(r["loss_last"])
        assert r["n"] == gpu_check.DRY.sweep_unseen[1] and fraction(r["accuracy"])
        assert r["ci_low"] <= r["accuracy"] <= r["ci_high"] and fraction(r["seen_accuracy"])
    assert sw["plan"]["planned_from"].startswith("0.6 x our recipe")  # sized from the measured throughput


@pytest.mark.slow
def test_dry_run_peft_steps_move_weights(dry_run):
    runs = {r["run"]: r for r in dry_run[1]["peft"]["runs"]}
    lora, adam8 = runs["LoRA"], runs["8-bit AdamW"]
    assert lora["status"] == "ok" and lora["use_peft"] and lora["trainable_parameters"] < lora["total_parameters"]
    assert lora["update"]["changed"] == lora["update"]["tensors"] > 0  # every LoRA B left zero
    assert adam8["status"] == "ok" and "8-bit" in adam8["optimizer"] and adam8["update"]["changed"] > 0
    skipped = runs["LoRA on 8-bit weights"]  # a CPU: the project's own refusal, recorded
    assert skipped["status"] == "skipped" and "CUDA" in skipped["reason"]


@pytest.mark.slow
def test_dry_run_grpo_measures_rollouts_rewards_and_a_few_rl_steps(dry_run):
    gr = dry_run[1]["grpo"]
    assert gr["status"] == "ok" and gr["warm_start"]["steps"] == gpu_check.DRY.grpo_warm_steps
    sz = gpu_check.DRY
    assert [r["model"] for r in gr["sampling"]] == ["tiny warm start", "paper GPT-2 shape, untrained"]
    for r in gr["sampling"]:
        assert r["completions"] == sz.grpo_prompts * sz.grpo_generations and measured(r["tokens_per_s"])
        assert r["completions"] <= r["tokens"] <= r["completions"] * sz.grpo_new_tokens  # EOS counted, capped
        assert r["tokens_per_s"] == pytest.approx(r["tokens"] / r["seconds"])
    rewards = gr["rewards"]
    assert rewards["completions"] >= sz.grpo_rewards // 2 and measured(rewards["rewards_per_s"])
    assert fraction(rewards["mean_reward"])
    run = gr["run"]
    assert run["steps"] == sz.grpo_steps and len(run["rewards"]) == sz.grpo_steps
    assert all(fraction(r) for r in run["rewards"]) and measured(run["tokens_per_s"])
    table = (dry_run[0] / "gpu_check.md").read_text()
    assert "## GRPO (reinforcement learning)" in table and "| tiny RL run | tiny-grpo-cpu.yaml |" in table


# ------------------------------------------------------------------------------------------------ the budget


def test_step_limits_give_floors_then_shares():
    floors = {s: 10 for s in gpu_check.STEPS}
    steps = gpu_check.STEPS
    left = 550.0
    limits = []
    for i in range(len(steps)):  # each step uses all of its time
        limits.append(gpu_check.step_limit(floors, steps[i:], left))
        left -= limits[-1]
    assert sum(limits) == pytest.approx(550.0) and all(lim >= 10 for lim in limits)
    extra = [lim - 10 for lim in limits]
    assert extra[1] / extra[3] == pytest.approx(gpu_check.SHARES["training"] / gpu_check.SHARES["sweep"])
    # less time than the floors: the floors' proportions
    assert gpu_check.step_limit(floors, steps, 5.0 * len(steps)) == pytest.approx(5.0)
    assert gpu_check.step_limit(floors, steps, -3.0) == 0.0


def small_context(tmp_path) -> gpu_check.Context:
    ctx = gpu_check.Context(out=tmp_path, work=tmp_path, dry_run=True, sizes=gpu_check.DRY, end=time.monotonic() + 60)
    ctx.report = {"check": {"steps": {s: "not run" for s in gpu_check.STEPS}}, **{s: {"status": "not run"} for s in gpu_check.STEPS}}
    return ctx


def test_a_step_past_its_time_is_cut_and_the_report_saved(tmp_path):
    ctx = small_context(tmp_path)

    def slow(ctx, sec, deadline):
        sec["partial"] = 1
        time.sleep(10)

    started = time.monotonic()
    gpu_check.run_step(ctx, "environment", slow, 0.3)
    assert time.monotonic() - started < 5
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["environment"]["status"] == "cut" and saved["environment"]["partial"] == 1
    assert saved["check"]["steps"]["environment"] == "cut"


def test_a_cut_swallowed_once_still_stops_the_step(tmp_path):
    ctx = small_context(tmp_path)

    def stubborn(ctx, sec, deadline):
        try:
            time.sleep(10)
        except gpu_check.Cut:  # as Python does in a weakref or import-lock callback ("Exception ignored")
            pass
        time.sleep(10)

    started = time.monotonic()
    gpu_check.run_step(ctx, "training", stubborn, 0.3)
    assert time.monotonic() - started < 5 and ctx.report["training"]["status"] == "cut"


def test_a_failing_step_is_recorded_and_the_next_one_runs(tmp_path):
    ctx = small_context(tmp_path)

    def broken(ctx, sec, deadline):
        raise ValueError("boom")

    def fine(ctx, sec, deadline):
        sec["value"] = 2

    gpu_check.run_step(ctx, "decoding", broken, 5)
    gpu_check.run_step(ctx, "sweep", fine, 5)
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["decoding"]["status"] == "failed" and saved["decoding"]["error"] == "ValueError: boom"
    assert saved["sweep"]["status"] == "ok" and saved["sweep"]["value"] == 2
    assert "- decoding: failed: ValueError: boom" in (tmp_path / "gpu_check.md").read_text()


def test_report_is_valid_json_without_nan():
    assert gpu_check.clean({"a": float("nan"), "b": (1, float("inf")), "c": Path("x")}) == {"a": None, "b": [1, None], "c": "x"}


# ------------------------------------------------------------------------------------------------ the sweep plan


@pytest.mark.parametrize("seconds,tps", [(30, 5e3), (120, 2e6), (300, 3e6), (3000, 1e9), (1, 1.0)])
def test_sweep_plan_fits_the_grid_and_the_bounds(seconds, tps):
    sz = gpu_check.FULL
    plan = gpu_check.plan_sweep(sz, seconds, tps, row_tokens=80.0)
    assert len(plan["I"]) >= sz.sweep_min_runs and len(plan["I"]) <= sz.sweep_max_runs
    assert plan["I"] == sorted(set(plan["I"])) and set(plan["I"]) <= set(sz.sweep_grid)
    assert all(i * sz.sweep_min_s <= plan["N"] for i in plan["I"])  # every I has enough examples
    assert sz.sweep_steps[0] <= plan["steps"] <= sz.sweep_steps[1] and plan["N"] <= sz.sweep_max_rows
    assert plan["epochs"] == pytest.approx(plan["steps"] * sz.batch / plan["N"])


def test_sweep_plan_trains_longer_with_more_time():
    sz = gpu_check.FULL
    short, long = (gpu_check.plan_sweep(sz, s, 1e6, 80.0)["steps"] for s in (120, 600))
    assert long > short
    # the steps follow the throughput: (seconds per run - overhead) x tokens/s / tokens per step
    per_run = 600 / sz.sweep_max_runs - sz.sweep_overhead_guess
    assert long == int(per_run * 1e6 / (80.0 * sz.batch))


# ------------------------------------------------------------------------------------------------ counters


def test_padding_free_batches_count_one_row_per_sequence():
    import bench_training
    import torch

    class Base:
        def training_step(self, model, inputs, *args, **kwargs):
            return 0

    trainer = type("T", (bench_training._Counting, Base), {"bench_warmup": 1})()
    trainer.state = SimpleNamespace(global_step=0)
    flat = {"input_ids": torch.zeros(1, 10, dtype=torch.long), "position_ids": torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3, 4]])}
    trainer.training_step(None, flat)  # a warm-up step: not counted
    assert not hasattr(trainer, "bench_tokens")
    trainer.state.global_step = 1
    trainer.training_step(None, flat)  # three sequences packed into one row, no padding
    assert (int(trainer.bench_rows), int(trainer.bench_tokens), int(trainer.bench_padded)) == (3, 10, 10)
    padded = {"input_ids": torch.zeros(2, 5, dtype=torch.long), "attention_mask": torch.tensor([[1, 1, 1, 0, 0], [1] * 5])}
    trainer.training_step(None, padded)
    assert (int(trainer.bench_rows), int(trainer.bench_tokens), int(trainer.bench_padded)) == (5, 18, 20)


def test_clock_stops_training_once_its_time_is_up():
    import bench_training

    clock = bench_training._clock(warmup=1, seconds=0.05)
    state, control = SimpleNamespace(global_step=0, max_steps=10**6), SimpleNamespace(should_training_stop=False)
    clock.on_train_begin(None, state, control)
    state.global_step = 1
    clock.on_step_end(None, state, control)
    assert clock.start is not None and not control.should_training_stop
    time.sleep(0.06)
    state.global_step = 2
    clock.on_step_end(None, state, control)
    assert control.should_training_stop and clock.steps == 1 and clock.end - clock.start >= 0.05


# ------------------------------------------------------------------------------------------------ the wheels


def fake_wheel(folder: Path, name: str, version: str, requires=(), files=()) -> Path:
    path = folder / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{dist}/METADATA", meta + "\nDescription body: Requires-Dist: not-a-field\n")
        for f in files:
            zf.writestr(f, b"x" * 1000)
        zf.writestr(f"{dist}/RECORD", "".join(f"{f},sha256=abc,1000\n" for f in files) + f"{dist}/RECORD,,\n")
    return path


def test_closure_flags_missing_conflicting_and_duplicate_packages(tmp_path):
    wheels = [
        fake_wheel(tmp_path, "alpha", "1.0", ["beta<2", "numpy>=1", 'gamma; python_version < "3.0"',
                                              'delta; extra == "docs"', "epsilon"]),
        fake_wheel(tmp_path, "beta", "2.1"),
        fake_wheel(tmp_path, "zeta", "1.0"),
        fake_wheel(tmp_path, "zeta", "1.1"),
    ]
    problems = fetch_gpu_wheels.check_closure(wheels, image=["numpy"])
    assert sorted(problems) == sorted([
        "zeta: 2 versions (1.0, 1.1): keep one",
        "alpha needs beta<2, carried beta 2.1",
        "alpha needs epsilon: not on the image and not carried",
    ])  # fmt: skip


def test_the_wheel_list_is_closed_over_its_requirements(tmp_path):
    """The WHEELS table with the real METADATA of those versions (as installed here): nothing is missing."""
    wheels = []
    for name, version, _ in fetch_gpu_wheels.WHEELS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"{name} is not installed here")
        if dist.version != version:
            pytest.skip(f"{name} {dist.version} is installed here, the table carries {version}")
        wheels.append(fake_wheel(tmp_path, name, version, dist.requires or []))
    assert fetch_gpu_wheels.check_closure(wheels) == []


def test_slimming_bitsandbytes_keeps_cuda13_and_cpu(tmp_path):
    libs = [f"bitsandbytes/libbitsandbytes_{v}.so" for v in ("cuda118", "cuda128", "cuda130", "cuda132", "rocm64", "cpu")]
    path = fake_wheel(tmp_path, "bitsandbytes", "0.50.2", files=["bitsandbytes/__init__.py", *libs])
    assert fetch_gpu_wheels.slim_bitsandbytes(path) > 0
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        record = zf.read("bitsandbytes-0.50.2.dist-info/RECORD").decode()
    kept = {"bitsandbytes/libbitsandbytes_cuda130.so", "bitsandbytes/libbitsandbytes_cuda132.so", "bitsandbytes/libbitsandbytes_cpu.so"}
    assert {n for n in names if n.endswith(".so")} == kept and "bitsandbytes/__init__.py" in names
    assert {ln.split(",")[0] for ln in record.splitlines() if ln.endswith(".so,sha256=abc,1000")} == kept
    assert fetch_gpu_wheels.slim_bitsandbytes(path) == 0  # already slim


def test_slimming_refuses_a_wheel_without_cuda13(tmp_path):
    path = fake_wheel(tmp_path, "bitsandbytes", "0.40.0", files=["bitsandbytes/libbitsandbytes_cuda118.so"])
    with pytest.raises(SystemExit, match="no CUDA 13"):
        fetch_gpu_wheels.slim_bitsandbytes(path)
