"""Batched greedy decoding with the KV cache and left padding (shared by the rewrite and code evaluations).

Prompts are tokenized the way TRL's ``SFTTrainer`` tokenizes them in training (``tokenizer(prompt)``, special
tokens as the tokenizer adds them), sorted by length so each batch holds prompts of similar length (little
padding), left-padded with an attention mask, and decoded with ``model.generate`` (greedy, ``use_cache=True``).
``generate`` derives position ids from the attention mask, so a left-padded row gets the same positions, hence
the same tokens, as when it is decoded alone; each batch stops as soon as every row has produced the
end-of-sequence token (or after ``max_new_tokens``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.errors import ConfigError


def encode_prompts(tokenizer, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of each prompt, as the trainer tokenized them (``tokenizer(prompt)``)."""
    return [list(ids) for ids in tokenizer(list(prompts))["input_ids"]]


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of at most ``batch_size``, longest prompts first (stable within a length).

    Longest first: a batch too large for the device fails at once rather than at the end of a long run.
    """
    if batch_size < 1:
        raise ConfigError("batch_size", f"must be at least 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[b : b + batch_size] for b in range(0, len(order), batch_size)]


def greedy_decode(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy completions of ``prompts`` (decoded, special tokens removed), in the order given.

    ``progress`` is called with the number of prompts finished after each batch (e.g. ``tqdm.update``).
    The tokenizer is not modified (padding is done here, on the left).
    """
    # deferred: torch (the [train] extra) is only needed once a model runs
    import torch
    from transformers import GenerationConfig

    if max_new_tokens < 1:
        raise ConfigError("max_new_tokens", f"must be at least 1, got {max_new_tokens}")
    if not prompts:
        return []
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ConfigError("tokenizer", "has no end-of-sequence token: greedy decoding could not stop")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    # An explicit config, so that sampling settings saved with the model (temperature, top_p, ...) neither
    # apply nor warn: this is plain greedy search.
    gen_config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        use_cache=True,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    encoded = encode_prompts(tokenizer, prompts)
    out: list[str] = [""] * len(prompts)
    device = next(model.parameters()).device
    model.eval()
    for idx in length_batches([len(e) for e in encoded], batch_size):
        width = max(len(encoded[i]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            seq = encoded[i]
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        with torch.inference_mode():
            gen = model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=gen_config
            )
        new = [seq[: seq.index(eos)] if eos in seq else seq for seq in gen[:, width:].tolist()]
        for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
            out[i] = text
        if progress is not None:
            progress(len(idx))
    return out
