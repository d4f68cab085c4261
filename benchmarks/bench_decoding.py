"""Batched greedy decoding against one-at-a-time decoding, in the same process, on the same prompts.

A small random GPT-2 (the shape is an option; the paper's is 6 layers x 256) with a char-level tokenizer
decodes the unseen-instruction prompts of the shipped ``tiny`` preset on the CPU, first one prompt at a time
(``batch_size=1``, the baseline), then in batches through the same :func:`eval.decode.greedy_decode`. Both
runs must give the same completions; the script prints examples/s of both and the speed-up ratio.

    python benchmarks/bench_decoding.py [--rows 64] [--batch-size 64] [--layers 6] [--width 256]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def char_tokenizer(chars: str):
    """A char-level tokenizer like the ones training saves (WordLevel + Split("") + Fuse; pad/eos/unk)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<pad>", "<eos>", "<unk>", *sorted(set(chars))])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(""), "isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def prompts_and_completions(rows: int) -> tuple[list[str], list[str]]:
    from generators.build import generate
    from generators.cli import resolve_config_path
    from generators.config import load_config

    cfg = load_config(resolve_config_path("tiny"), [f"splits.test_unseen.examples={rows}"])
    with tempfile.TemporaryDirectory() as tmp:
        generate(cfg, Path(tmp) / "data", progress=False)
        import datasets

        ds = datasets.load_dataset(str(Path(tmp) / "data"), split="test_unseen")
        return list(ds["prompt"][:rows]), list(ds["completion"][:rows])


def timed(fn) -> tuple[object, float]:
    import torch

    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def compare(model, tok, prompts: list[str], max_new: int, batch_sizes: list[int], single_rows: int | None = None,
            until: float | None = None) -> dict:
    """Rows/s of :func:`eval.decode.greedy_decode` one prompt at a time (on the first ``single_rows`` prompts,
    default all) and in batches of each size (on all prompts), the speed-ups, and how many of the one-at-a-time
    completions each batched run reproduced. Batch sizes not started by ``until`` (a ``time.monotonic()``
    value) are left out."""
    from eval.decode import greedy_decode

    greedy_decode(model, tok, prompts[:4], max_new, batch_size=4)  # warm-up (allocations, kernels)
    single = prompts[: single_rows or len(prompts)]
    one, t_one = timed(lambda: greedy_decode(model, tok, single, max_new, batch_size=1))
    out = {"rows": len(prompts), "single_rows": len(single), "max_new_tokens": max_new,
           "one_at_a_time": {"seconds": t_one, "rows_per_s": len(single) / t_one}, "batched": []}  # fmt: skip
    for size in batch_sizes:
        if until is not None and time.monotonic() > until:
            break
        many, t_many = timed(lambda size=size: greedy_decode(model, tok, prompts, max_new, batch_size=size))
        rate = len(prompts) / t_many
        out["batched"].append({
            "batch_size": size, "seconds": t_many, "rows_per_s": rate, "speedup": rate / out["one_at_a_time"]["rows_per_s"],
            "identical": sum(a == b for a, b in zip(one, many[: len(single)], strict=True)),
        })  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=64, help="prompts to decode")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    if args.threads:
        torch.set_num_threads(args.threads)
    prompts, completions = prompts_and_completions(args.rows)
    tok = char_tokenizer("".join(prompts) + "".join(completions))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=args.width, n_layer=args.layers, n_head=4,
                   bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    ).eval()
    max_new = max(len(c) for c in completions) + 1  # char-level: one token per character, plus EOS
    res = compare(model, tok, prompts, max_new, [args.batch_size])
    one, many = res["one_at_a_time"], res["batched"][0]
    n = len(prompts)
    print(f"GPT-2 {args.layers}x{args.width}, {n} prompts, max_new_tokens={max_new}, CPU threads={torch.get_num_threads()}")
    print(f"one at a time : {one['rows_per_s']:8.1f} examples/s ({one['seconds']:.2f}s)")
    print(f"batched ({args.batch_size:>3}) : {many['rows_per_s']:8.1f} examples/s ({many['seconds']:.2f}s)")
    print(f"speed-up ratio (batched / one at a time): {many['speedup']:.1f}x; identical completions: {many['identical']}/{n}")


if __name__ == "__main__":
    main()
