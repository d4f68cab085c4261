"""Greedy code generation for a benchmark's problems with a causal language model (batched, left-padded)."""

from __future__ import annotations

from collections.abc import Callable

from tqdm.auto import tqdm

from eval.code.data import Problems
from eval.code.prompts import DEFAULT_TEMPLATE, build_prompt, solution
from eval.decode import greedy_decode
from eval.loading import load_model as load_resolved_model

Decode = Callable[..., list[str]]


def load_model(source: str, revision: str | None = None, dtype: str = "auto", device: str | None = None):
    """(model, tokenizer, provenance) for a folder, a local-hub name or a Hub id: :func:`eval.loading.load_model`."""
    loaded = load_resolved_model(source, revision, device, dtype)
    return loaded.model, loaded.tokenizer, loaded.describe()


def generate_samples(
    model,
    tokenizer,
    problems: Problems,
    style: str = "base",
    template: str = DEFAULT_TEMPLATE,
    max_new_tokens: int = 768,
    batch_size: int = 16,
    decode: Decode | None = None,
    progress: bool = True,
) -> list[dict]:
    """One greedy sample per problem: ``{task_id, solution, raw_solution, prompt}``, in the problems' order.

    ``decode`` defaults to :func:`eval.decode.greedy_decode` (same signature); stop strings are applied to its
    output afterwards, as evalplus's own decoders do.
    """
    decode = decode or greedy_decode
    records = list(problems.records.values())
    prompts = [build_prompt(r["prompt"], style, template, tokenizer) for r in records]
    bar = tqdm(total=len(prompts), unit="problems", disable=not progress, desc=f"generate {problems.benchmark}")
    try:
        completions = decode(model, tokenizer, prompts, max_new_tokens, batch_size=batch_size, progress=bar.update)
    finally:
        bar.close()
    out = []
    for r, prompt, completion in zip(records, prompts, completions, strict=True):
        raw, clean = solution(r, prompt, completion, problems.benchmark, style)
        out.append({"task_id": r["task_id"], "solution": clean, "raw_solution": raw, "prompt": prompt})
    return out
