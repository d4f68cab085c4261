"""Char-level tokenizer for the synthetic tasks, saved as a standard ``PreTrainedTokenizerFast``.

One token per character, plus three specials (``<pad>`` 0, ``<eos>`` 1, ``<unk>`` 2). The vocabulary is every
character in the prompt and completion text of **every** split of the dataset (a test split may use letters the
training split never shows, e.g. a different test alphabet), plus the alphabets named in the dataset's
``datagen.json``, sorted by code point so the same data always gives the same ids. The tokenizer is a
``tokenizers`` WordLevel model behind a ``Split("", "isolated")`` pre-tokenizer and a ``Fuse`` decoder, so
``AutoTokenizer.from_pretrained`` reloads it from the model folder or the Hub with no custom code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
SPECIALS = (PAD, EOS, UNK)
TEXT_COLUMNS = ("prompt", "completion")


def dataset_charset(dataset_dict, meta: dict | None = None, columns: Iterable[str] = TEXT_COLUMNS) -> list[str]:
    """Every character of ``columns`` in every split of ``dataset_dict``, plus the alphabets in ``meta``."""
    chars: set[str] = set()
    for split in dataset_dict.values():
        present = [c for c in columns if c in split.column_names]
        for batch in split.select_columns(present).iter(batch_size=65_536):
            for column in present:
                chars.update("".join(batch[column]))
    chars.update(_config_alphabets(meta or {}))
    return sorted(chars)


def _config_alphabets(meta: dict) -> set[str]:
    """Characters the generator config says may occur (train and test alphabets, the cipher's image)."""
    cfg = meta.get("config") or {}
    out: set[str] = set()
    for space in (cfg.get("space"), cfg.get("test_space")):
        if isinstance(space, dict):
            out.update(space.get("alphabet") or "")
            out.update(space.get("x_alphabet") or "")
    cipher = meta.get("cipher")
    if isinstance(cipher, dict):
        out.update(cipher.get("image") or "")
    return out


def build_char_tokenizer(chars: Iterable[str], model_max_length: int):
    """A ``PreTrainedTokenizerFast`` with the specials followed by ``chars`` (single characters)."""
    # deferred: tokenizers and transformers (the [train] extra) only when a tokenizer is built
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(chars))
    bad = [c for c in chars if len(c) != 1]
    if bad:
        raise ValueError(f"char-level vocabulary entries must be single characters, got {bad[:3]}")
    vocab = {token: i for i, token in enumerate([*SPECIALS, *chars])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        model_max_length=model_max_length,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )


def mark_portable(folder: str | Path) -> None:
    """Record the saved tokenizer's class as ``PreTrainedTokenizerFast``.

    transformers 5 saves it under its new name ``TokenizersBackend`` (an alias), which transformers 4 cannot
    load; the old name loads in both.
    """
    path = Path(folder) / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") == "TokenizersBackend":
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def unencodable_characters(tokenizer, texts: Iterable[str]) -> list[str]:
    """The characters of ``texts`` that ``tokenizer`` maps to its unknown token, sorted.

    A tokenizer without an unknown token (byte-level BPE, byte fallback) can write anything: none.
    """
    unk = tokenizer.unk_token_id
    if unk is None:
        return []
    chars = sorted(set().union(*(set(t) for t in texts)))
    if not chars:
        return []
    encoded = tokenizer(chars, add_special_tokens=False)["input_ids"]
    return [c for c, ids in zip(chars, encoded, strict=True) if unk in ids or not ids]
