"""The deferred-metric SFTTrainer computes the same loss and logs the same metrics as TRL's, without host syncs."""

from __future__ import annotations

import pytest

pytest.importorskip("trl")


@pytest.fixture
def trainer(tiny_dataset, tmp_path):
    import trl

    from publishing.loading import resolve_splits
    from training.model import build_gpt2
    from training.tokenizer import build_char_tokenizer, dataset_charset
    from training.trainer import SFTTrainer

    splits, resolved = resolve_splits(str(tiny_dataset))
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


def test_the_fast_path_is_on_with_the_trl_it_was_checked_against(trainer):
    import trl
    from packaging.version import Version

    if Version(trl.__version__).release[:2] != (1, 16):
        pytest.skip(f"the fast path was checked against TRL 1.16; this is {trl.__version__}")
    assert trainer.fast_path_reason is None


@pytest.fixture
def other_trl(monkeypatch):
    """A TRL whose SFTTrainer keeps its metrics elsewhere: no ``_metrics`` / ``_total_train_tokens``, its own
    loss and log (here transformers' ``Trainer.compute_loss`` and ``Trainer.log``), as a later TRL might."""
    import transformers
    import trl

    real_init = trl.SFTTrainer.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self._metrics_v2, self._train_tokens = self.__dict__.pop("_metrics"), self.__dict__.pop("_total_train_tokens")

    monkeypatch.setattr(trl.SFTTrainer, "__init__", init)
    monkeypatch.setattr(trl.SFTTrainer, "compute_loss", transformers.Trainer.compute_loss)
    monkeypatch.setattr(trl.SFTTrainer, "log", transformers.Trainer.log)


def test_a_trl_with_other_internals_trains_through_its_own_loss(other_trl, trainer):
    import torch
    import transformers

    assert trainer.fast_path_reason == "SFTTrainer._metrics is not a {'train', 'eval'} mapping"
    trainer.model.train()
    (batch,) = _batches(trainer, 1)
    ours = trainer.compute_loss(trainer.model, dict(batch))
    torch.testing.assert_close(ours, transformers.Trainer.compute_loss(trainer, trainer.model, dict(batch)))
    assert not trainer._pending["train"]
    trainer.args.max_steps, trainer.args.logging_steps = 3, 1
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(loss > 0 for loss in losses)


def test_fused_outputs_without_the_expected_fields_fall_back(monkeypatch, trainer):
    import torch
    import transformers
    import trl

    monkeypatch.setattr(trl.SFTTrainer, "compute_loss", transformers.Trainer.compute_loss)  # that TRL's own loss
    model = trainer.model
    forward = model.forward

    def renamed(*args, **kwargs):  # a fused head whose outputs carry other names
        out = forward(*args, **kwargs)
        if kwargs.get("fused_lm_head"):
            out.token_log_probs, out.log_probs = out.log_probs, None
        return out

    monkeypatch.setattr(model, "forward", renamed)
    model.train()
    (batch,) = _batches(trainer, 1)
    loss = trainer.compute_loss(model, dict(batch))
    assert trainer.fast_path_reason == "the fused LM head's outputs lack log_probs"
    torch.testing.assert_close(loss, transformers.Trainer.compute_loss(trainer, model, dict(batch)))
    assert not trainer._pending["train"]
