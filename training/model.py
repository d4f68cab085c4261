"""The model a recipe trains: GPT-2 built from a config (from scratch), or a pretrained model by name.

Pretrained models are found with the project's resolver (a folder, a local hub name or a Hub id) and loaded
with the recipe's ``ModelConfig``: dtype, attention kernel, and bitsandbytes 8-bit / 4-bit loading, where each
process places its quantized copy on its own GPU.
"""

from __future__ import annotations

from core.errors import ConfigError
from publishing.resolve import resolve


def build_gpt2(tokenizer, *, n_layer: int, n_embd: int, n_head: int, n_positions: int, dropout: float, seed: int):
    """A freshly initialised ``GPT2LMHeadModel`` sized for ``tokenizer`` (seeded, so runs repeat)."""
    # deferred: torch (the [train] extra) is only needed once a model runs
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config

    if n_embd % n_head:
        raise ConfigError("n_head", f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.bos_token_id = tokenizer.eos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def model_init_kwargs(model_args, training_args) -> dict:
    """Keyword arguments for ``AutoModelForCausalLM.from_pretrained`` from the recipe.

    With 8-bit / 4-bit loading each process puts its quantized copy on its own GPU (``device_map`` pinned to
    the local process index): bitsandbytes weights cannot be moved after loading, and ``"auto"`` would spread
    one copy over every GPU of a data-parallel job.
    """
    # deferred: torch (the [train] extra) is only needed once a model runs
    import torch
    from trl import get_quantization_config

    dtype = model_args.dtype or "auto"
    kwargs: dict = {"dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    if training_args.trust_remote_code:
        kwargs["trust_remote_code"] = True
    quantization = get_quantization_config(model_args)
    if quantization is not None:
        # deferred: accelerate (the [train] extra) is only needed once a model is loaded
        from accelerate import PartialState

        kwargs["quantization_config"] = quantization
        kwargs["device_map"] = {"": PartialState().local_process_index}
    if training_args.model_init_kwargs:
        kwargs.update(training_args.model_init_kwargs)
    return kwargs


def load_pretrained(model_args, training_args):
    """``(model, tokenizer, provenance)`` for ``model_name_or_path`` (folder, local hub name or Hub id)."""
    # deferred: transformers (the [train] extra) is only needed once a model is built or loaded
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve(model_args.model_name_or_path, _revision(model_args.model_revision), repo_type="model")
    revision = source.revision if source.kind == "hub" else None
    kwargs = model_init_kwargs(model_args, training_args)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source.load_target, revision=revision, trust_remote_code=training_args.trust_remote_code
        )
        model = AutoModelForCausalLM.from_pretrained(source.load_target, revision=revision, **kwargs)
    except OSError as exc:
        raise ConfigError("model_name_or_path", f"cannot load {model_args.model_name_or_path!r}: {exc}") from None
    return model, tokenizer, source.describe()


def _revision(revision: str | None) -> str | None:
    """ModelConfig defaults ``model_revision`` to ``main``: that means "latest", which the local hub calls None."""
    return None if revision in (None, "", "main") else revision


def context_length(model) -> int | None:
    """The longest sequence the model's position embeddings allow (None when the config does not say)."""
    cfg = model.config
    for attr in ("n_positions", "max_position_embeddings"):
        value = getattr(cfg, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
