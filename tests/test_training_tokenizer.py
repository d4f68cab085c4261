"""The char-level tokenizer: vocabulary from every split, stable ids, and a standard reloadable tokenizer."""

from __future__ import annotations

import json

import pytest

datasets = pytest.importorskip("datasets")
pytest.importorskip("transformers")

from training.tokenizer import EOS, PAD, SPECIALS, UNK, build_char_tokenizer, dataset_charset, mark_portable  # noqa: E402


def _splits():
    return datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"prompt": ["ab -> c\nabab\n"], "completion": ["cab"], "x": ["Q"]}),
            "test_unseen": datasets.Dataset.from_dict({"prompt": ["zz -> y\nzzq\n"], "completion": ["yq"]}),
        }
    )


def test_charset_covers_every_split_and_config_alphabets():
    meta = {"config": {"space": {"alphabet": "abc"}, "test_space": {"alphabet": "wxyz"}}, "cipher": {"image": "M"}}
    chars = dataset_charset(_splits(), meta)
    assert {"z", "q", "y"} <= set(chars)  # only in the test split
    assert {"w", "x", "M"} <= set(chars)  # only in the config
    assert {"\n", " ", "-", ">"} <= set(chars)  # separators of the prompt template
    assert "Q" not in chars  # other columns are not read
    assert chars == sorted(chars)


def test_tokenizer_ids_are_stable_and_specials_first():
    tok = build_char_tokenizer(["b", "a", "\n"], model_max_length=32)
    assert [tok.convert_ids_to_tokens(i) for i in range(3)] == list(SPECIALS)
    assert (tok.pad_token, tok.eos_token, tok.unk_token) == (PAD, EOS, UNK)
    assert tok("a\nb")["input_ids"] == [4, 3, 5]  # specials 0-2, then "\n" < "a" < "b"
    assert tok("ab" + EOS)["input_ids"] == [4, 5, tok.eos_token_id]  # EOS appended by TRL is one token
    assert tok("az")["input_ids"] == [4, tok.unk_token_id]
    assert tok.decode(tok("a\nb")["input_ids"]) == "a\nb"  # no spaces inserted between characters


def test_rejects_multi_character_entries():
    with pytest.raises(ValueError, match="single characters"):
        build_char_tokenizer(["ab"], model_max_length=8)


def test_saved_tokenizer_reloads_with_auto_classes(tmp_path):
    from transformers import AutoTokenizer

    chars = dataset_charset(_splits())
    tok = build_char_tokenizer(chars, model_max_length=64)
    tok.save_pretrained(tmp_path)
    mark_portable(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = "zz -> y\nzzq\nyq"
    assert again(text)["input_ids"] == tok(text)["input_ids"]
    assert again.decode(again(text)["input_ids"]) == text
    assert again.model_max_length == 64
    assert again.eos_token == EOS and again.pad_token == PAD
