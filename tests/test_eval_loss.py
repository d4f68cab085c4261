"""Held-out loss (issue 23.6): completion-only loss per split as TRL trains it, bootstrap intervals, the unseen - seen
gap, the results file and the model card."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from datasets import Dataset
from evalkit import char_tokenizer, save_model, tiny_gpt2

from eval.loss import encode_rows, evaluate_loss, row_losses, summarize_loss

CHARS = "abcdefghij -> \n"


@pytest.fixture(scope="module")
def tok():
    return char_tokenizer(CHARS)


@pytest.fixture(scope="module")
def model(tok):
    return tiny_gpt2(tok, seed=3)


def reference_nll(model, tok, prompt: str, completion: str) -> tuple[float, int]:
    """From the definition: one row alone, no padding; -log p of each completion character and of EOS, each
    predicted from everything before it."""
    prompt_ids = [tok.convert_tokens_to_ids(c) for c in prompt]
    target = [tok.convert_tokens_to_ids(c) for c in completion] + [tok.eos_token_id]
    ids = torch.tensor([prompt_ids + target])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
    total = sum(-float(logp[len(prompt_ids) + k - 1, t]) for k, t in enumerate(target))
    return total, len(target)


def test_row_losses_match_the_definition_with_padding_and_eos(model, tok):
    prompts = ["ab -> c\n", "abcdefgh -> ij\nabc\n", "j\n"]
    completions = ["cab", "a", "hhhhhhhhh"]
    got = row_losses(model, tok, prompts, completions, batch_size=3)  # one batch: the short rows are padded
    for i, (p, c) in enumerate(zip(prompts, completions)):
        want, n = reference_nll(model, tok, p, c)
        assert got["tokens"][i] == n == len(c) + 1  # the completion's characters and EOS
        assert got["nll"][i] == pytest.approx(want, rel=1e-5)
    alone = row_losses(model, tok, prompts, completions, batch_size=1)
    assert np.allclose(alone["nll"], got["nll"], rtol=1e-5)


def test_a_completion_that_already_ends_with_eos_gets_no_second_one(tok):
    (ids_a, start_a), (ids_b, start_b) = encode_rows(tok, ["ab\n", "ab\n"], ["cd", "cd<eos>"])
    assert ids_a == ids_b and start_a == start_b == 3 and ids_a[-1] == tok.eos_token_id


def test_token_weighted_loss_and_a_bootstrap_interval():
    nll, tokens = np.array([1.0, 4.0, 9.0, 2.0]), np.array([1, 2, 3, 2])
    s, boot = summarize_loss(nll, tokens, resamples=2000, seed=7)
    assert s["loss"] == pytest.approx(16 / 8) and s["perplexity"] == pytest.approx(math.exp(2))
    assert s["loss_ci_low"] < s["loss"] < s["loss_ci_high"]
    assert 1.0 <= s["loss_ci_low"] and s["loss_ci_high"] <= 3.0  # within the rows' own ratios
    assert s["perplexity_ci_low"] == pytest.approx(math.exp(s["loss_ci_low"]), rel=1e-5)
    assert boot.size == 2000 and summarize_loss(nll, tokens, resamples=2000, seed=7)[0] == s
    # each resample's loss is its summed NLL over its summed tokens (rows drawn with replacement)
    picks = np.random.default_rng(7).integers(0, 4, size=(2000, 4))
    assert np.allclose(boot, nll[picks].sum(axis=1) / tokens[picks].sum(axis=1))
    same, _ = summarize_loss(np.full(5, 3.0), np.full(5, 3), resamples=200)
    assert same["loss_ci_low"] == same["loss"] == same["loss_ci_high"] == 1.0


def test_evaluate_loss_per_split_with_clusters_and_the_gap(model, tok):
    seen = Dataset.from_dict({"prompt": ["ab -> c\n"] * 6, "completion": ["cab", "abc", "c", "aa", "b", "cc"],
                              "cluster_id": [0, 0, 1, 1, 1, 0]})
    unseen = Dataset.from_dict({"prompt": ["hij -> g\n"] * 4, "completion": ["gggg", "hg", "ji", "g"],
                                "cluster_id": [5, 5, 7, 7]})
    scores = evaluate_loss(model, tok, {"test_unseen": unseen, "test_seen": seen}, batch_size=4, resamples=300)
    s = scores["splits"]
    for name, ds in (("test_unseen", unseen), ("test_seen", seen)):
        r = row_losses(model, tok, ds["prompt"], ds["completion"])
        assert s[name]["loss"] == pytest.approx(r["nll"].sum() / r["tokens"].sum(), rel=1e-5)
        assert s[name]["tokens"] == int(r["tokens"].sum()) and s[name]["n"] == len(ds)
    assert set(s["test_seen"]["by_cluster"]) == {"0", "1"} and s["test_seen"]["by_cluster"]["0"]["n"] == 3
    gap = scores["gap"]
    assert gap["unseen_minus_seen"] == pytest.approx(s["test_unseen"]["loss"] - s["test_seen"]["loss"], abs=1e-5)
    assert gap["ci_low"] <= gap["unseen_minus_seen"] <= gap["ci_high"]


def test_diveval_loss_writes_results_and_the_model_card(model, tok, tmp_path, monkeypatch):
    from eval.cli import main
    from eval.loss_results import SCHEMA, loss_columns, read_loss_results

    save_model(model, tok, tmp_path / "model")
    data = tmp_path / "data"
    (data / "data").mkdir(parents=True)
    for split, comp in (("test_unseen", ["gg", "hi"]), ("test_seen", ["ab", "c", "ca"])):
        Dataset.from_dict({"prompt": ["ab -> c\n"] * len(comp), "completion": comp}).to_parquet(
            data / "data" / f"{split}-00000-of-00001.parquet")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["loss", "model", "--dataset", "data", "--resamples", "50", "-o", "out.json",
                                    "--push", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "unseen - seen clusters:" in res.output and "wrote out.json" in res.output
    results = read_loss_results(tmp_path / "out.json")
    assert results["schema"] == SCHEMA and set(results["splits"]) == {"test_unseen", "test_seen"}
    assert results["splits"]["test_seen"]["tokens"] == 2 + 1 + 2 + 3  # characters + one EOS per row
    card = (tmp_path / "model" / "README.md").read_text()
    assert "## Held-out loss" in card and f"| data | test_seen | 3 | 8 | {results['splits']['test_seen']['loss']:.4f} |" in card
    row = loss_columns(results, ["test_unseen", "test_seen"])
    assert row["test_seen_loss"] == results["splits"]["test_seen"]["loss"] and "loss_gap" in row
    again = CliRunner().invoke(main, ["loss", "model", "--dataset", "data", "--resamples", "50", "--push", "--quiet"])
    assert again.exit_code == 0 and (tmp_path / "model" / "README.md").read_text().count("| data | test_seen |") == 1
    bad = CliRunner().invoke(main, ["loss", "model", "--dataset", "data", "--splits", "validation"])
    assert bad.exit_code == 2 and "no split 'validation'" in bad.output


def test_loss_entries_go_to_the_model_index_for_hub_data():
    from huggingface_hub import ModelCard

    from cards.eval_card import update_card, update_card_with_loss

    results = {"created": "2026-01-01T00:00:00+00:00", "model": {"name": "m", "revision": None},
               "dataset": {"name": "org/pool", "source": "hub", "repo_id": "org/pool", "revision": "v1.0.0"},
               "settings": {"confidence": 0.95},
               "splits": {"test_unseen": {"n": 4, "tokens": 20, "loss": 1.5, "loss_ci_low": 1.2, "loss_ci_high": 1.9,
                                          "perplexity": math.exp(1.5)}}}
    card = update_card_with_loss(ModelCard("---\n{}\n---\n# m\n"), results)
    entries = {(e.dataset_split, e.metric_type): e.metric_value for e in card.data.eval_results}
    assert entries == {("test_unseen", "loss"): 1.5, ("test_unseen", "perplexity"): pytest.approx(math.exp(1.5))}
    # an exact-match evaluation of the same split keeps the loss entries (other metric types)
    em = {"created": "2026-01-01T00:00:00+00:00", "model": {"name": "m"}, "decode": {"confidence": 0.95},
          "dataset": {"name": "org/pool", "source": "hub", "repo_id": "org/pool", "revision": "v1.0.0"},
          "splits": {"test_unseen": {"n": 4, "correct": 1, "accuracy": 0.25, "ci_low": 0.05, "ci_high": 0.7,
                                     "by_kind": {}}}}
    card = update_card(card, em)
    assert {e.metric_type for e in card.data.eval_results} == {"loss", "perplexity", "exact_match"}
    assert json.dumps(card.data.to_dict()).count('"loss"') >= 1
