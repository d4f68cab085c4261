"""The deferred-metric SFTTrainer computes the same loss and logs the same metrics as TRL's, without host syncs."""

from __future__ import annotations

import pytest

pytest.importorskip("trl")


@pytest.fixture
def trainer(tiny_dataset, tmp_path):
    import trl

    from cards.resolve import load_splits
    from training.model import build_gpt2
    from training.tokenizer import build_char_tokenizer, dataset_charset
    from training.trainer import SFTTrainer

    splits, resolved = load_splits(str(tiny_dataset))
    tok = build_char_tokenizer(dataset_charset(splits, resolved.meta), model_max_length=64)
    model = build_gpt2(tok, n_layer=1, n_embd=32, n_head=2, n_positions=64, dropout=0.0, seed=0)
    args = trl.SFTConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, activation_checkpointing=False,
        per_device_train_batch_size=8, report_to="none", max_length=64,
    )  # fmt: skip
    train = splits["train"].select_columns(["prompt", "completion"])
    return SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tok)


def _batches(trainer, n):
    it = iter(trainer.get_train_dataloader())
    return [next(it) for _ in range(n)]


def test_same_loss_and_metrics_as_trl(trainer):
    import torch
    import trl

    trainer.model.train()
    batches = _batches(trainer, 2)
    ours = [trainer.compute_loss(trainer.model, dict(b)) for b in batches]
    assert len(trainer._pending["train"]) == 2 and not trainer._metrics["train"]  # nothing synced yet
    trainer._flush_metrics("train")
    mine = {k: list(v) for k, v in trainer._metrics["train"].items()}
    tokens_mine = trainer._total_train_tokens

    trainer._metrics["train"].clear()
    trainer._total_train_tokens = 0
    theirs = [trl.SFTTrainer.compute_loss(trainer, trainer.model, dict(b)) for b in batches]
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)
    assert mine["entropy"] == pytest.approx(trainer._metrics["train"]["entropy"])
    assert mine["mean_token_accuracy"] == pytest.approx(trainer._metrics["train"]["mean_token_accuracy"])
    assert tokens_mine == trainer._total_train_tokens == sum(int(b["attention_mask"].sum()) for b in batches)
    assert mine["num_tokens"] == [tokens_mine]


def test_an_evaluation_log_counts_the_training_tokens_so_far(trainer):
    trainer.model.train()
    batches = _batches(trainer, 2)
    for b in batches:
        trainer.compute_loss(trainer.model, dict(b))
    trainer.model.eval()
    trainer.compute_loss(trainer.model, dict(batches[0]))
    trainer.log({"eval_loss": 1.0})  # an evaluation between two training logs
    logged = trainer.state.log_history[-1]
    assert logged["eval_num_tokens"] == sum(int(b["attention_mask"].sum()) for b in batches)
    assert "eval_entropy" in logged and len(trainer._metrics["train"]["entropy"]) == 2  # kept for the next log


def test_same_gradients_as_trl(trainer):
    import torch
    import trl

    trainer.model.train()
    (batch,) = _batches(trainer, 1)
    grads = []
    for fn in (trainer.compute_loss, lambda m, x: trl.SFTTrainer.compute_loss(trainer, m, x)):
        trainer.model.zero_grad()
        fn(trainer.model, dict(batch)).backward()
        grads.append([p.grad.clone() for p in trainer.model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_other_losses_fall_back_to_trl(trainer):
    trainer.model.train()
    trainer.args.loss_type = "dft"
    (batch,) = _batches(trainer, 1)
    loss = trainer.compute_loss(trainer.model, dict(batch))
    assert loss.ndim == 0 and not trainer._pending["train"]
    assert len(trainer._metrics["train"]["entropy"]) == 1  # TRL's own bookkeeping ran
