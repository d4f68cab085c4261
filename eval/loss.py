"""Held-out loss: the completion-only loss and perplexity of a model on each split, with bootstrap intervals.

Generalization to unseen clusters of a real instruction pool is measured without a benchmark: the loss of the
reference completion of rows from clusters never in training (``test_unseen``) against rows of training clusters
(``test_seen``), the gap being what diversity should shrink.

Each row is tokenized as TRL's ``SFTTrainer`` tokenizes a prompt/completion row for training: the completion
ends with the tokenizer's end-of-sequence token (appended when missing), ``tokenizer(prompt)`` and
``tokenizer(prompt + completion)`` are tokenized, and the completion is what follows their common prefix. The
row's loss is the summed negative log-likelihood (natural log) of its completion tokens, each predicted from the
tokens before it; rows longer than the model's context keep their first tokens (the count is reported).

Per split: ``loss`` = summed NLL / completion tokens (the token-weighted mean, as the trainer's loss),
``perplexity`` = exp(loss), and percentile bootstrap intervals for both (rows resampled with replacement,
``resamples`` times, a fixed seed). ``gap`` = loss(test_unseen) - loss(test_seen), with an interval from
resampling both splits independently. With a ``cluster_id`` column, losses are also given per cluster.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from core.errors import ConfigError
from eval.decode import length_batches
from eval.loading import context_length

BOOTSTRAP_SEED = 1234
RESAMPLES = 1000


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def encode_rows(tokenizer, prompts: Sequence[str], completions: Sequence[str]) -> list[tuple[list[int], int]]:
    """``(token ids of prompt + completion + EOS, index of the first completion token)`` per row, as TRL trains."""
    eos = tokenizer.eos_token
    if eos is None:
        raise ConfigError("tokenizer", "has no end-of-sequence token: the completion's end cannot be scored")
    full = [c if c.endswith(eos) else c + eos for c in completions]
    prompt_ids = tokenizer(list(prompts))["input_ids"]
    both = tokenizer([p + c for p, c in zip(prompts, full)])["input_ids"]
    return [(list(ids), common_prefix(p, ids)) for p, ids in zip(prompt_ids, both)]


def row_losses(model, tokenizer, prompts: Sequence[str], completions: Sequence[str], *, batch_size: int = 32,
               max_length: int | None = None, progress: Callable[[int], object] | None = None) -> dict:
    """``{"nll": summed completion NLL per row, "tokens": completion tokens per row, "truncated": rows cut}``."""
    # deferred: torch (the [train] extra) is only needed once a model runs
    import torch

    encoded = encode_rows(tokenizer, prompts, completions)
    truncated = 0
    if max_length is not None:
        truncated = sum(len(ids) > max_length for ids, _ in encoded)
        encoded = [(ids[:max_length], start) for ids, start in encoded]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    nll = np.zeros(len(encoded), dtype=np.float64)
    tokens = np.zeros(len(encoded), dtype=np.int64)
    device = next(model.parameters()).device
    model.eval()
    for idx in length_batches([len(ids) for ids, _ in encoded], batch_size):
        width = max(len(encoded[i][0]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        scored = torch.zeros((len(idx), width), dtype=torch.bool)
        for row, i in enumerate(idx):
            seq, start = encoded[i]
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
            scored[row, max(start, 1) : len(seq)] = True  # a token is scored when a token precedes it
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            target = ids[:, 1:].to(device)
            picked = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
            keep = scored[:, 1:].to(device)
            sums = (picked * keep).sum(dim=1).double().cpu().numpy()
            counts = keep.sum(dim=1).cpu().numpy()
        nll[idx] = sums
        tokens[idx] = counts
        if progress is not None:
            progress(len(idx))
    return {"nll": nll, "tokens": tokens, "truncated": truncated}


def bootstrap_losses(nll: np.ndarray, tokens: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The token-weighted loss of ``resamples`` bootstrap resamples of the rows."""
    n = nll.size
    picks = rng.integers(0, n, size=(resamples, n))
    return nll[picks].sum(axis=1) / np.maximum(tokens[picks].sum(axis=1), 1)


def summarize_loss(nll: np.ndarray, tokens: np.ndarray, *, confidence: float = 0.95, resamples: int = RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> tuple[dict, np.ndarray]:
    """The split's entry and its bootstrap losses (for the gap)."""
    total = int(tokens.sum())
    if nll.size == 0 or total == 0:
        return {"n": int(nll.size), "tokens": total, "loss": None, "perplexity": None}, np.zeros(0)
    loss = float(nll.sum() / total)
    boot = bootstrap_losses(nll, tokens, resamples, np.random.default_rng(seed))
    low, high = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {
        "n": int(nll.size), "tokens": total, "loss": round(loss, 6), "loss_ci_low": round(float(low), 6),
        "loss_ci_high": round(float(high), 6), "perplexity": round(math.exp(loss), 6),
        "perplexity_ci_low": round(math.exp(low), 6), "perplexity_ci_high": round(math.exp(high), 6),
    }, boot


def by_cluster(nll: np.ndarray, tokens: np.ndarray, clusters: Sequence[int]) -> dict[str, dict]:
    """Loss per cluster id (keys as strings, in id order)."""
    out = {}
    arr = np.asarray(clusters)
    for c in np.unique(arr):
        sel = arr == c
        t = int(tokens[sel].sum())
        out[str(int(c))] = {"n": int(sel.sum()), "tokens": t, "loss": round(float(nll[sel].sum() / t), 6) if t else None}
    return out


def evaluate_loss(model, tokenizer, splits: Mapping, *, batch_size: int = 32, confidence: float = 0.95,
                  resamples: int = RESAMPLES, limit: int | None = None,
                  progress: Callable[[int], object] | None = None) -> dict:
    """Scores of ``splits`` (name -> ``datasets.Dataset`` with ``prompt`` and ``completion``): per split and the
    unseen - seen gap; ``limit`` scores a fixed random sample of at most that many rows per split."""
    if resamples < 1:
        raise ConfigError("resamples", f"must be >= 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ConfigError("confidence", f"must be between 0 and 1 (exclusive), got {confidence}")
    max_length = context_length(model)
    start = time.perf_counter()
    out, boots = {}, {}
    for i, (name, ds) in enumerate(splits.items()):
        if limit is not None and len(ds) > limit:
            ds = ds.shuffle(seed=BOOTSTRAP_SEED).select(range(limit))
        for col in ("prompt", "completion"):
            if col not in ds.column_names:
                raise ConfigError("dataset", f"split {name!r} has no {col!r} column (it has: {', '.join(ds.column_names)})")
        r = row_losses(model, tokenizer, ds["prompt"], ds["completion"], batch_size=batch_size,
                       max_length=max_length, progress=progress)
        out[name], boots[name] = summarize_loss(r["nll"], r["tokens"], confidence=confidence, resamples=resamples,
                                                seed=BOOTSTRAP_SEED + i)  # splits resampled independently
        out[name]["truncated_rows"] = r["truncated"]
        if "cluster_id" in ds.column_names:
            out[name]["by_cluster"] = by_cluster(r["nll"], r["tokens"], ds["cluster_id"])
    seconds = time.perf_counter() - start
    scores = {"splits": out, "seconds": round(seconds, 4),
              "settings": {"batch_size": batch_size, "confidence": confidence, "resamples": resamples,
                           "bootstrap_seed": BOOTSTRAP_SEED, "limit": limit, "max_length": max_length,
                           "loss": "completion-only mean token NLL (nats), EOS included, as TRL's SFTTrainer"}}
    if boots.get("test_unseen") is not None and boots.get("test_seen") is not None \
            and boots["test_unseen"].size and boots["test_seen"].size:
        diff = boots["test_unseen"] - boots["test_seen"]
        low, high = np.quantile(diff, [(1 - confidence) / 2, (1 + confidence) / 2])
        scores["gap"] = {"unseen_minus_seen": round(out["test_unseen"]["loss"] - out["test_seen"]["loss"], 6),
                         "ci_low": round(float(low), 6), "ci_high": round(float(high), 6)}
    return scores
