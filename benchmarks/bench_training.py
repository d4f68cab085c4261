"""Training throughput of our from-scratch recipe against TRL's defaults: same model, same data, same process.

Both runs train the same freshly initialised GPT-2 (same seed) on the same generated rewrite data with the same
char-level tokenizer and TRL's ``SFTTrainer``:

- **TRL defaults**: ``SFTConfig(output_dir=...)`` and nothing else (batch 8, activation checkpointing on, bf16
  where the device has it, logging every 10 steps, TRL's per-step metric syncs). On a CPU it also gets
  ``use_cpu=True, bf16=False``: TRL's bf16 default fails on a CPU-only machine (or, with ``use_cpu``, runs
  ~30x slower), which would be no baseline at all.
- **our recipe**: ``training/recipes/gpt2-scratch-paper.yaml`` as parsed by ``training/sft.py`` (large batch,
  fused AdamW, no activation checkpointing, length bucketing, dataloader workers, rare logging, no NaN filter)
  and our deferred-metric trainer (:mod:`training.trainer`), which has no per-step host syncs.

Each run is timed from the end of its warm-up steps to the end of its last step (the GPU synchronised at both
ends). It reports training tokens/s (non-padding prompt + completion tokens), the padding share, peak GPU
memory, and model FLOPs utilisation (6 N + 12 L d S FLOP per token, N the matmul weights; the peak is the
dense bf16/fp16 tensor rate of the GPU from a small table, "unknown" for GPUs not in it, for fp32 runs and on
a CPU), then the ratio ours / defaults.

    python benchmarks/bench_training.py                    # CPU: tiny model and data, a few seconds
    python benchmarks/bench_training.py --size paper       # GPU: the paper's GPT-2 on paper-size rows
    python benchmarks/bench_training.py --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

RECIPE = Path(__file__).resolve().parents[1] / "training" / "recipes" / "gpt2-scratch-paper.yaml"

# Dense (no sparsity) bf16/fp16 tensor-core peaks, FLOP/s, from the vendors' data sheets. Order matters: the
# first pattern that matches the device name wins.
PEAK_BF16 = [
    (r"GH200|H200", 989e12),
    (r"H100.*NVL", 835e12),
    (r"H100.*PCIe", 756e12),
    (r"H100", 989e12),  # SXM / HBM3
    (r"B200", 2250e12),
    (r"A100", 312e12),
    (r"L40S", 362e12),
    (r"\bL4\b", 121e12),
    (r"\bA10\b", 125e12),
]

SIZES = {
    # the paper's GPT-2 on rows like the paper's: the generator preset paper_rewrite (rules of 20 -> 20
    # characters over a-z, inputs of 50: about 145 tokens per row)
    "paper": {"model": {"n_layer": 6, "n_embd": 256, "n_head": 4}, "preset": "paper_rewrite"},
    # a few seconds on a laptop CPU: the preset tiny (inputs of 24 over a-j, short rules)
    "tiny": {"model": {"n_layer": 2, "n_embd": 64, "n_head": 2}, "preset": "tiny"},
}


def peak_flops(device_name: str, precision: str) -> float | None:
    if precision == "fp32":
        return None
    for pattern, peak in PEAK_BF16:
        if re.search(pattern, device_name):
            return peak
    return None


def preset_folder(preset: str, rows: int, parent: Path, *, instructions: int | None = None,
                  unseen: tuple[int, int] = (4, 4), seen: int = 4, name: str | None = None) -> Path:
    """Generate ``rows`` training rows of the generator preset ``preset`` (its row lengths, alphabet and prompt
    format; no download) with ``instructions`` distinct rules (default ``min(1000, rows)``) and small test
    splits (``unseen`` = (instructions, examples), ``seen`` = examples) into a folder under ``parent``."""
    import yaml

    from generators import config_from_dict
    from generators.build import generate
    from generators.cli import resolve_config_path

    instructions = instructions or min(1000, rows)
    cfg = yaml.safe_load(resolve_config_path(preset).read_text(encoding="utf-8"))
    cfg.pop("examples_per_instruction", None)
    cfg.update({
        "name": name or f"bench-{preset}", "instructions": instructions, "budget": max(rows, instructions),
        "splits": {"test_unseen": {"instructions": unseen[0], "examples": unseen[1]}, "test_seen": {"examples": seen}},
    })  # fmt: skip
    folder = parent / f"{cfg['name']}-{instructions}-{rows}-{unseen[0]}-{unseen[1]}-{seen}"  # named by content
    if not folder.exists():
        generate(config_from_dict(cfg), folder, progress=False)
    return folder


def preset_dataset(preset: str, rows: int, parent: Path, **kwargs):
    """Every split (a DatasetDict) of :func:`preset_folder`'s dataset."""
    from publishing.loading import load_splits

    splits = load_splits(str(preset_folder(preset, rows, parent, **kwargs)))
    return splits


def make_dataset(size: str, rows: int, parent: Path):
    """The rows of ``SIZES[size]`` (its generator preset), every split."""
    return preset_dataset(SIZES[size]["preset"], rows, parent, name=f"bench-{size}")


def flop_per_token(config, seq_len: float) -> float:
    """Training FLOPs per token of a GPT-2: 6 N (N the matmul weights: blocks + LM head) + 12 L d S (attention)."""
    matmul = 12 * config.n_layer * config.n_embd**2 + config.vocab_size * config.n_embd
    return 6 * matmul + 12 * config.n_layer * config.n_embd * seq_len


class _Counting:
    """Mixin: counts the tokens and rows each timed step trains on (device tensors: no host sync).

    Padded batches count the attention mask; padding-free batches (one flattened row with ``position_ids``)
    count every token, and one row per sequence start (position 0)."""

    bench_warmup = 0

    def training_step(self, model, inputs, *args, **kwargs):
        if self.state.global_step >= self.bench_warmup:
            ids = inputs["input_ids"]
            mask = inputs.get("attention_mask")
            if mask is not None:
                real, rows = mask.sum(), ids.shape[0]
            elif inputs.get("position_ids") is not None:
                real, rows = ids.numel(), (inputs["position_ids"] == 0).sum()
            else:
                real, rows = ids.numel(), ids.shape[0]
            self.bench_tokens = getattr(self, "bench_tokens", 0) + real
            self.bench_padded = getattr(self, "bench_padded", 0) + ids.numel()
            self.bench_rows = getattr(self, "bench_rows", 0) + rows
        return super().training_step(model, inputs, *args, **kwargs)


def _clock(warmup: int, seconds: float | None = None):
    """A callback timing the steps after ``warmup`` (GPU synchronised at both ends); with ``seconds`` it stops
    training once that much time has been timed (so a run's length is set in time, not in steps)."""
    import torch
    from transformers import TrainerCallback

    def now() -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()

    class Clock(TrainerCallback):
        start = end = None
        steps = 0
        warmup_s = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.began = now()
            if warmup == 0:
                self.start, self.warmup_s = self.began, 0.0

        def on_step_end(self, args, state, control, **kwargs):
            step = state.global_step
            if step == warmup and self.start is None:
                self.start = now()
                self.warmup_s = self.start - self.began
            elif self.start is not None and self.end is None:
                if step >= state.max_steps or (seconds is not None and time.perf_counter() - self.start >= seconds):
                    self.end = now()
                    self.steps = step - warmup
                    control.should_training_stop = True

    return Clock()


def counting_trainer(trainer_cls, args, model, tokenizer, train, warmup: int, seconds: float | None = None):
    """A ``trainer_cls`` that counts the tokens of the steps after ``warmup`` and times them (``trainer.bench_clock``)."""
    cls = type(f"Counting{trainer_cls.__name__}", (_Counting, trainer_cls), {"bench_warmup": warmup})
    clock = _clock(warmup, seconds)
    trainer = cls(model=model, args=args, train_dataset=train, processing_class=tokenizer, callbacks=[clock])
    trainer.bench_clock = clock
    return trainer


def measure(name: str, trainer, device_name: str, measured_peak: float | None = None) -> dict:
    """Train ``trainer`` (from :func:`counting_trainer`) and return its throughput.

    MFU is against the data-sheet peak of ``device_name`` (bf16/fp16 runs on a GPU in ``PEAK_BF16``), and, with
    ``measured_peak`` (FLOP/s of a large matrix product in the run's precision, measured on this device),
    against that too."""
    import torch

    from training.hardware import precision_name

    args, clock = trainer.args, trainer.bench_clock
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    if clock.end is None:
        raise RuntimeError(f"{name}: training ended before the timed steps (max_steps {args.max_steps})")
    seconds = clock.end - clock.start
    tokens = int(trainer.bench_tokens)
    rows = int(trainer.bench_rows)
    flop = flop_per_token(trainer.model.config, tokens / rows) * tokens
    precision = precision_name(args)
    peak = peak_flops(device_name, precision) if torch.cuda.is_available() else None
    achieved = flop / seconds
    return {
        "run": name,
        "batch_per_device": args.per_device_train_batch_size,
        "timed_steps": clock.steps,
        "warmup_steps": trainer.bench_warmup,
        "warmup_s": clock.warmup_s,
        "seconds": seconds,
        "tokens": tokens,
        "tokens_per_s": tokens / seconds,
        "rows_per_s": rows / seconds,
        "padding_share": 1 - tokens / int(trainer.bench_padded),
        "precision": precision,
        "attention": trainer.model.config._attn_implementation,
        "activation_checkpointing": bool(args.gradient_checkpointing),
        "optimizer": str(getattr(args.optim, "value", args.optim)),
        "tflops": achieved / 1e12,
        "mfu": achieved / peak if peak else None,
        "mfu_measured": achieved / measured_peak if measured_peak else None,
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
    }


def run(name, trainer_cls, args, model, tokenizer, train, warmup: int, device_name: str) -> dict:
    """Time ``warmup`` untimed steps, then the rest of ``args.max_steps``, of a fresh ``trainer_cls``."""
    return measure(name, counting_trainer(trainer_cls, args, model, tokenizer, train, warmup), device_name)


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default=None, help="default: paper on a GPU, tiny on a CPU")
    ap.add_argument("--recipe", default=str(RECIPE), help="the recipe to measure (default: gpt2-scratch-paper)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per run (default: 100 GPU, 6 CPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 10 GPU, 2 CPU)")
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    opts = ap.parse_args()
    if opts.threads:
        torch.set_num_threads(opts.threads)

    import trl

    from training.model import build_gpt2
    from training.sft import parse_recipe
    from training.tokenizer import build_char_tokenizer, dataset_charset
    from training.trainer import SFTTrainer

    gpu = torch.cuda.is_available()
    size = opts.size or ("paper" if gpu else "tiny")
    steps = opts.steps or (100 if gpu else 6)
    warmup = opts.warmup if opts.warmup is not None else (10 if gpu else 2)
    device = torch.cuda.get_device_name() if gpu else f"CPU ({os.cpu_count()} cores)"

    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        overrides = [
            "--output_dir", f"{tmp}/ours", "--max_steps", str(warmup + steps), "--eval_strategy", "no",
            "--save_strategy", "no", "--load_best_model_at_end", "false", "--report_to", "none",
            "--disable_tqdm", "true",
            *[f"--{k}={v}" for k, v in SIZES[size]["model"].items()],
        ]  # fmt: skip
        if not gpu:  # batches are made in the training process: on a CPU, workers would take its cores
            overrides += ["--dataloader_num_workers", "0", "--dataloader_persistent_workers", "false"]
        recipe = parse_recipe(["--config", opts.recipe, *overrides])
        ours_args, scratch = recipe.training, recipe.scratch
        rows = ours_args.per_device_train_batch_size * (warmup + steps) + 8
        splits = make_dataset(size, rows, Path(tmp))
        train = splits["train"].select_columns(["prompt", "completion"])
        tokenizer = build_char_tokenizer(dataset_charset(splits), model_max_length=ours_args.max_length)

        def fresh_model():
            return build_gpt2(tokenizer, n_layer=scratch.n_layer, n_embd=scratch.n_embd, n_head=scratch.n_head,
                              n_positions=ours_args.max_length, dropout=scratch.dropout, seed=0)  # fmt: skip

        defaults = trl.SFTConfig(
            output_dir=f"{tmp}/defaults", max_steps=warmup + steps, save_strategy="no", report_to="none",
            disable_tqdm=True, **({} if gpu else {"use_cpu": True, "bf16": False}),
        )  # fmt: skip
        results = [
            run("TRL defaults", trl.SFTTrainer, defaults, fresh_model(), tokenizer, train, warmup, device),
            run("our recipe", SFTTrainer, ours_args, fresh_model(), tokenizer, train, warmup, device),
        ]

    base, ours = results
    ratio = ours["tokens_per_s"] / base["tokens_per_s"]
    n_params = sum(p.numel() for p in fresh_model().parameters())
    print(f"\ndevice: {device}; model: GPT-2 {scratch.n_layer} layers x {scratch.n_embd} ({n_params / 1e6:.2f}M "
          f"parameters); data: '{size}' rows ({len(train)} rows); recipe: {Path(opts.recipe).name}")  # fmt: skip
    header = f"{'run':<14} {'batch':>6} {'tokens/s':>12} {'rows/s':>10} {'padding':>8} {'TFLOP/s':>8} {'MFU':>8}  setup"
    print(header)
    for r in results:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "unknown"
        setup = f"{r['precision']}, {r['optimizer']}, checkpointing {'on' if r['activation_checkpointing'] else 'off'}"
        if r["peak_gpu_gib"] is not None:
            setup += f", peak {r['peak_gpu_gib']:.1f} GiB"
        print(f"{r['run']:<14} {r['batch_per_device']:>6} {r['tokens_per_s']:>12,.0f} {r['rows_per_s']:>10,.1f} "
              f"{100 * r['padding_share']:>7.1f}% {r['tflops']:>8.3f} {mfu:>8}  {setup}")  # fmt: skip
    if opts.out:
        Path(opts.out).write_text(json.dumps({"device": device, "size": size, "ratio": ratio, "runs": results}, indent=2))
    print(f"our recipe trains {ratio:.1f}x the tokens/s of TRL's defaults on {device} "
          f"({ours['tokens_per_s']:,.0f} vs {base['tokens_per_s']:,.0f} tokens/s)")  # fmt: skip


if __name__ == "__main__":
    main()
