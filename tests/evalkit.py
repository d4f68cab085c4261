"""Tiny hand-built models and tokenizers for the evaluation tests (built from configs, never downloaded).

- :func:`char_tokenizer`: a char-level ``PreTrainedTokenizerFast`` like the ones training saves (WordLevel +
  ``Split("", "isolated")`` + ``Fuse`` decoder, specials pad/eos/unk).
- :func:`tiny_gpt2`: a randomly initialised 2-layer GPT-2.
- :class:`CopyModel`: a known-answer causal LM: for a prompt ``"<rule>\\n<input>\\n"`` its greedy output is
  ``<input>`` followed by EOS. It goes through ``model.generate`` with the KV cache like any other model: the
  token history lives in the cache (as one-dimensional "keys"), so it sees the whole sequence at each step.
  :func:`copy_model` ``(after=..., stops=False)`` makes one that, like a real model, does not stop at the answer:
  it writes ``after`` behind the input, then EOS, or (``stops=False``) repeats the last token of ``after`` until
  the token limit.
"""

from __future__ import annotations

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GenerationMixin,
    GPT2Config,
    GPT2LMHeadModel,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.cache_utils import DynamicCache
from transformers.modeling_outputs import CausalLMOutputWithPast

SPECIALS = ["<pad>", "<eos>", "<unk>"]
DEFAULT_CHARS = "abcdefghij -> \n"


def char_tokenizer(chars: str = DEFAULT_CHARS) -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for c in sorted(set(chars)):
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(""), "isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def tiny_gpt2(tokenizer, seed: int = 0, n_positions: int = 128, init_std: float = 0.3) -> GPT2LMHeadModel:
    """Random weights; a large ``init_std`` makes the greedy outputs varied (not one repeated token)."""
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=32,
        n_layer=2,
        n_head=2,
        initializer_range=init_std,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(cfg).eval()


class CopyConfig(PretrainedConfig):
    model_type = "evalkit-copy"

    def __init__(self, vocab_size: int = 32, newline_id: int = 3, eos_token_id: int = 1, pad_token_id: int = 0,
                 after: list[int] | None = None, stops: bool = True, **kw):
        self.vocab_size = vocab_size
        self.newline_id = newline_id
        self.after = list(after or [])  # tokens written behind the copied input
        self.stops = stops  # False: no EOS, the last token of ``after`` again and again
        self.num_hidden_layers = 1
        super().__init__(eos_token_id=eos_token_id, pad_token_id=pad_token_id, **kw)


class CopyModel(PreTrainedModel, GenerationMixin):
    """Greedy output = the text between the first two newlines of the (unpadded) prompt, then EOS."""

    config_class = CopyConfig
    main_input_name = "input_ids"
    _supports_cache_class = True

    def __init__(self, config: CopyConfig):
        super().__init__(config)
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # a device and dtype to report
        self.post_init()

    def _init_weights(self, module) -> None:  # nothing to initialise
        pass

    def forward(self, input_ids=None, cache=None, attention_mask=None, use_cache=None, **kwargs):
        cache = cache if cache is not None else DynamicCache(config=self.config)
        new = input_ids.to(torch.float32)[:, None, :, None]  # (batch, heads=1, seq, dim=1)
        history, _ = cache.update(new, new, 0)
        tokens = history[:, 0, :, 0].long()
        if attention_mask is not None:  # the full mask (prompt + generated so far), left-padded
            tokens = torch.where(attention_mask[:, -tokens.shape[1] :].bool(), tokens, -1)
        logits = torch.full((input_ids.shape[0], input_ids.shape[1], self.config.vocab_size), -1e4)
        for row, seq in enumerate(tokens.tolist()):
            logits[row, -1, self._next(seq)] = 1e4
        return CausalLMOutputWithPast(logits=logits, cache=cache)

    def _next(self, seq: list[int]) -> int:
        seq = [t for t in seq if t >= 0]
        nl = [i for i, t in enumerate(seq) if t == self.config.newline_id]
        if len(nl) < 2:
            return self.config.eos_token_id
        source = seq[nl[0] + 1 : nl[1]] + self.config.after
        done = len(seq) - nl[1] - 1
        if done < len(source):
            return source[done]
        return self.config.eos_token_id if self.config.stops or not source else source[-1]


AutoConfig.register(CopyConfig.model_type, CopyConfig, exist_ok=True)
AutoModelForCausalLM.register(CopyConfig, CopyModel, exist_ok=True)


def copy_model(tokenizer, after: str = "", stops: bool = True) -> CopyModel:
    """The copy model; ``after``: text it writes behind the input; ``stops=False``: it never writes EOS."""
    cfg = CopyConfig(
        vocab_size=len(tokenizer),
        newline_id=tokenizer.convert_tokens_to_ids("\n"),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        after=tokenizer(after, add_special_tokens=False)["input_ids"],
        stops=stops,
    )
    return CopyModel(cfg).eval()


def save_model(model, tokenizer, folder) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
