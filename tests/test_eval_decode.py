"""Batched greedy decoding: same answers as one at a time, order kept, EOS stops, known-answer model."""

from __future__ import annotations

import pytest
from evalkit import char_tokenizer, copy_model, tiny_gpt2

from core.errors import ConfigError
from eval.decode import encode_prompts, greedy_decode, length_batches

PROMPTS = [
    "ab -> c\nabcabcab\n",
    "j -> i\nj\n",
    "abc -> \ncccbbbaaaabc\n",
    "e -> ff\nhgfedcbahgfedcba\n",
    "h -> g\nabcdefghij\n",
    "ba -> a\nab\n",
    "c -> d\ncccc\n",
]


@pytest.fixture(scope="module")
def tok():
    return char_tokenizer()


def test_batched_equals_one_at_a_time_on_a_random_gpt2(tok):
    model = tiny_gpt2(tok, seed=3)
    one = greedy_decode(model, tok, PROMPTS, max_new_tokens=12, batch_size=1)
    assert len(set(one)) > 3, "the random model should give varied outputs, else the test proves little"
    for batch_size in (2, 3, 64):
        assert greedy_decode(model, tok, PROMPTS, max_new_tokens=12, batch_size=batch_size) == one


def test_left_padding_matches_unpadded_forward(tok):
    """One greedy step by hand (no padding) agrees with the first token of the padded batch."""
    import torch

    model = tiny_gpt2(tok, seed=5)
    batched = greedy_decode(model, tok, PROMPTS, max_new_tokens=1, batch_size=len(PROMPTS))
    for prompt, got in zip(PROMPTS, batched, strict=True):
        ids = torch.tensor([tok(prompt)["input_ids"]])
        with torch.inference_mode():
            best = int(model(input_ids=ids).logits[0, -1].argmax())
        expected = "" if best == tok.eos_token_id else tok.decode([best], skip_special_tokens=True)
        assert got == expected


def test_copy_model_output_and_eos_stop(tok):
    model = copy_model(tok)
    got = greedy_decode(model, tok, PROMPTS, max_new_tokens=40, batch_size=3)
    assert got == [p.split("\n")[1] for p in PROMPTS]  # the input, then EOS (not 40 tokens)
    short = greedy_decode(model, tok, PROMPTS, max_new_tokens=2, batch_size=3)
    assert short == [p.split("\n")[1][:2] for p in PROMPTS]


def test_progress_order_and_tokenizer_untouched(tok):
    model = copy_model(tok)
    side = tok.padding_side
    seen = []
    got = greedy_decode(model, tok, PROMPTS, max_new_tokens=20, batch_size=2, progress=seen.append)
    assert sum(seen) == len(PROMPTS) and len(seen) == 4
    assert got[1] == "j" and got[3] == "hgfedcbahgfedcba"
    assert tok.padding_side == side
    assert greedy_decode(model, tok, [], max_new_tokens=5) == []


def test_length_batches_sort_longest_first(tok):
    lengths = [len(ids) for ids in encode_prompts(tok, PROMPTS)]
    batches = length_batches(lengths, 3)
    assert sorted(i for b in batches for i in b) == list(range(len(PROMPTS)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat, reverse=True)
    assert [len(b) for b in batches] == [3, 3, 1]


def test_bad_arguments(tok):
    model = copy_model(tok)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        greedy_decode(model, tok, PROMPTS, max_new_tokens=0)
    with pytest.raises(ConfigError, match="batch_size"):
        greedy_decode(model, tok, PROMPTS, max_new_tokens=3, batch_size=0)
