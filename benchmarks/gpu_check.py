"""One prepared GPU check of the whole GPU path, in one command, within a wall-clock budget.

    python benchmarks/gpu_check.py [--minutes 8] [--out DIR] [--dry-run]

Steps, in order; each gets a share of the budget (unused time passes on to the next), a step that runs out of
time is cut and says so, a step that fails is recorded and the next one still runs:

a. **environment**: GPU, torch / CUDA, bf16 support, package versions and where each was imported from, unmet
   requirements of the carried packages, the attention implementation a GPT-2 gets and the SDPA kernel it
   actually runs (profiled), and the matrix-product rate measured here (bf16 and fp32);
b. **training**: tokens/s of our from-scratch recipe (``training/recipes/gpt2-scratch-paper.yaml``,
   ``training/trainer.py``'s ``SFTTrainer``) against TRL's defaults on the paper's GPT-2 (6 x 256 x 4) and rows
   of the ``paper_rewrite`` preset, same tokenized data, same process; padding share, peak memory, MFU against
   the data-sheet dense bf16 peak and against the measured matrix-product rate, the ratio; then one change at a
   time: batch size, fp32 / TF32, eager attention, flash attention and padding-free batches (where flash-attn
   is installed), wrapped packing, no length bucketing, activation checkpointing, non-fused AdamW,
   ``torch.compile``, TRL's trainer class;
c. **decoding**: rows/s of ``diveval rewrite``'s batched greedy decoder (``eval.decode.greedy_decode``) against
   one row at a time, and the speed-up;
d. **sweep**: a mini phase transition sized from (b)'s measured tokens/s to fit the time left: at least 6 values
   of I at a fixed N on ``reduced_rewrite`` rows, one seed, the same number of steps (tokens) per run, scored on
   the same unseen rules (checked by fingerprint); table and plot;
e. **peft**: a LoRA run, LoRA on 8-bit weights (bitsandbytes) and 8-bit AdamW, two steps each through
   ``training/sft.py``'s own entry point on a small Llama built from a config (no download);
f. **grpo**: reinforcement learning: rollout tokens/s of sampling as TRL's GRPOTrainer samples without vLLM
   (``num_generations`` completions per prompt, temperature 1, no top-k / top-p) for the tiny warm start and for
   the paper's GPT-2 shape (untrained: it seldom stops early, the worst case), rewards/s of the task reward
   (``generators.reward.TaskReward``), and a few steps of the tiny RL run (``training/recipes/tiny-grpo-cpu.yaml``
   through ``training/grpo.py``'s own entry point) from a short SFT warm start (``tiny-cpu.yaml``).

It writes 4 files into ``--out`` (default ``out/gpu-check``): ``gpu_check.json`` (everything, sections
``check``, ``environment``, ``training``, ``decoding``, ``sweep``, ``peft``, ``grpo``; rewritten after every step, so a kill
leaves the steps done so far), ``gpu_check.log`` (everything printed), ``gpu_check.md`` (the tables) and
``phase_transition.png``. Scratch data, models and caches go to a temporary folder that is removed at the end.
Nothing needs the network (Hugging Face libraries are put offline). ``--dry-run`` runs every step at tiny sizes
(on a CPU in about a minute; ``tests/test_gpu_check.py`` runs it).

On this project's lent GPU machine (the device tool; Python 3.12 there lacks trl and datasets and has
huggingface_hub 1.x, so the packages travel as wheels, see ``benchmarks/fetch_gpu_wheels.py``)::

    python benchmarks/fetch_gpu_wheels.py          # here, in the checkout the tool sends: 23 wheels, .whl/
    # then the device tool's run with carry [".whl"], timeout_s 360 and this command (5 minutes of checking plus
    # installing and imports fits twice, a rerun included, in the 15 minutes of device time a task gets):
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl && export PYTHONPATH=/tmp/site || exit; PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py \
        --minutes 5 --out $OUT

The 4 files land in $OUT, which the tool brings back (at most 8 files); the end of stdout is a short summary.
"""

from __future__ import annotations

import time

START = time.monotonic()  # the budget counts from here, imports included

import argparse  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from dataclasses import fields as dataclasses_fields  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's packages, ahead of any installed copy
sys.path.insert(0, str(ROOT / "benchmarks"))  # bench_training, bench_decoding

PAPER_RECIPE = ROOT / "training" / "recipes" / "gpt2-scratch-paper.yaml"
REDUCED_RECIPE = ROOT / "training" / "recipes" / "gpt2-scratch-reduced.yaml"
LORA_RECIPE = ROOT / "training" / "recipes" / "llama2-7b-lora-encrypted.yaml"
ADAM8_RECIPE = ROOT / "training" / "recipes" / "deepseek-coder-6.7b-code-mix.yaml"
TINY_RECIPE = ROOT / "training" / "recipes" / "tiny-cpu.yaml"
TINY_GRPO_RECIPE = ROOT / "training" / "recipes" / "tiny-grpo-cpu.yaml"

FILES = {"json": "gpu_check.json", "log": "gpu_check.log", "table": "gpu_check.md", "plot": "phase_transition.png"}
STEPS = ("environment", "training", "decoding", "sweep", "peft", "grpo")
SHARES = {"environment": 0.04, "training": 0.34, "decoding": 0.07, "sweep": 0.42, "peft": 0.07, "grpo": 0.06}
# Packages carried to the GPU machine as wheels (and the ones they are checked against): their requirements are
# checked in the environment step.
CHECKED = ("trl", "datasets", "huggingface_hub", "transformers", "accelerate", "peft", "bitsandbytes", "httpx2",
           "multiprocess")  # fmt: skip
REPORTED = ("torch", "transformers", "trl", "datasets", "huggingface_hub", "accelerate", "peft", "bitsandbytes",
            "tokenizers", "safetensors", "pyarrow", "numpy", "fsspec", "httpx2", "dill", "multiprocess", "click",
            "regex", "matplotlib", "flash_attn", "kernels", "triton")  # fmt: skip


@dataclass
class Sizes:
    """What each step trains and decodes: the real check, or the dry run's tiny version."""

    model: dict  # GPT-2 shape of steps b-d
    train_rows: int  # paper-size rows for the throughput runs
    batch: int  # our recipe's batch in the throughput runs and the sweep
    warmup: int  # untimed steps per throughput run
    max_timed_steps: int  # cap on the timed steps of one throughput run (they are also capped in time)
    min_window: float  # shortest timed window worth running, seconds
    setup_guess: float  # trainer set-up + warm-up before the first one is measured, seconds
    compile_setup_guess: float
    decode_rows: int
    decode_single: int  # rows decoded one at a time (the baseline)
    decode_batches: list[int]
    sweep_grid: list[int]  # candidate I values (those that fit N are used)
    sweep_min_runs: int
    sweep_max_runs: int
    sweep_min_s: int  # fewest examples per instruction
    sweep_epochs: float  # target passes over N
    sweep_steps: tuple[int, int]  # bounds on steps per run
    sweep_max_rows: int  # bound on N (the reduced preset's budget)
    sweep_overhead_guess: float  # per run: data, tokenizing, set-up, evaluation, seconds
    sweep_unseen: tuple[int, int]  # unseen-test (instructions, examples)
    sweep_seen: int
    eval_batch: int
    llama: dict = field(default_factory=dict)
    peft_rows: int = 64
    grpo_warm_steps: int = 300  # SFT steps of the tiny warm start (tiny-cpu.yaml)
    grpo_steps: int = 10  # GRPO steps of the tiny RL run (tiny-grpo-cpu.yaml)
    grpo_prompts: int = 64  # prompts sampled at once in the rollout measurement
    grpo_generations: int = 8  # completions per prompt (the recipes' num_generations)
    grpo_new_tokens: int = 40  # longest completion (the recipes' max_completion_length)
    grpo_rewards: int = 100_000  # completions scored in the rewards/s measurement
    floors: dict = field(default_factory=dict)  # seconds each step gets before the shares of the rest


FULL = Sizes(
    model={"n_layer": 6, "n_embd": 256, "n_head": 4}, train_rows=32768, batch=512, warmup=5, max_timed_steps=100000,
    min_window=2.0, setup_guess=5.0, compile_setup_guess=45.0,
    decode_rows=1024, decode_single=32, decode_batches=[64, 256, 1024],
    sweep_grid=[10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000], sweep_min_runs=6, sweep_max_runs=8,
    sweep_min_s=4, sweep_epochs=4.0, sweep_steps=(50, 20000), sweep_max_rows=200000, sweep_overhead_guess=8.0,
    sweep_unseen=(200, 1000), sweep_seen=500, eval_batch=512,
    llama={"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 2},
    floors={"environment": 15, "training": 60, "decoding": 15, "sweep": 60, "peft": 20, "grpo": 40},
)  # fmt: skip
DRY = Sizes(
    model={"n_layer": 2, "n_embd": 64, "n_head": 2}, train_rows=96, batch=16, warmup=1, max_timed_steps=2,
    min_window=0.2, setup_guess=1.0, compile_setup_guess=8.0,
    decode_rows=24, decode_single=6, decode_batches=[8, 24],
    sweep_grid=[2, 4, 8, 16, 32, 64], sweep_min_runs=6, sweep_max_runs=6,
    sweep_min_s=2, sweep_epochs=1.0, sweep_steps=(4, 8), sweep_max_rows=192, sweep_overhead_guess=2.0,
    sweep_unseen=(8, 24), sweep_seen=8, eval_batch=32,
    llama={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 2},
    peft_rows=16,
    grpo_warm_steps=20, grpo_steps=2, grpo_prompts=4, grpo_generations=4, grpo_new_tokens=12, grpo_rewards=2000,
    floors={"environment": 20, "training": 40, "decoding": 15, "sweep": 40, "peft": 25, "grpo": 20},
)  # fmt: skip


class Cut(BaseException):
    """A step ran out of its time (a BaseException, so library code catching Exception lets it through)."""


class Terminated(BaseException):
    """SIGTERM (a time limit outside this process): save what there is and stop."""


# ----------------------------------------------------------------------------------------------- plumbing


class Tee:
    """A text stream that writes to the terminal and the log file."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text):
        self.stream.write(text)
        self.log.write(text)
        return len(text)

    def flush(self):
        self.stream.flush()
        self.log.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def say(*parts) -> None:
    print(*parts, flush=True)


@contextmanager
def alarm(seconds: float):
    """Raise :class:`Cut` in the main thread once ``seconds`` have passed (no-op where SIGALRM is missing)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum, frame):
        raise Cut(f"ran out of its {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, fire)
    # Fires again every second until disarmed: a Cut raised where Python ignores exceptions (a weakref or import
    # lock callback prints "Exception ignored") must not let the step run on.
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01), 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def clean(value):
    """JSON-safe: non-finite floats become None, tuples lists, other objects their text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 2000 else text[:2000] + " ..."


@dataclass
class Context:
    out: Path
    work: Path
    dry_run: bool
    sizes: Sizes
    end: float  # time.monotonic() deadline of the whole check
    gpu: bool = False
    device_name: str = "cpu"
    report: dict = field(default_factory=dict)
    measured_peak: dict = field(default_factory=dict)  # precision -> FLOP/s of a large matrix product here
    tokens_per_s: float | None = None  # our recipe's, from the training step (sizes the sweep)

    def left(self, until: float | None = None) -> float:
        return (self.end if until is None else until) - time.monotonic()

    def save(self) -> None:
        from core.atomic import write_text_atomic

        self.report["check"]["wall_s"] = round(time.monotonic() - START, 2)
        write_text_atomic(self.out / FILES["json"], json.dumps(clean(self.report), indent=2) + "\n")
        write_text_atomic(self.out / FILES["table"], tables(self.report))


def run_step(ctx: Context, name: str, fn, limit: float) -> None:
    """Run one step under a hard time limit; record ok / cut / failed, its time, and save the report."""
    sec = ctx.report[name]
    sec["status"] = "running"
    deadline = time.monotonic() + limit
    started = time.monotonic()
    say(f"\n== {name} (up to {limit:.0f} s)")
    try:
        with alarm(limit):
            fn(ctx, sec, deadline)
        sec["status"] = "cut" if sec.get("cut") else "ok"
    except Cut as exc:
        sec["status"], sec["cut"] = "cut", str(exc)
        say(f"{name}: cut ({exc})")
    except Exception as exc:  # noqa: BLE001 - recorded, and the next step runs
        sec["status"], sec["error"] = "failed", error_text(exc)
        say(f"{name}: FAILED {error_text(exc)}")
        traceback.print_exc(file=sys.stdout)
    finally:
        sec["seconds"] = round(time.monotonic() - started, 2)
        sec["limit_s"] = round(limit, 1)
        free_memory()
        ctx.report["check"]["steps"][name] = sec["status"]
        ctx.save()


def free_memory() -> None:
    """Release what the last run held (GPU memory, compiled graphs: a run cut while compiling leaves them)."""
    gc.collect()
    if "torch" in sys.modules:
        import torch

        if "torch._dynamo" in sys.modules:
            torch._dynamo.reset()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------------------------- a. environment


def package_info(name: str) -> dict:
    """Version and import location of a module (``None`` version when not installed)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return {"version": None}
    try:
        version = importlib.metadata.version(name.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        version = getattr(sys.modules.get(name), "__version__", "unknown")
    where = spec.origin or (list(spec.submodule_search_locations or []) or [None])[0]
    return {"version": version, "from": str(Path(where).parent) if where else None}


def unmet_requirements(names=CHECKED) -> list[str]:
    """The requirements of ``names`` (markers evaluated here, extras skipped) that the importable versions miss."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    problems = []
    for name in names:
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name}: not installed")
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                have = importlib.metadata.version(req.name)
            except importlib.metadata.PackageNotFoundError:
                problems.append(f"{name} needs {req} (missing)")
                continue
            if req.specifier and not req.specifier.contains(Version(have), prereleases=True):
                problems.append(f"{name} needs {req} (have {have})")
    return problems


def matmul_rate(dtype_name: str, n: int, reps: int) -> dict:
    """FLOP/s of an n x n x n matrix product on random data (3 warm-ups, then the mean of ``reps``)."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = getattr(torch, dtype_name)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync()
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync()
    seconds = time.perf_counter() - start
    return {"dtype": dtype_name, "n": n, "reps": reps, "tflops": 2 * n**3 * reps / seconds / 1e12}


def attention_probe(ctx: Context) -> dict:
    """Which attention a from-scratch GPT-2 gets, and which SDPA kernel its training forward pass actually runs
    (the aten operators seen by a dispatch mode: a fused kernel, or SDPA's math fallback as bmm + softmax), for
    equal-length rows (no padding) and right-padded ones, in the recipe's precision and dropout (0.1)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from training.model import build_gpt2
    from training.tokenizer import build_char_tokenizer

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.add(func.name())
            return func(*args, **(kwargs or {}))

    tok = build_char_tokenizer("abcdefghijklmnopqrstuvwxyz", 256)
    model = build_gpt2(tok, **ctx.sizes.model, n_positions=256, dropout=0.1, seed=0)
    device = "cuda" if ctx.gpu else "cpu"
    model.to(device).train()
    out = {"gpt2_attn_implementation": model.config._attn_implementation,
           "flash_attn_installed": importlib.util.find_spec("flash_attn") is not None}  # fmt: skip
    ids = torch.randint(3, len(tok), (8, 144), device=device)
    dtype = torch.bfloat16 if ctx.gpu and torch.cuda.is_bf16_supported() else torch.float32
    for case, mask in (("no padding", torch.ones_like(ids)), ("right-padded", _right_padded(ids))):
        with torch.autocast(device, dtype=dtype, enabled=dtype != torch.float32), Ops() as ops:
            model(input_ids=ids, attention_mask=mask)
        fused = sorted(n for n in ops.names if n.startswith("aten::_scaled_dot_product"))
        math_path = "aten::_safe_softmax" in ops.names or "aten::_softmax" in ops.names
        out[f"sdpa ({case}, {str(dtype).removeprefix('torch.')}, training)"] = fused or (
            ["math (SDPA's fallback: bmm + softmax)"] if math_path else ["no attention operator seen"])  # fmt: skip
    return out


def _right_padded(ids):
    import torch

    mask = torch.ones_like(ids)
    for row in range(ids.shape[0]):
        mask[row, ids.shape[1] - 8 * row :] = 0 if row else 1
    return mask


def step_environment(ctx: Context, sec: dict, deadline: float) -> None:
    import platform

    import torch
    from bench_training import peak_flops

    from training.hardware import bf16_supported

    sec.update({
        "python": platform.python_version(), "platform": platform.platform(), "cpu_cores": os.cpu_count(),
        "torch": torch.__version__, "cuda_runtime": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
        "bf16_supported": bf16_supported(), "device": ctx.device_name,
        "fp32_precision": getattr(torch.backends, "fp32_precision", None), "torch_threads": torch.get_num_threads(),
    })  # fmt: skip
    if ctx.gpu:
        props = torch.cuda.get_device_properties(0)
        sec.update({"capability": f"{props.major}.{props.minor}", "multiprocessors": props.multi_processor_count,
                    "memory_gib": round(props.total_memory / 2**30, 1), "nvidia_smi": nvidia_smi()})  # fmt: skip
    sec["packages"] = {name: package_info(name) for name in REPORTED}
    sec["requirements_unmet"] = unmet_requirements()
    say(f"device: {ctx.device_name}; torch {torch.__version__} (CUDA {torch.version.cuda}); bf16: {sec['bf16_supported']}")
    for name, info in sec["packages"].items():
        if info["version"]:
            say(f"  {name} {info['version']}  ({info.get('from')})")
    say(f"unmet requirements: {sec['requirements_unmet'] or 'none'}")
    rates = [("bfloat16", 8192, 10), ("float32", 4096, 5)] if ctx.gpu else [("float32", 512 if ctx.dry_run else 1024, 20)]
    sec["matmul"] = [matmul_rate(*r) for r in rates]
    for r in sec["matmul"]:
        ctx.measured_peak["bf16 mixed" if r["dtype"] == "bfloat16" else "fp32"] = r["tflops"] * 1e12
        say(f"matrix product {r['dtype']} {r['n']}^3: {r['tflops']:.4g} TFLOP/s measured")
    datasheet = peak_flops(ctx.device_name, "bf16 mixed") if ctx.gpu else None
    sec["peak_datasheet"] = {
        "bf16_dense_tflops": datasheet / 1e12 if datasheet else None,
        "source": "vendor data sheet, dense bf16 tensor rate (no sparsity); a lead, not a measurement"
        if datasheet else "no data-sheet peak for this device",
    }  # fmt: skip
    sec["attention"] = attention_probe(ctx)
    say(f"attention: {sec['attention']}")


def nvidia_smi() -> str | None:
    """Read-only query of the card (name, driver, clocks, power limit); None where nvidia-smi is missing."""
    import subprocess

    query = "name,driver_version,clocks.sm,clocks.max.sm,power.limit,temperature.gpu"
    try:
        res = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=15)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() or None


# ----------------------------------------------------------------------------------------------- b. training


@dataclass
class Variant:
    name: str
    what: str  # what differs from our recipe
    overrides: list[str] = field(default_factory=list)  # recipe command-line overrides
    trainer: str = "ours"  # ours (training/trainer.py) | trl (trl.SFTTrainer)
    defaults: bool = False  # TRL's SFTConfig defaults instead of the recipe
    attn: str | None = None
    assign: dict = field(default_factory=dict)  # SFTConfig attributes set after parsing
    unavailable: str | None = None  # why it cannot run here
    compile: bool = False


def variants(ctx: Context) -> list[Variant]:
    import torch

    bs = ctx.sizes.batch
    flash = importlib.util.find_spec("flash_attn") is not None
    no_flash = None if flash else (
        "needs flash-attn (a varlen kernel; not installed): with SDPA every batch gets a dense mask over the whole "
        "flattened batch, quadratic in its size (training/hardware.check_attention refuses it)"
    )  # fmt: skip
    bf16 = ctx.gpu and torch.cuda.is_bf16_supported()
    compile_kw = [] if ctx.gpu else ["--torch_compile_backend", "eager"]  # CPU: the tracing path, no code generation
    # In order of importance (the later ones are cut first when time runs short): the issue's list (bf16, SDPA /
    # flash attention, padding-free packing, torch.compile, fused AdamW, batch size), then the finer splits.
    return [
        Variant("our recipe", "gpt2-scratch-paper.yaml as training/sft.py parses it; training/trainer.py's SFTTrainer"),
        Variant("TRL defaults", "trl.SFTConfig(output_dir=...) and trl.SFTTrainer: batch 8, activation "
                "checkpointing, metrics synced every step" + ("" if ctx.gpu else "; use_cpu, bf16 off"),
                trainer="trl", defaults=True),
        Variant("fp32", "bf16 off: fp32 matmuls", ["--bf16", "false"],
                unavailable=None if bf16 else "the recipe is already fp32 on this device"),
        Variant("eager attention", "attention in plain PyTorch ops instead of SDPA", attn="eager"),
        Variant("flash_attention_2", "flash-attn's kernel instead of SDPA", attn="flash_attention_2",
                unavailable=None if flash else "flash-attn is not installed"),
        Variant("padding-free", "padding_free: one flattened row per batch, flash attention", ["--padding_free", "true"],
                attn="flash_attention_2", assign={"max_length": None}, unavailable=no_flash),
        Variant("BFD packing", "packing (best-fit decreasing, padding-free), flash attention", ["--packing", "true"],
                attn="flash_attention_2", unavailable=no_flash),
        Variant("wrapped packing", "rows joined and cut into max_length blocks (no padding; examples attend "
                "across their boundaries, so not the recipe's task)", ["--packing", "true", "--packing_strategy", "wrapped"]),
        Variant("torch.compile", "torch_compile: true" + ("" if ctx.gpu else " (backend eager on a CPU)"),
                ["--torch_compile", "true", *compile_kw], compile=True,
                unavailable="not in a dry run on a CPU (tracing alone takes longer than the dry run's training)"
                if ctx.dry_run and not ctx.gpu else None),
        Variant("non-fused AdamW", "adamw_torch instead of adamw_torch_fused", ["--optim", "adamw_torch"]),
        Variant(f"batch {2 * bs}", "twice the batch", ["--per_device_train_batch_size", str(2 * bs)]),
        Variant(f"batch {4 * bs}", "four times the batch", ["--per_device_train_batch_size", str(4 * bs)]),
        Variant(f"batch {bs // 4}", "a quarter of the batch", ["--per_device_train_batch_size", str(bs // 4)]),
        Variant("recipe in TRL's trainer", "our recipe's settings in trl.SFTTrainer (per-step metric syncs)", trainer="trl"),
        Variant("tf32", "bf16 off, TF32 matmuls", ["--bf16", "false", "--tf32", "true"],
                unavailable=None if ctx.gpu else "TF32 needs an NVIDIA GPU"),
        Variant("activation checkpointing", "activation checkpointing on", ["--activation_checkpointing", "true"]),
        Variant("no length bucketing", "random batches instead of group_by_length", ["--train_sampling_strategy", "random"]),
    ]  # fmt: skip


def common_overrides(ctx: Context, out: Path, max_steps: int) -> list[str]:
    """Recipe overrides for a measuring run: no evaluation, checkpoints or reports; the check's model shape."""
    cores = os.cpu_count() or 1
    args = [
        "--output_dir", str(out), "--max_steps", str(max_steps), "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--report_to", "none", "--disable_tqdm", "true",
        "--dataset_num_proc", str(min(8, cores) if ctx.gpu else 1),
        *[f"--{k}={v}" for k, v in ctx.sizes.model.items()],
    ]  # fmt: skip
    if not ctx.gpu:  # batches are made in the training process: on a CPU, workers would take its cores
        args += ["--dataloader_num_workers", "0", "--dataloader_persistent_workers", "false",
                 "--dataloader_pin_memory", "false"]  # fmt: skip
    if ctx.dry_run:
        args += ["--per_device_train_batch_size", str(ctx.sizes.batch)]
    return args


@contextmanager
def matmul_settings():
    """Restore the global TF32 switch a run may flip (TrainingArguments(tf32=True) sets it for the process)."""
    import torch

    new_api = hasattr(torch.backends, "fp32_precision")  # torch >= 2.9 (transformers uses it there)
    saved = torch.backends.fp32_precision if new_api else (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        yield
    finally:
        if new_api:
            torch.backends.fp32_precision = saved
        else:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def step_training(ctx: Context, sec: dict, deadline: float) -> None:
    import bench_training

    from training.sft import parse_recipe
    from training.tokenizer import build_char_tokenizer, dataset_charset

    sz = ctx.sizes
    max_steps = sz.warmup + sz.max_timed_steps
    splits = bench_training.preset_dataset("paper_rewrite", sz.train_rows, ctx.work / "data", name="paper")
    data = splits["train"].select_columns(["prompt", "completion"])
    base = parse_recipe(["--config", str(PAPER_RECIPE), *common_overrides(ctx, ctx.work / "t", max_steps)])
    tokenizer = build_char_tokenizer(dataset_charset(splits), model_max_length=base.training.max_length)
    chars = [len(p) + len(c) + 1 for p, c in zip(data["prompt"][:256], data["completion"][:256])]
    sec["data"] = {"preset": "paper_rewrite", "rows": len(data), "mean_tokens_per_row": sum(chars) / len(chars)}
    sec["model"] = {"arch": "GPT-2 from scratch", **sz.model, "n_positions": base.training.max_length,
                    "parameters": sum(p.numel() for p in _gpt2(base, tokenizer, sz).parameters())}  # fmt: skip
    sec["datasheet_peak_tflops"] = (ctx.report["environment"].get("peak_datasheet") or {}).get("bf16_dense_tflops")
    sec["runs"] = []
    say(f"data: {len(data)} paper_rewrite rows (~{sec['data']['mean_tokens_per_row']:.0f} tokens); model: "
        f"{sec['model']['parameters'] / 1e6:.2f}M parameters")  # fmt: skip
    try:
        _training_runs(ctx, sec, deadline, data, base, tokenizer)
    finally:
        _training_summary(sec)


def _training_runs(ctx: Context, sec: dict, deadline: float, data, base, tokenizer) -> None:
    import bench_training
    import trl

    from training.sft import parse_recipe
    from training.trainer import SFTTrainer

    sz, runs = ctx.sizes, sec["runs"]
    max_steps = sz.warmup + sz.max_timed_steps
    setup = {"plain": sz.setup_guess, "compile": sz.compile_setup_guess}
    todo = variants(ctx)
    for i, v in enumerate(todo):
        entry = {"run": v.name, "what": v.what}
        runs.append(entry)
        if v.unavailable:
            entry.update(status="skipped", reason=v.unavailable)
            say(f"{v.name:<26} skipped: {v.unavailable}")
            continue
        runnable = sum(1 for w in todo[i:] if not w.unavailable)
        kind = "compile" if v.compile else "plain"
        left = ctx.left(deadline) - 1.0
        # An equal share of what is left; when that is too short, this run (they are in order of importance)
        # still gets the shortest window and the later ones are cut.
        window = max(left / runnable - setup[kind], sz.min_window)
        if window + setup[kind] > left:
            entry.update(status="cut", reason=f"no time left in the step ({left:.0f} s; this run needs about "
                         f"{setup[kind] + window:.0f} s)")  # fmt: skip
            sec["cut"] = "ran out of time before the last runs"
            say(f"{v.name:<26} cut: {entry['reason']}")
            continue
        began = time.monotonic()
        try:
            with matmul_settings():
                if v.defaults:
                    args = trl_defaults(ctx, ctx.work / "defaults", max_steps)
                else:
                    args = parse_recipe(["--config", str(PAPER_RECIPE), *common_overrides(ctx, ctx.work / "t", max_steps),
                                         *v.overrides]).training  # fmt: skip
                for key, value in v.assign.items():
                    setattr(args, key, value)
                if "input_ids" in data.column_names and not args.packing:  # tokenized and truncated already
                    args.dataset_kwargs = {**(args.dataset_kwargs or {}), "skip_prepare_dataset": True}
                model = _gpt2(base, tokenizer, sz)
                if v.attn:
                    model.set_attn_implementation(v.attn)
                cls = SFTTrainer if v.trainer == "ours" else trl.SFTTrainer
                trainer = bench_training.counting_trainer(cls, args, model, tokenizer, data, sz.warmup, window)
                if "input_ids" not in data.column_names and not args.packing:  # tokenize once (the recipe's
                    data = trainer.train_dataset  # way, in the first run that gets this far); later runs reuse it
                peak = None if args.tf32 else ctx.measured_peak.get(_precision(args))  # TF32: no rate measured
                result = bench_training.measure(v.name, trainer, ctx.device_name, peak)
            entry.update(status="ok", **result, setup_s=round(time.monotonic() - began - result["seconds"], 2))
            setup[kind] = max(setup[kind] * 0.5, entry["setup_s"] * 1.2)
            say(_run_line(entry))
        except Exception as exc:  # noqa: BLE001 - one variant failing does not stop the others
            entry.update(status="failed", error=error_text(exc))
            say(f"{v.name:<26} FAILED {error_text(exc)}")
        except BaseException as exc:  # the step's time is up, or SIGTERM: say so in this run's entry too
            entry["status"] = "cut" if isinstance(exc, Cut) else "terminated"
            raise
        finally:
            trainer = model = None  # noqa: F841 - release the GPU memory before the next run
            free_memory()
        if v.name == "our recipe" and entry.get("status") == "ok":
            ctx.tokens_per_s = entry["tokens_per_s"]
        ctx.save()


def trl_defaults(ctx: Context, out: Path, max_steps: int):
    """``trl.SFTConfig(output_dir=...)``: TRL's defaults, with its activation-checkpointing default (on) passed
    under transformers' current name. TRL sets the deprecated ``gradient_checkpointing`` field, on which
    transformers warns (a FutureWarning about TRL's code) on every SFTConfig; the setting is the same."""
    import trl  # the [train] extra: the check runs on images that may lack it, and says so

    checkpointing = next(f.default for f in dataclasses_fields(trl.SFTConfig) if f.name == "gradient_checkpointing")
    return trl.SFTConfig(output_dir=str(out), max_steps=max_steps, save_strategy="no", report_to="none",
                         disable_tqdm=True, activation_checkpointing=checkpointing,
                         **({} if ctx.gpu else {"use_cpu": True, "bf16": False}))


def _precision(args) -> str:
    from training.hardware import precision_name

    return precision_name(args)


def _gpt2(recipe, tokenizer, sz: Sizes):
    from training.model import build_gpt2

    return build_gpt2(tokenizer, **sz.model, n_positions=recipe.training.max_length, dropout=recipe.scratch.dropout, seed=0)


def _run_line(r: dict) -> str:
    mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "-"
    mfu_m = f"{100 * r['mfu_measured']:.1f}%" if r.get("mfu_measured") is not None else "-"
    mem = f"{r['peak_gpu_gib']:.1f} GiB" if r.get("peak_gpu_gib") is not None else "-"
    return (f"{r['run']:<26} {r['tokens_per_s']:>12,.0f} tok/s  padding {100 * r['padding_share']:4.1f}%  MFU {mfu:>6} "
            f"(measured peak {mfu_m:>6})  {mem:>9}  {r['timed_steps']} steps in {r['seconds']:.1f} s")  # fmt: skip


def _training_summary(sec: dict) -> None:
    ok = {r["run"]: r for r in sec["runs"] if r.get("status") == "ok"}
    base, ours = ok.get("TRL defaults"), ok.get("our recipe")
    sec["ratio"] = ours["tokens_per_s"] / base["tokens_per_s"] if base and ours else None
    if ok:
        best = max(ok.values(), key=lambda r: r["tokens_per_s"])
        sec["best"] = {"run": best["run"], "tokens_per_s": best["tokens_per_s"],
                       "ratio_to_defaults": best["tokens_per_s"] / base["tokens_per_s"] if base else None}  # fmt: skip
    if sec["ratio"] is not None:
        say(f"our recipe trains {sec['ratio']:.2f}x the tokens/s of TRL's defaults "
            f"({ours['tokens_per_s']:,.0f} vs {base['tokens_per_s']:,.0f}); goal: at least 3x")  # fmt: skip


# ----------------------------------------------------------------------------------------------- c. decoding


def _reduced_max_length() -> int:
    import yaml

    return int(yaml.safe_load(REDUCED_RECIPE.read_text(encoding="utf-8"))["max_length"])


def step_decoding(ctx: Context, sec: dict, deadline: float) -> None:
    import bench_decoding
    import torch
    from bench_training import preset_dataset

    from eval.rewrite import DecodeSettings, plan_max_new_tokens
    from training.model import build_gpt2
    from training.tokenizer import build_char_tokenizer, dataset_charset

    sz = ctx.sizes
    splits = preset_dataset("reduced_rewrite", 64, ctx.work / "data", instructions=16,
                            unseen=(sz.sweep_unseen[0], sz.decode_rows), name="decode")  # fmt: skip
    ds = splits["test_unseen"]
    prompts = list(ds["prompt"])
    max_len = _reduced_max_length()
    tok = build_char_tokenizer(dataset_charset(splits), max_len)
    model = build_gpt2(tok, **sz.model, n_positions=max_len, dropout=0.0, seed=0).to("cuda" if ctx.gpu else "cpu")
    max_new = plan_max_new_tokens(model, tok, {"test_unseen": ds}, DecodeSettings())
    sec["setup"] = {"model": f"GPT-2 {sz.model['n_layer']} x {sz.model['n_embd']} x {sz.model['n_head']}, random "
                    "weights (rows run to max_new_tokens unless EOS comes early; the sweep's evaluation times "
                    "trained models)", "rows": "reduced_rewrite unseen-rule prompts", "decoder": "eval.decode.greedy_decode"}  # fmt: skip
    say(f"{len(prompts)} prompts, max_new_tokens {max_new}")
    sec["fp32"] = bench_decoding.compare(model, tok, prompts, max_new, sz.decode_batches, sz.decode_single, until=deadline - 5)
    _decode_lines("fp32", sec["fp32"])
    best = max(sec["fp32"]["batched"], key=lambda r: r["rows_per_s"]) if sec["fp32"]["batched"] else None
    if best is not None:
        sec.update(speedup=best["speedup"], rows_per_s=best["rows_per_s"], best_batch_size=best["batch_size"])
    if len(sec["fp32"]["batched"]) < len(sz.decode_batches):
        sec["cut"] = "ran out of time before the largest batch sizes"
    if ctx.gpu and best is not None and ctx.left(deadline) > 10:
        model.to(torch.bfloat16)
        sec["bf16"] = bench_decoding.compare(model, tok, prompts, max_new, [best["batch_size"]], sz.decode_single)
        _decode_lines("bf16", sec["bf16"])


def _decode_lines(dtype: str, res: dict) -> None:
    say(f"{dtype}: one at a time {res['one_at_a_time']['rows_per_s']:.1f} rows/s ({res['single_rows']} rows)")
    for r in res["batched"]:
        say(f"{dtype}: batch {r['batch_size']:>5} {r['rows_per_s']:10.1f} rows/s  {r['speedup']:6.1f}x  identical "
            f"{r['identical']}/{res['single_rows']}")  # fmt: skip


# ----------------------------------------------------------------------------------------------- d. sweep


def plan_sweep(sz: Sizes, seconds: float, tokens_per_s: float, row_tokens: float) -> dict:
    """N, the I values and the steps per run so that the runs fit in ``seconds`` at ``tokens_per_s``.

    Each run trains the same number of steps on N rows; N is about ``sz.sweep_epochs`` passes of those steps
    (more when the grid needs it: every I has at least ``sz.sweep_min_s`` examples), and the I values are spread
    over the candidates that fit N."""
    runs = sz.sweep_max_runs
    per_run = seconds / runs - sz.sweep_overhead_guess
    steps = int(max(per_run, 0) * tokens_per_s / (row_tokens * sz.batch))
    steps = min(max(steps, sz.sweep_steps[0]), sz.sweep_steps[1])
    floor = sz.sweep_grid[sz.sweep_min_runs - 1] * sz.sweep_min_s  # the smallest N that fits enough I values
    n_rows = int(min(max(steps * sz.batch / sz.sweep_epochs, floor, sz.batch), sz.sweep_max_rows))
    fit = [i for i in sz.sweep_grid if i * sz.sweep_min_s <= n_rows]
    take = min(runs, len(fit))
    grid = [fit[round(k * (len(fit) - 1) / (take - 1))] for k in range(take)] if take > 1 else fit
    return {"N": n_rows, "I": sorted(set(grid)), "steps": steps, "batch": sz.batch, "epochs": steps * sz.batch / n_rows,
            "row_tokens": row_tokens, "tokens_per_s_planned": tokens_per_s}  # fmt: skip


def rows_fingerprint(ds) -> str:
    digest = hashlib.sha256()
    for prompt, completion in zip(ds["prompt"], ds["completion"]):
        digest.update(f"{prompt}\x00{completion}\x01".encode())
    return digest.hexdigest()[:16]


def step_sweep(ctx: Context, sec: dict, deadline: float) -> None:
    from bench_training import preset_dataset

    sz = ctx.sizes
    sample = preset_dataset("reduced_rewrite", 64, ctx.work / "data", instructions=16, name="rowlen")["train"]
    row_tokens = sum(len(p) + len(c) + 1 for p, c in zip(sample["prompt"], sample["completion"])) / len(sample)
    if ctx.tokens_per_s:
        tps, source = 0.6 * ctx.tokens_per_s, "0.6 x our recipe's tokens/s measured in the training step"
    else:
        tps, source = (2e5 if ctx.gpu else 5e3), "a guess: the training step measured no tokens/s"
    plan = plan_sweep(sz, ctx.left(deadline) - 2, tps, row_tokens)
    sec["plan"] = {**plan, "planned_from": source, "preset": "reduced_rewrite", "seed": 0,
                   "unseen": {"instructions": sz.sweep_unseen[0], "examples": sz.sweep_unseen[1]}, "seen_examples": sz.sweep_seen}  # fmt: skip
    say(f"plan: N = {plan['N']}, I = {plan['I']}, {plan['steps']} steps of {plan['batch']} rows per run "
        f"({plan['epochs']:.1f} epochs; {source})")  # fmt: skip
    rows = sec["rows"] = []
    took = None
    try:
        for i, instructions in enumerate(plan["I"]):
            if took is not None and ctx.left(deadline) < took * 1.1:
                sec["cut"] = f"no time for I = {plan['I'][i:]}"
                say(f"cut: {sec['cut']}")
                break
            began = time.monotonic()
            rows.append(sweep_run(ctx, plan, instructions))
            took = max(took or 0.0, time.monotonic() - began)
            rows[-1]["seconds"] = round(time.monotonic() - began, 2)
            r = rows[-1]
            say(f"I = {instructions:>6}: unseen {100 * r['accuracy']:5.1f}% [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]  "
                f"seen {100 * r['seen_accuracy']:5.1f}%  loss {r['loss_last']}  {r['tokens']:,} tokens  {r['seconds']:.0f} s")  # fmt: skip
            ctx.save()
    finally:
        _sweep_summary(ctx, sec)


def sweep_run(ctx: Context, plan: dict, instructions: int) -> dict:
    import bench_training

    from eval.rewrite import DecodeSettings, evaluate_rewrite
    from training.model import build_gpt2
    from training.sft import parse_recipe
    from training.tokenizer import build_char_tokenizer, dataset_charset
    from training.trainer import SFTTrainer

    sz = ctx.sizes
    splits = bench_training.preset_dataset("reduced_rewrite", plan["N"], ctx.work / "sweep", instructions=instructions,
                                           unseen=sz.sweep_unseen, seen=sz.sweep_seen, name="sweep")  # fmt: skip
    steps = plan["steps"]
    recipe = parse_recipe(["--config", str(REDUCED_RECIPE), *common_overrides(ctx, ctx.work / "sweep-out", steps),
                           "--logging_steps", str(max(1, steps // 4))])  # fmt: skip
    t = recipe.training
    tok = build_char_tokenizer(dataset_charset(splits), t.max_length)
    model = build_gpt2(tok, **sz.model, n_positions=t.max_length, dropout=recipe.scratch.dropout, seed=t.seed)
    train = splits["train"].select_columns(["prompt", "completion"])
    trainer = bench_training.counting_trainer(SFTTrainer, t, model, tok, train, 0)
    began = time.monotonic()
    speed = bench_training.measure(f"I={instructions}", trainer, ctx.device_name, ctx.measured_peak.get(_precision(t)))
    train_s = time.monotonic() - began
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    began = time.monotonic()
    unseen, seen = splits["test_unseen"], splits["test_seen"]
    scores, _ = evaluate_rewrite(trainer.model, tok, {"test_unseen": unseen, "test_seen": seen},
                                 settings=DecodeSettings(batch_size=sz.eval_batch))  # fmt: skip
    u, s = scores["splits"]["test_unseen"], scores["splits"]["test_seen"]
    return {
        "I": instructions, "S": plan["N"] // instructions, "N": len(train), "seed": 0, "steps": trainer.state.global_step,
        "tokens": speed["tokens"], "epochs": trainer.state.global_step * t.per_device_train_batch_size / len(train),
        "train_s": round(train_s, 2), "tokens_per_s": speed["tokens_per_s"], "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None, "n": u["n"], "accuracy": u["accuracy"], "ci_low": u["ci_low"],
        "ci_high": u["ci_high"], "op_accuracy": (u["by_kind"].get("op") or {}).get("accuracy"),
        "seen_n": s["n"], "seen_accuracy": s["accuracy"], "seen_ci_low": s["ci_low"], "seen_ci_high": s["ci_high"],
        "eval_s": round(time.monotonic() - began, 2), "eval_rows_per_s": scores["examples_per_s"],
        "unseen_fingerprint": rows_fingerprint(unseen), "unseen_rules": len(set(unseen["instruction_id"])),
    }  # fmt: skip


def _sweep_summary(ctx: Context, sec: dict) -> None:
    rows = sec.get("rows") or []
    sec["completed"] = len(rows)
    sec["same_unseen_rows"] = len({r["unseen_fingerprint"] for r in rows}) == 1 if rows else None
    sec["same_steps"] = len({r["steps"] for r in rows}) == 1 if rows else None
    if len(rows) < ctx.sizes.sweep_min_runs and not sec.get("cut"):
        sec["cut"] = f"only {len(rows)} of the planned runs finished"
    if rows:
        from eval.plots import plot_phase_transition

        plot_phase_transition([r for r in rows if r["accuracy"] is not None], ctx.out / FILES["plot"])
        sec["plot"] = FILES["plot"]


# ----------------------------------------------------------------------------------------------- e. peft


def tiny_llama(ctx: Context, data_folder: Path) -> Path:
    """A small Llama-shaped model built from a config with a char-level tokenizer, saved as a model folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from publishing.loading import load_splits
    from training.tokenizer import build_char_tokenizer, dataset_charset, mark_portable

    splits = load_splits(str(data_folder))
    tok = build_char_tokenizer(dataset_charset(splits), 256)
    config = LlamaConfig(vocab_size=len(tok), max_position_embeddings=256, bos_token_id=tok.eos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **ctx.sizes.llama)  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    folder = ctx.work / "tiny-llama"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    mark_portable(folder)
    return folder


def step_peft(ctx: Context, sec: dict, deadline: float) -> None:
    from bench_training import preset_folder

    from core.errors import ConfigError

    data = preset_folder("tiny", 1000, ctx.work / "data", instructions=40, unseen=(20, 16), seen=16, name="peft")
    llama = tiny_llama(ctx, data)
    sec["model"] = {"arch": "LlamaForCausalLM from a LlamaConfig (no download)", **ctx.sizes.llama}
    sec["runs"] = []
    cases = [
        ("LoRA", LORA_RECIPE, ["--load_in_8bit", "false"]),
        ("LoRA on 8-bit weights", LORA_RECIPE, []),
        ("8-bit AdamW", ADAM8_RECIPE, []),
    ]
    for name, recipe_path, extra in cases:
        entry = {"run": name, "recipe": recipe_path.name}
        sec["runs"].append(entry)
        began = time.monotonic()
        try:
            entry.update(peft_run(ctx, name, recipe_path, llama, data, extra))
            moved = entry["update"]["changed"]
            entry["status"] = "ok" if moved else "failed"
            if not moved:
                entry["error"] = f"no weight moved ({entry['update']['checked']})"
            say(f"{name:<22} {entry['status']}: loss {entry['losses']}, {entry['trainable_parameters']:,} trainable of "
                f"{entry['total_parameters']:,}, {entry['optimizer']}, {moved}/{entry['update']['tensors']} tensors "
                f"moved (max {entry['update']['max_abs_change']:.2g})"
                + (f", {entry['int8_layers']} int8 layers" if "int8_layers" in entry else ""))  # fmt: skip
        except ConfigError as exc:  # the project refusing what this machine cannot do (8-bit loading on a CPU)
            entry.update(status="failed" if ctx.gpu else "skipped", reason=str(exc))
            say(f"{name:<22} {entry['status']}: {exc}")
        except Exception as exc:  # noqa: BLE001
            entry.update(status="failed", error=error_text(exc))
            say(f"{name:<22} FAILED {error_text(exc)}")
        except BaseException as exc:
            entry["status"] = "cut" if isinstance(exc, Cut) else "terminated"
            raise
        finally:
            entry["seconds"] = round(time.monotonic() - began, 2)
            free_memory()
            ctx.save()
    if any(r["status"] == "failed" for r in sec["runs"]):
        raise RuntimeError("a peft / bitsandbytes run failed: " + ", ".join(r["run"] for r in sec["runs"] if r["status"] == "failed"))


def peft_run(ctx: Context, name: str, recipe_path: Path, llama: Path, data: Path, extra: list[str]) -> dict:
    """Two optimizer steps of a recipe through training/sft.py's own ``train`` on the tiny Llama, then proof that
    the weights moved (learning rate 1e-3 and no warm-up, so that one step shows even in bf16 weights)."""
    import torch

    from training.model import load_pretrained
    from training.sft import parse_recipe, train

    out = ctx.work / ("peft-" + "".join(c if c.isalnum() else "-" for c in name.lower()))
    argv = [
        "--config", str(recipe_path), "--model_name_or_path", str(llama), "--dataset", str(data),
        "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "4",
        "--gradient_accumulation_steps", "1", "--learning_rate", "1e-3", "--warmup_steps", "0", "--logging_steps", "1",
        "--eval_strategy", "no", "--save_strategy", "no", "--max_train_samples", str(ctx.sizes.peft_rows),
        "--max_eval_samples", "8", "--max_length", "128", "--publish", "false", "--report_to", "none",
        "--disable_tqdm", "true", *extra,
    ]  # fmt: skip
    if "lora" in recipe_path.name:
        argv += ["--lora_r", "8", "--lora_alpha", "16"]
    if not ctx.gpu:
        argv += ["--dtype", "float32"]
    recipe = parse_recipe(argv)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    summary = train(recipe)
    res = {
        "steps": summary["global_step"], "losses": [summary["first_loss"], summary["train_loss"]],
        "trainable_parameters": summary["trainable_parameters"], "total_parameters": summary["total_parameters"],
        "optimizer": summary["optimizer"], "precision": _precision(recipe.training),
        "weights_dtype": recipe.model.dtype, "load_in_8bit": bool(recipe.model.load_in_8bit),
        "use_peft": bool(recipe.model.use_peft), "device": "cuda" if ctx.gpu else "cpu",
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
        "update": weights_moved(out, llama),
    }  # fmt: skip
    if recipe.model.load_in_8bit:  # the weights really are int8: reload as the recipe loads them and look
        model, _, _ = load_pretrained(recipe.model, recipe.training)
        res["int8_layers"] = sum(1 for m in model.modules() if getattr(getattr(m, "weight", None), "dtype", None) == torch.int8)
        del model
    return res


def weights_moved(out: Path, initial: Path) -> dict:
    """How far the saved weights moved: LoRA B matrices from zero (their initial value), or every weight from the
    initial model's (cast to the saved dtype, so that rounding is not counted as a change)."""
    from safetensors.torch import load_file

    adapter = out / "adapter_model.safetensors"
    if adapter.exists():
        tensors = [t for k, t in load_file(adapter).items() if "lora_B" in k]
        moved = [float(t.float().abs().max()) for t in tensors]
        return {"checked": "LoRA B matrices (zero at the start)", "tensors": len(tensors),
                "changed": sum(m > 0 for m in moved), "max_abs_change": max(moved, default=None)}  # fmt: skip
    before, after = load_file(initial / "model.safetensors"), load_file(out / "model.safetensors")
    moved = [float((after[k].float() - before[k].to(after[k].dtype).float()).abs().max()) for k in before if k in after]
    return {"checked": "every weight against the initial model", "tensors": len(moved),
            "changed": sum(m > 0 for m in moved), "max_abs_change": max(moved, default=None)}  # fmt: skip


# ----------------------------------------------------------------------------------------------- f. grpo


def step_grpo(ctx: Context, sec: dict, deadline: float) -> None:
    from bench_training import preset_folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from publishing.loading import load_splits
    from training.model import build_gpt2
    from training.sft import parse_recipe, train

    sz = ctx.sizes
    data = preset_folder("tiny", 1000, ctx.work / "data", instructions=40, unseen=(20, 16), seen=16, name="grpo")
    warm = ctx.work / "grpo-warm-start"
    began = time.monotonic()
    train(parse_recipe([
        "--config", str(TINY_RECIPE), "--dataset", str(data), "--output_dir", str(warm), "--max_steps",
        str(sz.grpo_warm_steps), "--eval_split", "", "--eval_strategy", "no", "--save_strategy", "no",
        "--publish", "false", "--report_to", "none", "--disable_tqdm", "true",
    ]))  # fmt: skip
    sec["warm_start"] = {"recipe": TINY_RECIPE.name, "steps": sz.grpo_warm_steps, "seconds": round(time.monotonic() - began, 2)}
    say(f"warm start: {sz.grpo_warm_steps} SFT steps of {TINY_RECIPE.name} in {sec['warm_start']['seconds']} s")
    ctx.save()

    tok = AutoTokenizer.from_pretrained(warm)
    rows = load_splits(str(data), None, ["train"])["train"].select(range(sz.grpo_prompts))
    sec["sampling"] = []
    models = [("tiny warm start", lambda: AutoModelForCausalLM.from_pretrained(warm)),
              ("paper GPT-2 shape, untrained", lambda: build_gpt2(tok, **sz.model, n_positions=128, dropout=0.0, seed=0))]
    texts: list[str] = []
    for name, load in models:
        res = sample_rate(ctx, load(), tok, rows["prompt"], sz.grpo_generations, sz.grpo_new_tokens)
        texts = texts or res.pop("texts")
        res.pop("texts", None)
        sec["sampling"].append({"model": name, **res})
        say(f"rollouts, {name}: {res['tokens_per_s']:,.0f} sampled tokens/s ({res['completions']} completions of "
            f"<= {sz.grpo_new_tokens} tokens, {res['seconds']:.2f} s)")
        free_memory()
        ctx.save()

    sec["rewards"] = reward_rate(rows, texts, sz.grpo_generations, sz.grpo_rewards)
    say(f"rewards: {sec['rewards']['rewards_per_s']:,.0f} completions scored per second (TaskReward, exact match)")
    ctx.save()

    from training import grpo

    out = ctx.work / "grpo-run"
    began = time.monotonic()
    summary = grpo.main([
        "--config", str(TINY_GRPO_RECIPE), "--dataset", str(data), "--model_name_or_path", str(warm),
        "--output_dir", str(out), "--max_steps", str(sz.grpo_steps), "--logging_steps", "1", "--save_strategy", "no",
        "--publish", "false", "--report_to", "none", "--disable_tqdm", "true",
    ])  # fmt: skip
    seconds = time.monotonic() - began
    sec["run"] = {
        "recipe": TINY_GRPO_RECIPE.name, "steps": summary["global_step"], "seconds": round(seconds, 2),
        "rewards": summary["rewards"], "tokens": summary["num_tokens"],
        "tokens_per_s": summary["num_tokens"] / seconds if summary["num_tokens"] else None,
        "first_reward": summary["first_reward"], "final_reward": summary["final_reward"],
    }  # fmt: skip
    say(f"tiny RL run: {summary['global_step']} GRPO steps in {seconds:.1f} s (set-up included), "
        f"{_num(sec['run']['tokens_per_s'])} prompt + completion tokens/s, mean reward "
        f"{_num(summary['first_reward'], '.3f')} -> {_num(summary['final_reward'], '.3f')}")


def sample_rate(ctx: Context, model, tok, prompts: list[str], generations: int, new_tokens: int) -> dict:
    """Sampled tokens/s of ``generations`` completions per prompt in one left-padded batch, as TRL's GRPOTrainer
    samples without vLLM (``do_sample``, temperature 1, no top-k / top-p, up to ``new_tokens`` tokens; bf16
    autocast on a GPU); a completion's tokens count up to and including its EOS. Best of two timed runs, after
    one untimed."""
    import torch
    from transformers import GenerationConfig

    device = "cuda" if ctx.gpu else "cpu"
    model.to(device).eval()
    batch = [p for p in prompts for _ in range(generations)]
    encoded = [tok(p)["input_ids"] for p in batch]
    width = max(map(len, encoded))
    ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(encoded):
        ids[i, width - len(e):], mask[i, width - len(e):] = torch.tensor(e), 1
    config = GenerationConfig(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=new_tokens,
                              eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)  # fmt: skip
    ids, mask = ids.to(device), mask.to(device)
    best, out = None, None
    for timed in (False, True, True):
        torch.manual_seed(0)
        sync()
        t = time.perf_counter()
        with torch.no_grad(), torch.autocast("cuda", torch.bfloat16, enabled=ctx.gpu):
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
        sync()
        if timed:
            best = min(best or math.inf, time.perf_counter() - t)
    new = out[:, width:].tolist()
    lengths = [seq.index(tok.eos_token_id) + 1 if tok.eos_token_id in seq else len(seq) for seq in new]
    texts = tok.batch_decode([seq[: n - 1] if tok.eos_token_id in seq else seq for seq, n in zip(new, lengths)],
                             skip_special_tokens=True)  # fmt: skip
    return {"completions": len(batch), "tokens": sum(lengths), "seconds": best, "tokens_per_s": sum(lengths) / best,
            "completions_per_s": len(batch) / best, "stopped_at_eos": sum(n < len(s) or tok.eos_token_id in s
                                                                        for n, s in zip(lengths, new)),
            "texts": texts}  # fmt: skip


def reward_rate(rows, texts: list[str], generations: int, n: int) -> dict:
    """Completions scored per second by the RL reward, called as TRL calls it (prompts, completions and the
    dataset's other columns), on the sampled completions repeated to ``n``."""
    from generators.reward import TaskReward

    reward = TaskReward("rewrite")
    prompts = [p for p in rows["prompt"] for _ in range(generations)]
    answers = [a for a in rows["output"] for _ in range(generations)]
    reps = max(1, n // max(len(texts), 1))
    began = time.perf_counter()
    scores = reward(prompts=prompts * reps, completions=texts * reps, output=answers * reps)
    seconds = time.perf_counter() - began
    return {"completions": len(scores), "seconds": seconds, "rewards_per_s": len(scores) / seconds,
            "mean_reward": sum(scores) / len(scores)}  # fmt: skip


# ----------------------------------------------------------------------------------------------- tables, main


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x, fmt: str = ",.0f") -> str:
    return "-" if x is None else format(x, fmt)


def tables(report: dict) -> str:
    """The report as Markdown tables (the ``gpu_check.md`` file)."""
    c, env = report["check"], report["environment"]
    lines = [f"# GPU check: {c.get('device')}", "", f"`{c.get('command')}`", "",
             f"Budget {c.get('budget_s')} s, wall {c.get('wall_s')} s, dry run: {c.get('dry_run')}. Steps: "
             + ", ".join(f"{k} {v}" for k, v in c.get("steps", {}).items()), ""]  # fmt: skip
    if env.get("torch"):
        pk = env.get("packages", {})
        vers = ", ".join(f"{k} {v['version']}" for k, v in pk.items() if v.get("version"))
        lines += ["## Environment", "", f"torch {env['torch']} (CUDA {env.get('cuda_runtime')}), bf16 supported: "
                  f"{env.get('bf16_supported')}; {vers}", "",
                  f"Unmet requirements: {', '.join(env.get('requirements_unmet') or []) or 'none'}", "",
                  f"Attention: {env.get('attention')}", "",
                  "Matrix products measured: " + "; ".join(f"{m['dtype']} {m['tflops']:.1f} TFLOP/s" for m in env.get("matmul", []))
                  + f". Data-sheet peak: {(env.get('peak_datasheet') or {}).get('bf16_dense_tflops')} TFLOP/s dense bf16.", ""]  # fmt: skip
    tr = report["training"]
    if tr.get("runs"):
        base = next((r for r in tr["runs"] if r["run"] == "TRL defaults" and r.get("status") == "ok"), None)
        lines += ["## Training throughput", "", f"Model {tr.get('model')}; data {tr.get('data')}. Ratio ours / TRL "
                  f"defaults: {_num(tr.get('ratio'), '.2f')}x. MFU: against the data-sheet dense bf16 peak, and against "
                  "the matrix-product rate measured in the environment step.", "",
                  "| run | status | batch | tokens/s | x TRL defaults | padding | MFU (data sheet) | MFU (measured) | peak GiB | what |",
                  "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in tr["runs"]:
            ok = r.get("status") == "ok"
            ratio = r["tokens_per_s"] / base["tokens_per_s"] if ok and base else None
            lines.append(f"| {r['run']} | {r.get('status')} | {r.get('batch_per_device', '-')} | "
                         f"{_num(r.get('tokens_per_s'))} | {_num(ratio, '.2f')} | {_pct(r.get('padding_share'))} | "
                         f"{_pct(r.get('mfu'))} | {_pct(r.get('mfu_measured'))} | {_num(r.get('peak_gpu_gib'), '.2f')} | "
                         f"{r.get('reason') or r.get('error') or r.get('what')} |")  # fmt: skip
        lines.append("")
    dec = report["decoding"]
    if dec.get("fp32"):
        lines += ["## Batched decoding", "", f"{dec.get('setup')}", "", "| dtype | batch | rows/s | speed-up | identical |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for dtype in ("fp32", "bf16"):
            res = dec.get(dtype)
            if not res:
                continue
            lines.append(f"| {dtype} | 1 | {res['one_at_a_time']['rows_per_s']:.1f} | 1.0 | - |")
            for b in res["batched"]:
                lines.append(f"| {dtype} | {b['batch_size']} | {b['rows_per_s']:.1f} | {b['speedup']:.1f} | "
                             f"{b['identical']}/{res['single_rows']} |")  # fmt: skip
        lines.append("")
    sw = report["sweep"]
    if sw.get("rows"):
        lines += ["## Mini phase transition", "", f"Plan: {sw.get('plan')}. Same unseen rows in every run: "
                  f"{sw.get('same_unseen_rows')}; same steps: {sw.get('same_steps')}.", "",
                  "| I | S | N | steps | tokens | epochs | unseen acc [95% CI] | seen acc | loss | train s | eval rows/s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in sw["rows"]:
            lines.append(f"| {r['I']} | {r['S']} | {r['N']} | {r['steps']} | {r['tokens']:,} | {r['epochs']:.2f} | "
                         f"{_pct(r['accuracy'])} [{_pct(r['ci_low'])}, {_pct(r['ci_high'])}] | {_pct(r['seen_accuracy'])} | "
                         f"{_num(r['loss_last'], '.3f')} | {r['train_s']} | {_num(r['eval_rows_per_s'])} |")  # fmt: skip
        lines.append("")
    pe = report["peft"]
    if pe.get("runs"):
        lines += ["## LoRA / 8-bit", "", "| run | status | losses | trainable / total | optimizer | int8 layers |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for r in pe["runs"]:
            lines.append(f"| {r['run']} | {r.get('status')} | {r.get('losses', '-')} | {r.get('trainable_parameters', '-')} / "
                         f"{r.get('total_parameters', '-')} | {r.get('optimizer', r.get('reason') or r.get('error'))} | "
                         f"{r.get('int8_layers', '-')} |")  # fmt: skip
        lines.append("")
    gr = report["grpo"]
    if gr.get("sampling") or gr.get("run"):
        lines += ["## GRPO (reinforcement learning)", "", "| what | model | rate | detail |", "|---|---|---|---|"]
        for r in gr.get("sampling", []):
            lines.append(f"| rollouts (sampling) | {r['model']} | {_num(r['tokens_per_s'])} tokens/s | "
                         f"{r['completions']} completions, {r['stopped_at_eos']} ended by EOS |")  # fmt: skip
        if gr.get("rewards"):
            lines.append(f"| rewards | TaskReward (rewrite) | {_num(gr['rewards']['rewards_per_s'])} completions/s | "
                         f"{gr['rewards']['completions']:,} scored |")  # fmt: skip
        if gr.get("run"):
            r = gr["run"]
            lines.append(f"| tiny RL run | {r['recipe']} | {_num(r['tokens_per_s'])} tokens/s | {r['steps']} steps in "
                         f"{r['seconds']} s, mean reward {_num(r['first_reward'], '.3f')} -> "
                         f"{_num(r['final_reward'], '.3f')} |")  # fmt: skip
        lines.append("")
    for name in STEPS:
        sec = report[name]
        if sec.get("error") or sec.get("cut"):
            lines.append(f"- {name}: {sec.get('status')}: {sec.get('error') or sec.get('cut')}")
    return "\n".join(lines) + "\n"


STEP_FUNCTIONS = {"environment": step_environment, "training": step_training, "decoding": step_decoding,
                  "sweep": step_sweep, "peft": step_peft, "grpo": step_grpo}  # fmt: skip


def step_limit(floors: dict, steps: tuple[str, ...], left: float) -> float:
    """Seconds for ``steps[0]`` out of ``left`` for all of ``steps``: its floor plus its share of what the floors
    leave (``SHARES``); when ``left`` is under the floors, its floor's share of ``left``."""
    name, need = steps[0], sum(floors[s] for s in steps)
    if left <= need:
        return max(left, 0.0) * floors[name] / need
    return floors[name] + (left - need) * SHARES[name] / sum(SHARES[s] for s in steps)


def parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=None, help="wall-clock budget, imports included (default 8; 5 with --dry-run, which needs about 1: the "
                    "bound only stops a stuck or very slow run)")
    ap.add_argument("--out", default="out/gpu-check", help=f"folder for the {len(FILES)} result files (default: out/gpu-check)")
    ap.add_argument("--dry-run", action="store_true", help="every step at tiny sizes (about a minute on a CPU)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice; 1 in a dry run on a CPU, which keeps tiny runs "
                    "steady on a busy machine)")
    opts = ap.parse_args(argv)
    if opts.minutes is None:
        opts.minutes = 5.0 if opts.dry_run else 8.0
    if not 0 < opts.minutes <= 24 * 60:
        ap.error(f"--minutes must be above 0 and at most 1440, got {opts.minutes}")
    if opts.threads is not None and opts.threads < 1:
        ap.error(f"--threads must be at least 1, got {opts.threads}")
    out = Path(opts.out)
    if out.exists() and not out.is_dir():
        ap.error(f"--out {out} exists and is not a folder")
    return opts


def offline_environment(work: Path) -> None:
    """No network, caches in the scratch folder, no telemetry (set before any Hugging Face import)."""
    for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY",
                "HF_HUB_DISABLE_XET", "HF_HUB_DISABLE_PROGRESS_BARS"):  # fmt: skip
        os.environ[key] = "1"
    os.environ["HF_HOME"] = str(work / "hf")
    os.environ["HF_DATASETS_CACHE"] = str(work / "hf" / "datasets")
    os.environ["DATAGEN_HOME"] = str(work / "datagen-home")  # the local hub: nothing is published, but never the user's
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ.setdefault("MPLBACKEND", "Agg")


def summary_lines(report: dict) -> list[str]:
    c, tr, dec, sw, pe, gr = (report[k] for k in ("check", "training", "decoding", "sweep", "peft", "grpo"))
    lines = [f"GPU check on {c.get('device')}: " + ", ".join(f"{k} {v}" for k, v in c["steps"].items())]
    if tr.get("ratio") is not None:
        ours = next(r for r in tr["runs"] if r["run"] == "our recipe")
        lines.append(f"training: ours / TRL defaults = {tr['ratio']:.2f}x ({ours['tokens_per_s']:,.0f} tokens/s, MFU "
                     f"{_pct(ours.get('mfu'))} data sheet, {_pct(ours.get('mfu_measured'))} measured); best: "
                     f"{tr['best']['run']} {tr['best']['tokens_per_s']:,.0f} tokens/s")  # fmt: skip
    if dec.get("speedup") is not None:
        lines.append(f"decoding: {dec['rows_per_s']:,.1f} rows/s at batch {dec['best_batch_size']}, "
                     f"{dec['speedup']:.1f}x one at a time")  # fmt: skip
    if sw.get("rows"):
        lines.append("sweep (unseen accuracy by I): " + ", ".join(f"{r['I']}: {_pct(r['accuracy'])}" for r in sw["rows"]))
    if pe.get("runs"):
        lines.append("peft: " + ", ".join(f"{r['run']} {r.get('status')}" for r in pe["runs"]))
    if gr.get("run"):
        rollouts = ", ".join(f"{r['model']} {r['tokens_per_s']:,.0f}" for r in gr["sampling"])
        lines.append(f"grpo: rollout tokens/s {rollouts}; {gr['rewards']['rewards_per_s']:,.0f} rewards/s; tiny RL run "
                     f"{gr['run']['steps']} steps in {gr['run']['seconds']} s")  # fmt: skip
    lines.append(f"wall {c.get('wall_s')} s of {c.get('budget_s')} s; files: {', '.join(c.get('files', []))}")
    return lines


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    offline_environment(work)
    log = open(out / FILES["log"], "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in finally
    sys.stdout, sys.stderr = Tee(sys.__stdout__, log), Tee(sys.__stderr__, log)

    def terminate(signum, frame):
        raise Terminated(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    budget = opts.minutes * 60
    ctx = Context(out=out, work=work, dry_run=opts.dry_run, sizes=DRY if opts.dry_run else FULL, end=START + budget)
    ctx.report = {
        "check": {"command": " ".join(shlex.quote(a) for a in ["python", "benchmarks/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]),
                  "dry_run": opts.dry_run, "budget_s": budget, "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "files": [FILES["json"], FILES["log"], FILES["table"]], "steps": {s: "not run" for s in STEPS}},
        **{s: {"status": "not run"} for s in STEPS},
    }  # fmt: skip
    code = 0
    try:
        import torch

        ctx.gpu = torch.cuda.is_available()
        threads = opts.threads or (1 if opts.dry_run and not ctx.gpu else None)
        if threads:
            torch.set_num_threads(threads)
        ctx.device_name = torch.cuda.get_device_name(0) if ctx.gpu else f"CPU ({os.cpu_count()} cores)"
        ctx.report["check"]["device"] = ctx.device_name
        import datasets

        datasets.disable_progress_bars()
        say(f"gpu_check: {ctx.device_name}, budget {budget:.0f} s{' (dry run)' if opts.dry_run else ''}, out {out}")
        for i, name in enumerate(STEPS):
            limit = step_limit(ctx.sizes.floors, STEPS[i:], ctx.left() - 2.0)  # 2 s kept for the final writes
            if limit < 1.0:
                ctx.report[name].update(status="cut", cut="no time left in the budget")
                ctx.report["check"]["steps"][name] = "cut"
                continue
            run_step(ctx, name, STEP_FUNCTIONS[name], limit)
    except Terminated as exc:
        ctx.report["check"]["terminated"] = str(exc)
        code = 143
    finally:
        for name in STEPS:
            if ctx.report[name]["status"] == "running":
                ctx.report[name]["status"] = ctx.report["check"]["steps"][name] = "terminated"
        if (out / FILES["plot"]).exists() and ctx.report["sweep"].get("plot"):
            ctx.report["check"]["files"].append(FILES["plot"])
        try:
            ctx.save()
            for line in summary_lines(ctx.report):
                say(line)
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            log.close()
            shutil.rmtree(work, ignore_errors=True)
    failed = [s for s, v in ctx.report["check"]["steps"].items() if v == "failed"]
    return code or (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
