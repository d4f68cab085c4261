"""Batched greedy decoding with the KV cache and left padding (shared by the rewrite and code evaluations)."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def greedy_decode(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy completions of ``prompts`` (decoded, special tokens removed), in the order given.

    Prompts are sorted by length and decoded ``batch_size`` at a time, left-padded, each batch stopping as
    soon as every row has produced the end-of-sequence token.
    """
    import torch

    if not prompts:
        return []
    tokenizer.padding_side = "left"
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    out: list[str] = [""] * len(prompts)
    device = next(model.parameters()).device
    model.eval()
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        width = max(len(encoded[i]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            seq = encoded[i]
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        with torch.inference_mode():
            gen = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                use_cache=True,
                eos_token_id=eos,
                pad_token_id=pad,
            )
        new = gen[:, width:].tolist()
        for row, i in enumerate(idx):
            seq = new[row]
            if eos is not None and eos in seq:
                seq = seq[: seq.index(eos)]
            out[i] = tokenizer.decode(seq, skip_special_tokens=True)
        if progress is not None:
            progress(len(idx))
    return out
