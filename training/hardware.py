"""Device and precision choices, and the checks that need to know the hardware.

- :func:`auto_defaults` gives the defaults a recipe gets when it does not set them: bf16 on a GPU that supports
  it, fp32 elsewhere (TRL's ``SFTConfig`` turns bf16 on everywhere, which fails on a CPU-only machine or, with
  ``use_cpu``, trains about 30x slower there), and ``use_cpu`` when no accelerator is present.
- :func:`check_quantization` refuses 8-bit / 4-bit *loading* without bitsandbytes and a CUDA GPU, with a
  message that says what to do instead; the 8-bit optimizer (``optim: adamw_bnb_8bit``) needs only bitsandbytes.
- :func:`check_attention` refuses padding-free batches without a varlen (flash) attention kernel.
- :func:`describe` names the hardware for the model card and the summary line.
"""

from __future__ import annotations

import importlib.util
import os

from core.errors import ConfigError

FLASH_ATTENTION = ("flash_attention_2", "flash_attention_3", "flash_attention_4")


def accelerator_available() -> bool:
    # deferred: torch (the [train] extra) is only needed once a model runs
    import torch

    if torch.cuda.is_available():
        return True
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        return True
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def bf16_supported() -> bool:
    # deferred: torch (the [train] extra) is only needed once a model runs
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def auto_defaults() -> dict:
    """Parser defaults for fields a recipe leaves unset: ``bf16`` and ``use_cpu``."""
    return {"bf16": bf16_supported(), "use_cpu": not accelerator_available()}


def precision_name(args) -> str:
    """``bf16 mixed`` / ``fp16 mixed`` / ``fp32`` for a ``TrainingArguments``."""
    if getattr(args, "bf16", False):
        return "bf16 mixed"
    if getattr(args, "fp16", False):
        return "fp16 mixed"
    return "fp32"


def check_quantization(model_args) -> None:
    """Raise ConfigError when the recipe asks for 8/4-bit loading on a machine that cannot do it."""
    field = "load_in_8bit" if model_args.load_in_8bit else "load_in_4bit" if model_args.load_in_4bit else None
    if field is None:
        return
    if not model_args.model_name_or_path:
        raise ConfigError(field, "quantized loading applies to a pretrained model (set model_name_or_path)")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(field, "needs bitsandbytes (pip install bitsandbytes), which is not installed")
    # deferred: torch (the [train] extra) is only needed once a model runs
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            field,
            "quantized loading needs a CUDA GPU and this machine has none. Run on a GPU, or pass "
            f"--{field} false to train the model unquantized (the 8-bit optimizer, optim: adamw_bnb_8bit, "
            "still works without a GPU)",
        )


def check_optimizer(training_args) -> None:
    """bitsandbytes optimizers need the package; say so by name instead of failing inside the Trainer."""
    optim = str(getattr(training_args.optim, "value", training_args.optim))
    if "bnb" in optim and importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError("optim", f"{optim} needs bitsandbytes (pip install bitsandbytes), which is not installed")


def check_attention(training_args, model_args) -> None:
    """Padding-free batches are one flattened sequence: only varlen (flash) kernels keep them block-diagonal.

    With ``sdpa`` or ``eager``, transformers would build a full (tokens x tokens) mask over the whole flattened
    batch, which is quadratic in the batch size: use length bucketing
    (``train_sampling_strategy: group_by_length``) there instead.
    """
    padding_free = getattr(training_args, "padding_free", False) or (  # SFTConfig's (GRPOConfig has neither)
        getattr(training_args, "packing", False) and training_args.packing_strategy in ("bfd", "bfd_split")
    )
    if padding_free and (model_args.attn_implementation or "sdpa") not in FLASH_ATTENTION:
        what = "padding_free" if training_args.padding_free else "packing"
        raise ConfigError(
            what,
            "padding-free batches need attn_implementation: flash_attention_2 (or 3) with the flash-attn package; "
            f"with {model_args.attn_implementation or 'sdpa'} every batch would get a quadratic mask. Use "
            "train_sampling_strategy: group_by_length (length bucketing) instead",
        )


def describe(world_size: int = 1) -> str:
    """``2 x NVIDIA H100 80GB HBM3`` or ``CPU (16 cores)``: what this process trains on, times the world size."""
    # deferred: torch (the [train] extra) is only needed once a model runs
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(torch.cuda.current_device())
        return f"{world_size} x {name}"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return f"{world_size} x Apple MPS"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    procs = f"{world_size} processes on " if world_size > 1 else ""
    return f"{procs}CPU ({cores} cores)"
